//! Firehose's built-in processors through the real daemon, fed by boto3:
//! metadata extraction (jq partition keys), the record delimiter, their order,
//! and what `sluice check` and DescribeDeliveryStream say of them.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Daemon, objects, py_json, wait_for_objects};

fn put_b64(d: &Daemon, stream: &str, records: &[&str]) -> serde_json::Value {
    let encoded: Vec<String> = records.iter().map(|r| B64.encode(r)).collect();
    let records = serde_json::to_string(&encoded).unwrap();
    py_json(
        "firehose_client.py",
        &[&d.url(), "put-batch-b64", stream, &records],
    )
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
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(d.path("sluice.toml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
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
        let config = format!(
            "[[delivery_streams]]\nname = \"s\"\nprocessors = [{processors}]\n\
             destination = {{ type = \"local\", path = \"{}/out\", prefix = \"{prefix}\", \
             error_output_prefix = \"e/!{{firehose:error-output-type}}/\" }}\n",
            dir.path().display()
        );
        let path = dir.path().join("c.toml");
        std::fs::write(&path, config).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "accepted {processors} {prefix}");
        String::from_utf8_lossy(&out.stderr).into_owned()
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
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && said.contains("destination.time_zone")
            && said.contains("Asia/Tokio"),
        "{said}"
    );
}
