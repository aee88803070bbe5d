//! Firehose's built-in processors through the real daemon, fed by boto3:
//! decompression, CloudWatch Logs message extraction, de-aggregation, metadata
//! extraction (jq partition keys), the record delimiter, their order, and what
//! `sluice check` and DescribeDeliveryStream say of them.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Daemon, eventually, objects, py_json, wait_for_objects};

fn put_b64(d: &Daemon, stream: &str, records: &[&str]) -> serde_json::Value {
    let encoded: Vec<String> = records.iter().map(|r| B64.encode(r)).collect();
    let records = serde_json::to_string(&encoded).unwrap();
    py_json(
        "firehose_client.py",
        &[&d.url(), "put-batch-b64", stream, &records],
    )
}

/// `sluice check` on the config at `path`.
fn check(path: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

/// What `sluice check` says accepting the daemon's config.
fn accepted(d: &Daemon) -> String {
    let checked = check(&d.path("sluice.toml"));
    let (said, why) = (
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr),
    );
    assert!(checked.status.success(), "{said}{why}");
    said.into_owned()
}

/// What `sluice check` says refusing one stream `s` with these processors and
/// destination fields (written to `dir/c.toml`).
fn refused(dir: &std::path::Path, processors: &str, destination: &str) -> String {
    let config = format!(
        "[[delivery_streams]]\nname = \"s\"\nprocessors = [{processors}]\n\
         destination = {{ type = \"local\", path = \"{}/out\"{destination} }}\n",
        dir.display()
    );
    let path = dir.join("c.toml");
    std::fs::write(&path, config).unwrap();
    let out = check(&path);
    assert!(!out.status.success(), "accepted {processors} {destination}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn put_bytes(d: &Daemon, stream: &str, records: &[Vec<u8>]) -> serde_json::Value {
    let encoded: Vec<String> = records.iter().map(|r| B64.encode(r)).collect();
    let records = serde_json::to_string(&encoded).unwrap();
    py_json(
        "firehose_client.py",
        &[&d.url(), "put-batch-b64", stream, &records],
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A CloudWatch Logs subscription message, as CloudWatch Logs sends it (gzip).
fn cloudwatch(message_type: &str, messages: &[&str]) -> Vec<u8> {
    let events: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({ "id": i.to_string(), "timestamp": 1_700_000_000_000i64 + i as i64, "message": m }))
        .collect();
    let message = serde_json::json!({
        "messageType": message_type, "owner": "123456789012", "logGroup": "/app/orders",
        "logStream": "i-0abc", "subscriptionFilters": ["to-sluice"], "logEvents": events,
    });
    gzip(message.to_string().as_bytes())
}

/// The error records under `prefix`, in the order written.
fn error_records(found: &[(String, Vec<u8>)], prefix: &str) -> Vec<serde_json::Value> {
    found
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .flat_map(|(_, body)| {
            String::from_utf8_lossy(body)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The whole chain of the processors issue, listed out of order, on CloudWatch
/// Logs payloads sent with boto3: each log event's message is de-aggregated
/// into its JSON sub-records, passes the plugin, is partitioned by a jq key and
/// delimited. A control message leaves nothing; a record that is not gzip, a
/// bomb past the cap and gzip that is not CloudWatch Logs go to the error
/// output with their data as received.
#[test]
fn cloudwatch_logs_payloads_through_the_whole_chain() {
    let plugin = common::plugins().join("c-noop.wasm");
    let config = format!(
        r#"
[server]
listen = "{{listen}}"
max_decoded_body_mb = 1

[[delivery_streams]]
name = "cwl"
buffering = {{ size_mb = 1, interval_seconds = 1 }}
processors = [
  {{ type = "append_delimiter" }},
  {{ type = "metadata_extraction", query = '{{customer: .customer}}' }},
  {{ type = "wasm", module = "{}" }},
  {{ type = "deaggregation", sub_record_type = "json" }},
  {{ type = "cloudwatch_logs", data_message_extraction = true }},
  {{ type = "decompression", format = "gzip" }},
]
destination = {{ type = "local", path = "{{dir}}/out",
                prefix = "customer=!{{partitionKeyFromQuery:customer}}/",
                error_output_prefix = "errors/!{{firehose:error-output-type}}/" }}
"#,
        plugin.display()
    );
    let d = Daemon::start(&config);
    let said = accepted(&d);
    assert!(
        said.contains("they run in Firehose's order: Decompression → CloudWatchLogProcessing → RecordDeAggregation → Lambda → MetadataExtraction → AppendDelimiterToRecord"),
        "{said}"
    );
    let bomb = gzip(&vec![b' '; 8 << 20]);
    let not_cloudwatch = gzip(br#"{"customer":"x"}"#);
    let records = vec![
        cloudwatch(
            "DATA_MESSAGE",
            &[
                r#"{"customer":"a","n":1}{"customer":"b","n":2}"#,
                r#"{"customer":"a","n":3}"#,
            ],
        ),
        cloudwatch(
            "CONTROL_MESSAGE",
            &["CWL CONTROL MESSAGE: Checking health of destination Firehose."],
        ),
        b"plain text, not gzip".to_vec(),
        bomb.clone(),
        not_cloudwatch.clone(),
        cloudwatch("DATA_MESSAGE", &[r#"{"customer":"b","n":4}"#]),
    ];
    let answer = put_bytes(&d, "cwl", &records);
    assert_eq!(answer["FailedPutCount"], 0, "{answer}");
    let found = wait_for_objects(&d, &d.path("out"), 4, Duration::from_secs(30));
    let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    let body = |prefix: &str| -> String {
        found
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    };
    assert_eq!(
        body("customer=a/cwl-1-"),
        "{\"customer\":\"a\",\"n\":1}\n{\"customer\":\"a\",\"n\":3}\n",
        "{keys:?}"
    );
    assert_eq!(
        body("customer=b/cwl-1-"),
        "{\"customer\":\"b\",\"n\":2}\n{\"customer\":\"b\",\"n\":4}\n",
        "{keys:?}"
    );
    let failed = error_records(&found, "errors/decompression-failed/");
    assert_eq!(failed.len(), 2, "{failed:?}");
    let raw = |e: &serde_json::Value| B64.decode(e["rawData"].as_str().unwrap()).unwrap();
    assert_eq!(raw(&failed[0]), records[2]);
    assert_eq!(failed[0]["errorCode"], "Decompression.Failed");
    assert_eq!(raw(&failed[1]), bomb);
    assert!(
        failed[1]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("cap of 1048576 bytes"),
        "{failed:?}"
    );
    let invalid = error_records(&found, "errors/processing-failed/");
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    // As received, compressed: as Firehose writes records that fail after decompression.
    assert_eq!(raw(&invalid[0]), not_cloudwatch);
    assert_eq!(
        invalid[0]["errorCode"],
        "CloudWatchLogProcessing.InvalidSource"
    );

    let desc = py_json("firehose_client.py", &[&d.url(), "describe", "cwl"]);
    let processors = &desc["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
        ["ProcessingConfiguration"]["Processors"];
    let shown: Vec<(&str, Vec<(&str, &str)>)> = processors
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let params = p["Parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| {
                    (
                        q["ParameterName"].as_str().unwrap(),
                        q["ParameterValue"].as_str().unwrap(),
                    )
                })
                .collect();
            (p["Type"].as_str().unwrap(), params)
        })
        .collect();
    assert_eq!(
        shown[3],
        ("RecordDeAggregation", vec![("SubRecordType", "JSON")]),
        "{desc}"
    );
    assert_eq!(
        shown[4],
        (
            "CloudWatchLogProcessing",
            vec![("DataMessageExtraction", "true")]
        )
    );
    assert_eq!(
        shown[5],
        ("Decompression", vec![("CompressionFormat", "GZIP")])
    );
}

/// Delimited de-aggregation, and Firehose's quirk: a record of more than 500
/// sub-records is passed whole.
#[test]
fn delimited_sub_records_and_the_500_quirk() {
    let d = Daemon::start(
        "[server]\nlisten = \"{listen}\"\n\n[[delivery_streams]]\nname = \"agg\"\n\
         buffering = { size_mb = 1, interval_seconds = 1 }\n\
         processors = [{ type = \"deaggregation\", sub_record_type = \"delimited\", delimiter = \"####\" }, { type = \"append_delimiter\" }]\n\
         destination = { type = \"local\", path = \"{dir}/out\" }\n",
    );
    let many = "x####".repeat(501);
    let answer = put_b64(&d, "agg", &["a####bb####", &many, "c"]);
    assert_eq!(answer["FailedPutCount"], 0, "{answer}");
    let found = wait_for_objects(&d, &d.path("out"), 1, Duration::from_secs(20));
    let all: String = found
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(all, format!("a\nbb\n{many}\nc\n"));
    let desc = py_json("firehose_client.py", &[&d.url(), "describe", "agg"]);
    let processor = &desc["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
        ["ProcessingConfiguration"]["Processors"][0];
    assert_eq!(processor["Parameters"][1]["ParameterName"], "Delimiter");
    assert_eq!(
        processor["Parameters"][1]["ParameterValue"], "IyMjIw==",
        "{desc}"
    );
}

/// What a batch's records unpack to is bounded by the cap: the records past it
/// are answered as throttled, one by one, and land once when sent again, as an
/// SDK user's retry loop sends them.
#[test]
fn records_past_the_unpacking_cap_are_throttled_and_land_when_sent_again() {
    let d = Daemon::start(
        "[server]\nlisten = \"{listen}\"\nmax_decoded_body_mb = 1\n\n[[delivery_streams]]\nname = \"big\"\n\
         buffering = { size_mb = 8, interval_seconds = 1 }\n\
         processors = [{ type = \"decompression\" }, { type = \"append_delimiter\" }]\n\
         destination = { type = \"local\", path = \"{dir}/out\" }\n",
    );
    // Each inflates to 400,000 bytes: two fit in 1 MiB, the others wait.
    let records: Vec<Vec<u8>> = (0..5u8).map(|i| gzip(&vec![b'a' + i; 400_000])).collect();
    let mut pending: Vec<Vec<u8>> = records.clone();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds <= 5, "records still refused after 5 rounds");
        let answer = put_bytes(&d, "big", &pending);
        let responses = answer["RequestResponses"].as_array().unwrap();
        let failed: Vec<Vec<u8>> = pending
            .iter()
            .zip(responses)
            .filter(|(_, r)| r.get("ErrorCode").is_some())
            .map(|(p, r)| {
                assert_eq!(r["ErrorCode"], "ServiceUnavailableException", "{answer}");
                p.clone()
            })
            .collect();
        assert_eq!(answer["FailedPutCount"], failed.len(), "{answer}");
        if rounds == 1 {
            assert_eq!(failed.len(), 3, "{answer}");
        }
        pending = failed;
    }
    let read_lines = |found: &[(String, Vec<u8>)]| -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = found
            .iter()
            .flat_map(|(_, body)| body.split(|&b| b == b'\n').filter(|l| !l.is_empty()))
            .map(<[u8]>::to_vec)
            .collect();
        lines.sort();
        lines
    };
    let lines = eventually(
        Duration::from_secs(20),
        || format!("5 lines delivered:\n{}", d.log()),
        || Some(read_lines(&objects(&d.path("out")))).filter(|lines| lines.len() >= 5),
    );
    let want: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'a' + i; 400_000]).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines == want, "each record must land exactly once");
}

const DOCUMENTED: &str = r#"
[server]
listen = "{listen}"

[[delivery_streams]]
name = "orders"
buffering = { size_mb = 1, interval_seconds = 1 }
processors = [
  { type = "append_delimiter" },
  { type = "metadata_extraction", query = '{"customer_id":.customer_id,"year":.event_timestamp|strftime("%Y")}' },
]
destination = { type = "local", path = "{dir}/out",
                prefix = "customer_id=!{partitionKeyFromQuery:customer_id}/year=!{partitionKeyFromQuery:year}/",
                error_output_prefix = "errors/!{firehose:error-output-type}/" }
"#;

/// Firehose's documented example (contract §6.1): the JQ keys make the prefix,
/// records get a newline, and records whose keys cannot be had go to the error
/// output as `DynamicPartitioning.MetadataExtractionFailed` with their raw data.
#[test]
fn jq_keys_choose_the_prefix_and_records_get_a_delimiter() {
    let d = Daemon::start(DOCUMENTED);
    let records = [
        r#"{"customer_id":"1234567890","event_timestamp":1565382027,"n":1}"#,
        r#"{"customer_id":"1234567890","event_timestamp":1565382028,"n":2}"#,
        r#"{"customer_id":"42","event_timestamp":1704067200,"n":3}"#,
        "not json at all",
        r#"{"event_timestamp":1565382027,"n":5}"#,
    ];
    let answer = put_b64(&d, "orders", &records);
    assert_eq!(answer["FailedPutCount"], 0, "{answer}");
    let found = wait_for_objects(&d, &d.path("out"), 3, Duration::from_secs(20));
    let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    let with = |prefix: &str| {
        found
            .iter()
            .find(|(k, _)| k.starts_with(prefix))
            .unwrap_or_else(|| panic!("no object under {prefix}: {keys:?}"))
    };
    let (key, body) = with("customer_id=1234567890/year=2019/orders-1-");
    assert_eq!(
        String::from_utf8_lossy(body),
        format!("{}\n{}\n", records[0], records[1]),
        "{key}"
    );
    let (_, body) = with("customer_id=42/year=2024/orders-1-");
    assert_eq!(String::from_utf8_lossy(body), format!("{}\n", records[2]));
    let (_, body) = with("errors/processing-failed/");
    let errors: Vec<serde_json::Value> = String::from_utf8_lossy(body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (e, raw) in errors.iter().zip([records[3], records[4]]) {
        assert_eq!(
            e["errorCode"],
            "DynamicPartitioning.MetadataExtractionFailed"
        );
        assert_eq!(
            B64.decode(e["rawData"].as_str().unwrap()).unwrap(),
            raw.as_bytes()
        );
    }
    assert!(
        errors[0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Non JSON record provided")
    );
    assert!(
        errors[1]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("`customer_id` is null")
    );
    assert_eq!(found.len(), 3, "{keys:?}");
}

/// Query keys and plugin keys fill one prefix; `check` notes the run order; the
/// processors show in DescribeDeliveryStream as Firehose's.
#[test]
fn jq_keys_combine_with_plugin_keys_and_show_as_firehose_processors() {
    let plugin = common::plugins().join("py-partition.wasm");
    let config = format!(
        r#"
[server]
listen = "{{listen}}"

[[delivery_streams]]
name = "mixed"
buffering = {{ size_mb = 1, interval_seconds = 1 }}
processors = [
  {{ type = "metadata_extraction", query = '{{region: .region}}' }},
  {{ type = "wasm", module = "{}", params = {{ fields = "tenant" }} }},
]
destination = {{ type = "local", path = "{{dir}}/out",
                prefix = "r=!{{partitionKeyFromQuery:region}}/t=!{{partitionKeyFromLambda:tenant}}/",
                error_output_prefix = "errors/!{{firehose:error-output-type}}/" }}
"#,
        plugin.display()
    );
    let d = Daemon::start(&config);
    let said = accepted(&d);
    assert!(
        said.contains("they run in Firehose's order: Lambda → MetadataExtraction"),
        "{said}"
    );
    let answer = put_b64(
        &d,
        "mixed",
        &[
            r#"{"region":"eu","tenant":"a"}"#,
            r#"{"region":"us","tenant":"b"}"#,
        ],
    );
    assert_eq!(answer["FailedPutCount"], 0, "{answer}");
    let found = wait_for_objects(&d, &d.path("out"), 2, Duration::from_secs(30));
    let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        keys.iter().any(|k| k.starts_with("r=eu/t=a/mixed-1-")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.starts_with("r=us/t=b/mixed-1-")),
        "{keys:?}"
    );

    let desc = py_json("firehose_client.py", &[&d.url(), "describe", "mixed"]);
    let processors = &desc["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
        ["ProcessingConfiguration"]["Processors"];
    assert_eq!(processors[0]["Type"], "MetadataExtraction", "{desc}");
    assert_eq!(
        processors[0]["Parameters"][0]["ParameterName"],
        "MetadataExtractionQuery"
    );
    assert_eq!(
        processors[0]["Parameters"][0]["ParameterValue"],
        "{region: .region}"
    );
    assert_eq!(processors[0]["Parameters"][1]["ParameterValue"], "JQ-1.6");
    assert_eq!(processors[1]["Type"], "Lambda", "{desc}");
}

/// `sluice check` refuses a query that does not compile, a prefix key the query
/// does not make, and a query key the prefix leaves out, naming each.
#[test]
fn check_refuses_bad_queries_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let check = |processors: &str, prefix: &str| {
        let destination = format!(
            ", prefix = \"{prefix}\", error_output_prefix = \"e/!{{firehose:error-output-type}}/\""
        );
        refused(dir.path(), processors, &destination)
    };
    let said = check(
        r#"{ type = "metadata_extraction", query = '{y: .ts | strftme("%Y")}' }"#,
        "y=!{partitionKeyFromQuery:y}/",
    );
    assert!(
        said.contains("processors[0].query") && said.contains("strftme"),
        "{said}"
    );
    let said = check(
        r#"{ type = "metadata_extraction", query = '{y: .y}' }"#,
        "y=!{partitionKeyFromQuery:y}/c=!{partitionKeyFromQuery:customer}/",
    );
    assert!(said.contains("no key `customer`"), "{said}");
    let said = check(
        r#"{ type = "metadata_extraction", query = '{y: .y, m: .m}' }"#,
        "y=!{partitionKeyFromQuery:y}/",
    );
    assert!(said.contains("partitionKeyFromQuery:m"), "{said}");
    let said = check("", "y=!{partitionKeyFromQuery:y}/");
    assert!(said.contains("metadata_extraction"), "{said}");
    assert!(objects(dir.path()).iter().all(|(k, _)| k == "c.toml"));
}

/// `sluice check` refuses unpacking processors it cannot run, naming the key.
#[test]
fn check_refuses_unpacking_processors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (processors, key, why) in [
        (
            r#"{ type = "cloudwatch_logs", data_message_extraction = false }"#,
            "processors[0].data_message_extraction",
            "must be true",
        ),
        (
            r#"{ type = "deaggregation", sub_record_type = "delimited" }"#,
            "processors[0].delimiter",
            "is required",
        ),
        (
            r#"{ type = "deaggregation", sub_record_type = "json", delimiter = "," }"#,
            "processors[0].delimiter",
            "applies only",
        ),
        (
            r#"{ type = "decompression" }, { type = "decompression" }"#,
            "processors[1].type",
            "one decompression",
        ),
        (
            r#"{ type = "decompression", format = "zstd" }"#,
            "processors[0]",
            "unknown variant `zstd`, expected `gzip`",
        ),
    ] {
        let said = refused(dir.path(), processors, "");
        assert!(
            said.contains(key) && said.contains(why),
            "{processors}: {said}"
        );
    }
}

/// Firehose's `CustomTimeZone`: the default `yyyy/MM/dd/HH/` layout and the
/// object name take the zone's wall time; an unknown zone is refused.
#[test]
fn time_zone_sets_the_time_in_keys() {
    let d = Daemon::start(
        "[server]\nlisten = \"{listen}\"\n\n[[delivery_streams]]\nname = \"tz\"\n\
         buffering = { size_mb = 1, interval_seconds = 1 }\n\
         destination = { type = \"local\", path = \"{dir}/out\", time_zone = \"Asia/Tokyo\" }\n",
    );
    let before = chrono::Utc::now() + chrono::Duration::hours(9);
    let answer = put_b64(&d, "tz", &["one\n"]);
    assert_eq!(answer["FailedPutCount"], 0, "{answer}");
    let found = wait_for_objects(&d, &d.path("out"), 1, Duration::from_secs(20));
    let after = chrono::Utc::now() + chrono::Duration::hours(9);
    let key = &found[0].0;
    let expected = |t: chrono::DateTime<chrono::Utc>| {
        format!(
            "{}tz-1-{}",
            t.format("%Y/%m/%d/%H/"),
            t.format("%Y-%m-%d-%H-%M")
        )
    };
    assert!(
        key.starts_with(&expected(before)) || key.starts_with(&expected(after)),
        "{key} is not in Tokyo time ({} .. {})",
        expected(before),
        expected(after)
    );
    let desc = py_json("firehose_client.py", &[&d.url(), "describe", "tz"]);
    assert_eq!(
        desc["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]["CustomTimeZone"],
        "Asia/Tokyo"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[[delivery_streams]]\nname = \"s\"\ndestination = { type = \"local\", path = \"out\", time_zone = \"Asia/Tokio\" }\n",
    )
    .unwrap();
    let out = check(&path);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && said.contains("destination.time_zone")
            && said.contains("Asia/Tokio"),
        "{said}"
    );
}
