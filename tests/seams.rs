//! Regression tests for the seams between capabilities (the seams issue): each test
//! names the case it guards, reproduces it through the real daemon against real
//! servers, and checks that every acknowledged record ends up exactly once in the
//! destination or in the error output.

mod common;

use base64::Engine;
use common::*;
use serde_json::Value;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The error records in the objects under `prefix`, parsed.
fn error_records(objects: &[(String, Vec<u8>)], prefix: &str) -> Vec<Value> {
    objects
        .iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .flat_map(|(_, body)| {
            String::from_utf8_lossy(body)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("an error record is JSON"))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn raw_data(record: &Value) -> String {
    let raw = B64
        .decode(record["rawData"].as_str().expect("rawData"))
        .expect("base64");
    String::from_utf8(raw).expect("utf-8")
}

/// Case 2: `prefix = "logs//raw/"` passed `sluice check` and then wedged the
/// stream (every write refused, SIGTERM hung). It is refused at check time now,
/// naming the key, and so are the other prefixes no store can take.
#[test]
fn prefixes_that_make_unwritable_keys_are_refused_by_check() {
    for (prefix, error_prefix, key, why) in [
        ("logs//raw/", "", "destination.prefix", "empty path segment"),
        ("/logs/", "", "destination.prefix", "starts with `/`"),
        ("logs/./raw/", "", "destination.prefix", "`.` path segment"),
        ("a/../b/", "", "destination.prefix", "`..` path segment"),
        (
            "ok/",
            "errors//!{firehose:error-output-type}/",
            "destination.error_output_prefix",
            "empty path segment",
        ),
        (
            "x=!{timestamp:yyyy}/",
            "e/!{firehose:error-output-type}/!{timestamp:'/'yyyy}/",
            "destination.error_output_prefix",
            "empty path segment",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[[delivery_streams]]\nname = \"s\"\ndestination = {{ type = \"local\", path = \"out\", \
                 prefix = \"{prefix}\", error_output_prefix = \"{error_prefix}\" }}\n"
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["check", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{prefix:?}: {stderr}");
        assert!(
            stderr.contains(&format!("delivery_streams[0].{key}")) && stderr.contains(why),
            "{prefix:?} / {error_prefix:?}: {stderr}"
        );
    }
}

/// Case 5: a Parquet batch that ran out of retries sent its unconvertible records
/// to the error output twice (as `format-conversion-failed` and again as
/// `delivery-failed`). With the store down and no retries, each record must land
/// exactly once: bad ones as conversion failures, good ones as delivery failures.
#[test]
fn a_parquet_batch_that_fails_delivery_sends_each_record_to_the_error_output_once() {
    let mut s3 = Seaweed::start();
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"p\"\n\
         buffering = {{ size_mb = 64, interval_seconds = 1 }}\n\
         destination = {{ type = \"s3\", bucket = \"{BUCKET}\", endpoint = \"{}\", \
         access_key_id = \"{}\", secret_access_key = \"{}\", retry_duration_seconds = 0, \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\" }}\n\
         [delivery_streams.format]\ntype = \"parquet\"\n\
         columns = [{{ name = \"n\", type = \"int\" }}]\n",
        s3.endpoint, S3_USER.0, S3_USER.1
    );
    let mut d = Daemon::start(&config);
    s3.kill();
    let records: Vec<String> = (0..40)
        .map(|i| {
            if i % 4 == 0 {
                format!("not json {i}\n")
            } else {
                format!("{{\"n\":{i}}}\n")
            }
        })
        .collect();
    assert!(put_batch(d.addr, "p", &records), "{}", d.log());
    d.wait_for_log("delivery failed for the whole retry duration");
    s3.run();
    s3.wait_for(BUCKET, "errors/delivery-failed/", 1, &d);
    s3.wait_for(BUCKET, "errors/format-conversion-failed/", 1, &d);
    assert!(d.stop().success(), "{}", d.log());
    let objects: Vec<(String, Vec<u8>)> = s3
        .objects(BUCKET)
        .into_iter()
        .map(|o| (o.key, o.body))
        .collect();
    assert!(
        objects.iter().all(|(k, _)| k.starts_with("errors/")),
        "no data object was written: {:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let mut conversion: Vec<String> = error_records(&objects, "errors/format-conversion-failed/")
        .iter()
        .map(raw_data)
        .collect();
    let mut delivery: Vec<String> = error_records(&objects, "errors/delivery-failed/")
        .iter()
        .map(raw_data)
        .collect();
    conversion.sort();
    delivery.sort();
    let (mut bad, mut good): (Vec<String>, Vec<String>) =
        records.iter().cloned().partition(|r| r.starts_with("not"));
    bad.sort();
    good.sort();
    assert_eq!(
        conversion, bad,
        "format-conversion-failed holds the bad records once"
    );
    assert_eq!(
        delivery, good,
        "delivery-failed holds the good records once"
    );
}

/// Case 3: partition key values that make no valid key (empty mid-prefix, `.`,
/// `..`, control characters, a segment over 255 bytes, a prefix over 512
/// characters) were retried for a day or written with no prefix. Through a real
/// plugin (py-partition, keys from a JSON field) they now go to the error output
/// at once with their raw data, the rest land under their partitions, and the
/// daemon stops promptly.
#[test]
fn hostile_partition_values_go_to_the_error_output_and_the_rest_land() {
    let module = plugins().join("py-partition.wasm");
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"t\"\n\
         processors = [{{ type = \"wasm\", module = \"{}\", params = {{ fields = \"c\" }} }}]\n\
         buffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\", retry_duration_seconds = 86400, \
         prefix = \"!{{partitionKeyFromLambda:c}}/\", \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\" }}\n",
        module.display()
    );
    let mut d = Daemon::start(&config);
    let long = "x".repeat(300);
    let deep = "d/".repeat(300);
    let hostile = [
        "",
        ".",
        "..",
        "a/../b",
        "tab\\there",
        "nl\\nthere",
        &long,
        &deep,
    ];
    let fine = ["acme", "a/b", "ünï cödé", "..x"];
    let record = |c: &str, i: usize| format!("{{\"c\":\"{c}\",\"i\":{i}}}\n");
    let bad: Vec<String> = hostile
        .iter()
        .enumerate()
        .map(|(i, c)| record(c, i))
        .collect();
    let good: Vec<String> = fine
        .iter()
        .enumerate()
        .map(|(i, c)| record(c, 100 + i))
        .collect();
    let all: Vec<String> = bad.iter().chain(&good).cloned().collect();
    assert!(put_batch(d.addr, "t", &all), "{}", d.log());
    let started = std::time::Instant::now();
    let failed = loop {
        let found = error_records(&objects(&d.path("out")), "errors/processing-failed/");
        if found.len() >= bad.len() {
            break found;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{} of {} error records:\n{}",
            found.len(),
            bad.len(),
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_delivered_once(&d, &good);
    let stopping = std::time::Instant::now();
    assert!(d.stop().success(), "{}", d.log());
    assert!(stopping.elapsed() < std::time::Duration::from_secs(10));
    let mut got: Vec<String> = failed.iter().map(raw_data).collect();
    got.sort();
    let mut expected = bad.clone();
    expected.sort();
    assert_eq!(got, expected, "each hostile record once, with its raw data");
    for f in &failed {
        assert_eq!(
            f["errorCode"], "DynamicPartitioning.MetadataExtractionFailed",
            "{f}"
        );
    }
    // Each good record lies under its own value.
    for (key, body) in objects(&d.path("out")) {
        if key.starts_with("errors/") {
            continue;
        }
        let v: Value = serde_json::from_slice(&body).unwrap();
        let c = v["c"].as_str().unwrap();
        assert!(key.starts_with(&format!("{c}/")), "{key} holds c = {c:?}");
    }
}
