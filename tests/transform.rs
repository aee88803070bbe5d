//! WASM transform plugins through the real daemon: the example plugins (C, JavaScript,
//! Python) built by the test setup, and a test plugin that breaks every rule on
//! request (`tests/plugins/misbehave.c`). Each record's fate is checked by content:
//! what was delivered, what reached the error output and with which error.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{Value, json};

/// A stream `t` taking direct puts into `{dir}/out` under `prefix`, through the
/// processor `plugin`.
fn stream(plugin: Table, prefix: &str) -> Stream {
    Stream::new("t")
        .processor(plugin)
        .at_once()
        .set("destination.prefix", prefix)
        .errors_by_type()
}

/// [`stream`], alone in the file.
fn config(plugin: Table, prefix: &str) -> String {
    Conf::new().stream(stream(plugin, prefix)).text()
}

/// The processor running the test plugin `name`, with `settings`.
fn wasm(name: &str, settings: Table) -> Table {
    let mut processor = table([("type", "wasm".into()), ("module", plugin(name).into())]);
    processor.extend(settings);
    processor
}

#[test]
fn the_c_plugin_drops_records_by_predicate() {
    let processors = wasm("c-drop", toml! { params = { contains = "DEBUG" } });
    let mut daemon = Daemon::start(&config(processors, ""));
    let records: Vec<String> = (0..300)
        .map(|i| {
            let level = if i % 3 == 0 { "DEBUG" } else { "INFO" };
            format!("{level} event {i}\n")
        })
        .collect();
    assert!(put_batch(daemon.addr, "t", &records), "{}", daemon.log());
    let kept: Vec<String> = records
        .iter()
        .filter(|r| !r.contains("DEBUG"))
        .cloned()
        .collect();
    assert_delivered_once(&daemon, &kept);
    assert_eq!(
        metric(
            &daemon,
            "sluice_processing_records_total{stream=\"t\",result=\"dropped\"}"
        ),
        Some(100.0)
    );
    assert_eq!(
        metric(
            &daemon,
            "sluice_processing_records_total{stream=\"t\",result=\"ok\"}"
        ),
        Some(200.0)
    );
    assert!(daemon.stop().success());
    // Dropped records leave no trace.
    assert!(error_records(&daemon, "processing-failed").is_empty());
    let log = daemon.log();
    assert!(
        log.contains("dropping records that contain the text"),
        "{log}"
    );
}

#[test]
fn the_javascript_plugin_enriches_redacts_and_fails_what_is_not_json() {
    let processors = wasm(
        "js-enrich",
        toml! { params = { "add.env" = "prod", redact = "password,card.number" } },
    );
    let mut daemon = Daemon::start(&config(processors, ""));
    let records = vec![
        "{\"user\":\"ann\",\"password\":\"hunter2\",\"card\":{\"number\":\"4111\",\"exp\":\"12/29\"}}\n".to_string(),
        "{\"user\":\"bob\"}\n".to_string(),
        "not json at all\n".to_string(),
    ];
    assert!(put_batch(daemon.addr, "t", &records), "{}", daemon.log());
    let failed = wait_for_errors(&daemon, "processing-failed", 1);
    let delivered = wait_for_objects(&daemon, &daemon.path("out"), 2, Duration::from_secs(30));
    let described = py_json("firehose_client.py", &[&daemon.url(), "describe", "t"]);
    let processing = &described["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
        ["ProcessingConfiguration"];
    assert_eq!(processing["Enabled"], true, "{described}");
    assert_eq!(processing["Processors"][0]["Type"], "Lambda");
    assert_eq!(
        processing["Processors"][0]["Parameters"][0],
        json!({ "ParameterName": "LambdaArn", "ParameterValue": plugin("js-enrich") })
    );
    assert!(daemon.stop().success());
    let lines: Vec<Value> = delivered
        .iter()
        .filter(|(k, _)| !k.starts_with("errors/"))
        .flat_map(|(_, b)| {
            String::from_utf8_lossy(b)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut users: Vec<&Value> = lines.iter().collect();
    users.sort_by_key(|v| v["user"].as_str().unwrap().to_string());
    assert_eq!(users.len(), 2, "{lines:?}");
    assert_eq!(users[0]["password"], "[REDACTED]");
    assert_eq!(
        users[0]["card"],
        json!({ "number": "[REDACTED]", "exp": "12/29" })
    );
    assert_eq!(users[0]["env"], "prod");
    assert_eq!(users[1]["env"], "prod");
    let arrival = users[1]["_arrival_ms"].as_i64().unwrap();
    assert!(arrival > 1_700_000_000_000, "{arrival}");
    assert!(
        users[1].get("_kinesis").is_none(),
        "no Kinesis metadata for direct puts"
    );

    assert_eq!(failed.len(), 1);
    let f = &failed[0];
    assert_eq!(raw(f), "not json at all\n");
    assert_eq!(f["errorCode"], "Lambda.ProcessingFailedStatus");
    assert!(
        f["errorMessage"].as_str().unwrap().starts_with("not JSON"),
        "{f}"
    );
    assert_eq!(f["attemptsMade"], 1);
    assert_eq!(f["lambdaArn"], plugin("js-enrich"));
    // Firehose's field order, as written.
    let text = objects(&daemon.path("out"))
        .into_iter()
        .find(|(k, _)| k.starts_with("errors/processing-failed/"))
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .unwrap();
    let order: Vec<usize> = [
        "attemptsMade",
        "arrivalTimestamp",
        "errorCode",
        "errorMessage",
        "attemptEndingTimestamp",
        "rawData",
        "lambdaArn",
    ]
    .iter()
    .map(|k| text.find(&format!("\"{k}\":")).unwrap())
    .collect();
    assert!(order.is_sorted(), "{text}");
}

/// With three processing threads, a batch's records are cut into runs, each
/// transformed by an instance of its own, and put back together: every record once,
/// in the order it was put, failures in the error output.
#[test]
fn processing_threads_transform_runs_of_a_batch_on_instances_of_their_own() {
    let processors = wasm("js-enrich", toml! { params = { "add.env" = "prod" } });
    let config = Conf::new()
        .stream(stream(processors, "").set("processing_threads", 3))
        .text();
    let mut daemon = Daemon::start(&config);
    let mut kept = Vec::new();
    let mut failing = Vec::new();
    for batch in 0..4 {
        let records: Vec<String> = (0..500)
            .map(|j| {
                let i = batch * 500 + j;
                if i % 97 == 13 {
                    failing.push(format!("not json {i:05}\n"));
                    format!("not json {i:05}\n")
                } else {
                    kept.push(i64::from(i));
                    format!("{{\"n\":{i},\"user\":\"u{i}\"}}\n")
                }
            })
            .collect();
        assert!(put_batch(daemon.addr, "t", &records), "{}", daemon.log());
    }
    let failed = wait_for_errors(&daemon, "processing-failed", failing.len());
    let bodies = read_until(
        Duration::from_secs(60),
        || -> Vec<Vec<Value>> {
            objects(&daemon.path("out"))
                .iter()
                .filter(|(k, _)| !k.starts_with("errors/"))
                .map(|(_, body)| {
                    String::from_utf8_lossy(body)
                        .lines()
                        .map(|l| serde_json::from_str::<Value>(l).unwrap())
                        .collect()
                })
                .collect()
        },
        |bodies| bodies.iter().map(Vec::len).sum::<usize>() >= kept.len(),
    );
    assert!(daemon.stop().success());
    // Each object holds its records in the order they were put (objects of one
    // second sort by their UUIDs, so not across objects).
    let mut numbers = Vec::new();
    for lines in &bodies {
        let n: Vec<i64> = lines.iter().map(|l| l["n"].as_i64().unwrap()).collect();
        assert!(n.is_sorted(), "an object holds records out of order: {n:?}");
        numbers.extend(n);
        for line in lines {
            assert_eq!(line["env"], "prod", "{line}");
            assert_eq!(line["user"], format!("u{}", line["n"]));
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers, kept);
    let mut raws: Vec<String> = failed.iter().map(raw).collect();
    raws.sort();
    assert_eq!(raws, failing);
}

#[test]
fn partition_keys_from_the_python_plugin_choose_the_prefix() {
    let processors = wasm(
        "py-partition",
        toml! { params = { fields = "customer", time_field = "ts" } },
    );
    let prefix = "customer=!{partitionKeyFromLambda:customer}/year=!{partitionKeyFromLambda:year}/";
    let mut daemon = Daemon::start(&config(processors, prefix));
    let mut records = Vec::new();
    for i in 0..60 {
        let (customer, ts) = match i % 3 {
            0 => ("acme", "1700000000000"), // 2023
            1 => ("acme", "\"2024-03-05T10:00:00Z\""),
            _ => ("globex", "1700000000000"),
        };
        records.push(format!(
            "{{\"customer\":\"{customer}\",\"ts\":{ts},\"i\":{i}}}\n"
        ));
    }
    records.push("{\"i\":\"no customer\"}\n".to_string());
    assert!(put_batch(daemon.addr, "t", &records), "{}", daemon.log());
    let failed = wait_for_errors(&daemon, "processing-failed", 1);
    assert_delivered_once(&daemon, &records[..60]);
    assert!(daemon.stop().success());

    // Each object lies under its records' partition, and holds only those.
    let mut per_prefix: BTreeMap<String, usize> = BTreeMap::new();
    for (key, body) in objects(&daemon.path("out")) {
        if key.starts_with("errors/") {
            continue;
        }
        let prefix = key.rsplit_once('/').unwrap().0.to_string();
        for line in String::from_utf8_lossy(&body).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let year = if v["ts"].is_string() { "2024" } else { "2023" };
            assert_eq!(
                prefix,
                format!("customer={}/year={year}", v["customer"].as_str().unwrap()),
                "{line} in {key}"
            );
            *per_prefix.entry(prefix.clone()).or_default() += 1;
        }
    }
    assert_eq!(
        per_prefix,
        BTreeMap::from([
            ("customer=acme/year=2023".to_string(), 20),
            ("customer=acme/year=2024".to_string(), 20),
            ("customer=globex/year=2023".to_string(), 20),
        ])
    );
    assert_eq!(raw(&failed[0]), "{\"i\":\"no customer\"}\n");
    // The plugin's log calls and its stdout reach the daemon's log, tagged.
    let log = daemon.log();
    let tagged = |text: &str| {
        log.lines().any(|l| {
            l.contains(text) && l.contains("stream=\"t\"") && l.contains("py-partition.wasm")
        })
    };
    assert!(
        tagged("partitioning by ['customer'] and time field ts"),
        "{log}"
    );
    assert!(
        tagged("py-partition ready: 1 field key(s)") && log.contains("output=\"stdout\""),
        "{log}"
    );
    assert_eq!(failed[0]["errorMessage"], "field 'customer' is missing");
}

#[test]
fn a_partition_key_the_plugin_does_not_return_sends_the_record_to_the_error_output() {
    // The C plugin returns no partition keys at all.
    let processors = wasm("c-drop", toml! { params = { contains = "never" } });
    let daemon = Daemon::start(&config(processors, "!{partitionKeyFromLambda:customer}/"));
    assert!(
        put_batch(daemon.addr, "t", &["a\n".to_string()]),
        "{}",
        daemon.log()
    );
    let failed = wait_for_errors(&daemon, "processing-failed", 1);
    assert_eq!(raw(&failed[0]), "a\n");
    assert_eq!(
        failed[0]["errorCode"],
        "DynamicPartitioning.MetadataExtractionFailed"
    );
    assert!(delivered(&daemon.path("out")).is_empty());
}

/// A CloudWatch Logs subscription message, gzipped, as CloudWatch Logs sends it.
fn cloudwatch_message(kind: &str, messages: &[&str]) -> Vec<u8> {
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({ "id": i.to_string(), "timestamp": 1_700_000_000_000_i64 + i as i64, "message": m }))
        .collect();
    let message = json!({
        "messageType": kind, "owner": "123456789012", "logGroup": "/app", "logStream": "i-1",
        "subscriptionFilters": ["all"], "logEvents": events,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(message.to_string().as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[test]
fn the_cloudwatch_plugin_gunzips_and_splits_log_events_sent_by_boto3() {
    let processors = wasm("py-cloudwatch", Table::new());
    let mut daemon = Daemon::start(&config(processors, ""));
    let b64 = |d: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(d);
    let payloads = [
        b64(cloudwatch_message(
            "DATA_MESSAGE",
            &["GET /a 200", "GET /b 404"],
        )),
        b64(cloudwatch_message(
            "CONTROL_MESSAGE",
            &["CWL CONTROL MESSAGE: Checking health of destination Firehose."],
        )),
        b64(cloudwatch_message("DATA_MESSAGE", &["POST /c 201"])),
        b64(b"plain text, not gzip".to_vec()),
    ];
    let answer = py_json(
        "firehose_client.py",
        &[
            &daemon.url(),
            "put-batch-b64",
            "t",
            &serde_json::to_string(&payloads).unwrap(),
        ],
    );
    assert_eq!(answer["FailedPutCount"], 0, "{answer}");
    let failed = wait_for_errors(&daemon, "processing-failed", 1);
    assert_delivered_once(
        &daemon,
        &["GET /a 200\n", "GET /b 404\n", "POST /c 201\n"].map(String::from),
    );
    assert!(daemon.stop().success());
    assert_eq!(failed.len(), 1);
    assert_eq!(raw(&failed[0]), "plain text, not gzip");
    assert!(
        failed[0]["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("not a CloudWatch Logs message")
    );
}

/// The misbehaving plugin, one record per call, with a short deadline and a small
/// memory limit.
fn misbehave_config(batch_records: usize) -> String {
    let mut settings = toml! { timeout_ms = 300  memory_mb = 32  retries = 1 };
    settings.insert("batch_records".into(), (batch_records as i64).into());
    config(wasm("misbehave", settings), "")
}

#[test]
fn traps_timeouts_memory_bombs_and_broken_answers_fail_records_not_the_daemon() {
    let mut daemon = Daemon::start(&misbehave_config(1));
    let asks = [
        "fine 1",
        "FAIL",
        "DROP",
        "TRAP",
        "LOOP",
        "BOMB",
        "MISSING",
        "DUPLICATE",
        "fine 2",
    ];
    for ask in asks {
        // One put each: every record is its own call.
        assert!(
            put_batch(daemon.addr, "t", &[format!("{ask}\n")]),
            "{}",
            daemon.log()
        );
    }
    let failed = by_raw(&wait_for_errors(&daemon, "processing-failed", 6));
    assert_delivered_once(&daemon, &["fine 1\n".to_string(), "fine 2\n".to_string()]);
    // The daemon is still up and transforming after all that.
    assert!(put_batch(daemon.addr, "t", &["fine 3\n".to_string()]));
    assert_delivered_once(
        &daemon,
        &["fine 1\n", "fine 2\n", "fine 3\n"].map(String::from),
    );
    assert!(daemon.stop().success(), "{}", daemon.log());

    assert_eq!(failed.len(), 6, "{failed:?}");
    let check = |ask: &str, code: &str, message: &str, attempts: u64| {
        let r = &failed[&format!("{ask}\n")];
        assert_eq!(r["errorCode"], code, "{ask}: {r}");
        assert!(
            r["errorMessage"].as_str().unwrap().contains(message),
            "{ask}: {r}"
        );
        assert_eq!(r["attemptsMade"], attempts, "{ask}: {r}");
    };
    check("FAIL", "Lambda.ProcessingFailedStatus", "asked to fail", 1);
    // Failed calls are retried once on a fresh instance: two attempts.
    check("TRAP", "Lambda.FunctionError", "trapped", 2);
    check("LOOP", "Lambda.FunctionError", "timed out after 300ms", 2);
    check(
        "BOMB",
        "Lambda.FunctionError",
        "over the memory limit of 32 MiB",
        2,
    );
    check("MISSING", "Lambda.MissingRecordId", "were not returned", 1);
    check(
        "DUPLICATE",
        "Lambda.DuplicatedRecordId",
        "more than once",
        1,
    );
    assert!(!failed.contains_key("DROP\n"));
}

/// Answers in the batch's order are written straight into the destination's
/// buffer; answers in any other order take another path. Both, across buffers
/// that fill up mid-batch, deliver each kept record once, in order.
#[test]
fn answers_in_and_out_of_order_fill_buffers_with_each_record_once() {
    let daemon = Daemon::start(&misbehave_config(500));
    let pad = "x".repeat(1000);
    let mut kept = Vec::new();
    let mut failing = 0;
    for batch in 0..6 {
        let records: Vec<String> = (0..400)
            .map(|j| {
                let i = batch * 400 + j;
                let ask = match i {
                    _ if batch % 2 == 0 && j == 7 => "REVERSE",
                    _ if i % 97 == 5 => "DROP",
                    _ if i % 89 == 3 => "FAIL",
                    _ => "keep",
                };
                format!("{i:06} {ask} {pad}\n")
            })
            .collect();
        for r in &records {
            match r {
                _ if r.contains("DROP") => {}
                _ if r.contains("FAIL") => failing += 1,
                _ => kept.push(r.clone()),
            }
        }
        assert!(put_batch(daemon.addr, "t", &records), "{}", daemon.log());
    }
    assert_delivered_once(&daemon, &kept);
    assert_eq!(
        wait_for_errors(&daemon, "processing-failed", failing).len(),
        failing
    );
    let objects: Vec<_> = objects(&daemon.path("out"))
        .into_iter()
        .filter(|(k, _)| !k.starts_with("errors/"))
        .collect();
    assert!(
        objects.len() >= 3,
        "2.4 MB in 1 MiB buffers: {}",
        objects.len()
    );
    for (key, body) in &objects {
        assert!(body.len() <= 1024 * 1024, "{key}: {} bytes", body.len());
        let text = String::from_utf8_lossy(body);
        let numbers: Vec<&str> = text.lines().map(|l| &l[..6]).collect();
        assert!(numbers.is_sorted(), "{key} holds records out of order");
    }
}

#[test]
fn a_missing_record_id_fails_the_whole_batch() {
    let daemon = Daemon::start(&misbehave_config(100));
    let batch: Vec<String> = ["a\n", "MISSING\n", "b\n"].map(String::from).to_vec();
    assert!(put_batch(daemon.addr, "t", &batch), "{}", daemon.log());
    let failed = by_raw(&wait_for_errors(&daemon, "processing-failed", 3));
    for record in &batch {
        assert_eq!(
            failed[record]["errorCode"], "Lambda.MissingRecordId",
            "{failed:?}"
        );
    }
    assert!(delivered(&daemon.path("out")).is_empty());
}

#[test]
fn a_restart_loads_the_compiled_plugin_from_the_cache_and_replays_a_sealed_batch_through_it() {
    // The destination folder is a file: the transformed batch is sealed, its put
    // fails and is retried. Killed then, the daemon must rebuild the batch from the
    // raw records by running the plugin again, and write the transformed records.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out"), b"not a folder").unwrap();
    let processors = wasm("js-enrich", toml! { params = { "add.seen" = "yes" } });
    let text = config(processors, "");
    let daemon = Daemon::start_in(dir, &text);
    assert!(daemon.log().contains("plugin compiled"), "{}", daemon.log());
    let records: Vec<String> = (0..50).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    assert!(put_batch(daemon.addr, "t", &records), "{}", daemon.log());
    daemon.wait_for_log("delivery failed, will retry");
    let dir = daemon.into_dir(); // SIGKILL
    std::fs::remove_file(dir.path().join("out")).unwrap();

    let mut daemon = Daemon::start_in(dir, &text);
    assert!(
        daemon
            .log()
            .contains("plugin loaded from the compile cache"),
        "{}",
        daemon.log()
    );
    assert!(daemon.stop().success(), "{}", daemon.log());
    let objects = objects(&daemon.path("out"));
    assert_eq!(objects.len(), 1, "one object, rebuilt under its sealed key");
    let mut seen: Vec<i64> = String::from_utf8_lossy(&objects[0].1)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["seen"], "yes", "transformed, not raw: {l}");
            v["i"].as_i64().unwrap()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
}

#[test]
fn records_from_kinesis_carry_their_metadata_to_the_plugin() {
    let kinesis = KinesisLocal::start();
    assert_eq!(kinesis.client(&["create", "orders", "2"])["shards"], 2);
    let placed = kinesis.client(&["put-each", "orders", "20"]);
    let text = Conf::new()
        .stream(
            Stream::new("k")
                .source(toml! {
                    type = "kinesis"
                    stream_name = "orders"
                    starting_position = "TRIM_HORIZON"
                    access_key_id = "AKTEST"
                    secret_access_key = "secret"
                    idle_poll_ms = 100
                })
                .set("source.endpoint", kinesis.endpoint.clone())
                .processor(wasm("js-enrich", Table::new()))
                .at_once(),
        )
        .text();
    let mut daemon = Daemon::start(&text);
    let got = read_until(
        Duration::from_secs(60),
        || -> BTreeMap<i64, Value> {
            delivered(&daemon.path("out"))
                .keys()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    (v["i"].as_i64().unwrap(), v)
                })
                .collect()
        },
        |got| got.len() == 20,
    );
    assert!(daemon.stop().success());
    assert_eq!(got.len(), 20, "{}", daemon.log());
    let shards: std::collections::BTreeSet<&str> = placed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["shard"].as_str().unwrap())
        .collect();
    assert_eq!(shards.len(), 2, "the records span both shards: {placed}");
    for p in placed.as_array().unwrap() {
        let record = &got[&p["i"].as_i64().unwrap()];
        assert_eq!(
            record["_kinesis"],
            json!({ "shard_id": p["shard"], "partition_key": p["partition_key"], "sequence_number": p["sequence"] }),
            "{record}"
        );
    }
}

#[test]
fn transform_test_prints_each_verdict_like_a_local_invoke() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sample.ndjson"), "fine\nFAIL\nDROP\n").unwrap();
    let out = sluice(
        &[
            "transform",
            "test",
            "--module",
            &plugin("misbehave"),
            "--input",
            "sample.ndjson",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("loaded ") && lines[0].contains("(compiled)"),
        "{stdout}"
    );
    assert_eq!(lines[1], "0 ok \"fine\\n\"");
    assert_eq!(
        lines[2],
        "1 failed Lambda.ProcessingFailedStatus: asked to fail"
    );
    assert_eq!(lines[3], "2 dropped");
    assert!(
        lines[4].starts_with("3 records: 1 ok, 1 dropped, 1 failed; transform took "),
        "{stdout}"
    );

    let out = sluice(
        &[
            "transform",
            "test",
            "--module",
            &plugin("py-partition"),
            "--input",
            "sample.ndjson",
            "--params",
            "fields=a",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 failed Lambda.ProcessingFailedStatus: Expecting value"),
        "{stdout}"
    );
}

#[test]
fn check_loads_each_plugin_and_reports_the_ones_that_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let stream = |name: &str, module: &str, params: &str| {
        format!(
            "[[delivery_streams]]\nname = \"{name}\"\nprocessors = [{{ type = \"wasm\", module = \"{module}\"{params} }}]\n\
             destination = {{ type = \"local\", path = \"out\" }}\n"
        )
    };
    let text = [
        stream("fine", &plugin("c-noop"), ""),
        stream("core", "core.wasm", ""),
        stream("missing", "missing.wasm", ""),
        stream(
            "refused",
            &plugin("misbehave"),
            ", params = { refuse = \"no thanks\" }",
        ),
        stream("no-params", &plugin("c-drop"), ""),
    ]
    .concat();
    std::fs::write(dir.path().join("sluice.toml"), text).unwrap();
    let out = sluice(&["check", "--config", "sluice.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        !stderr.contains("delivery_streams[0]"),
        "the good plugin passes: {stderr}"
    );
    assert!(
        stderr.contains("core.wasm is not a valid WebAssembly component"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot read missing.wasm"), "{stderr}");
    assert!(
        stderr.contains("init refused the params: no thanks"),
        "{stderr}"
    );
    assert!(stderr.contains("param `contains` is required"), "{stderr}");
    assert_eq!(
        stderr.matches("processors[0].module").count(),
        4,
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("ok.toml"),
        stream("fine", &plugin("c-noop"), ""),
    )
    .unwrap();
    let out = sluice(&["check", "--config", "ok.toml"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A plugin built with componentize-js's defaults imports `wasi:http`: it loads and
/// runs, its request to a host it was not granted fails at once (the daemon logs
/// the refusal and the plugin's records still land), and a request to a host in
/// `allowed_hosts` goes out.
#[test]
fn a_default_componentize_js_build_loads_and_reaches_only_granted_hosts() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in server.incoming().flatten() {
            let mut conn = conn;
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut conn, &mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            log.lock()
                .unwrap()
                .push(head.lines().next().unwrap_or("").to_string());
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    let stream = |name: &str, grant: &str| {
        format!(
            "[[delivery_streams]]\nname = \"{name}\"\n\
             processors = [{{ type = \"wasm\", module = \"{}\", params = {{ url = \"http://127.0.0.1:{port}/{name}\" }}{grant} }}]\n\
             buffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
             destination = {{ type = \"local\", path = \"{{dir}}/out/{name}\" }}\n",
            plugin("js-fetch")
        )
    };
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n{}{}{}",
        stream("denied", ""),
        stream(
            "other-host",
            ", network = true, allowed_hosts = [\"example.com\"]"
        ),
        stream(
            "granted",
            &format!(", network = true, allowed_hosts = [\"127.0.0.1:{port}\"]")
        ),
    );
    let mut daemon = Daemon::start(&config);
    for name in ["denied", "other-host", "granted"] {
        let records = vec![format!("{{\"stream\":\"{name}\"}}\n")];
        assert!(put_batch(daemon.addr, name, &records), "{}", daemon.log());
        let landed = wait_for_objects(
            &daemon,
            &daemon.path(&format!("out/{name}")),
            1,
            Duration::from_secs(60),
        );
        assert_eq!(landed[0].1, records[0].as_bytes(), "{name}");
    }
    eventually(
        Duration::from_secs(20),
        || {
            format!(
                "a granted request and two refused, seen {:?}:\n{}",
                seen.lock().unwrap(),
                daemon.log()
            )
        },
        || {
            let granted = seen.lock().unwrap().iter().any(|l| l.contains("/granted"));
            let refused = daemon
                .log()
                .matches("refused the plugin's HTTP request")
                .count();
            (granted && refused >= 2).then_some(())
        },
    );
    assert!(daemon.stop().success());
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .all(|l| !l.contains("/denied") && !l.contains("/other-host")),
        "{seen:?}"
    );
    let log = daemon.log();
    for name in ["denied", "other-host"] {
        assert!(
            log.contains(&format!("uri=http://127.0.0.1:{port}/{name}")),
            "{log}"
        );
    }
}
