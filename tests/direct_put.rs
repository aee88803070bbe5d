//! The Firehose direct-PUT API against the real binary, with boto3 and the AWS CLI,
//! and every error type of contract §1.4 with its status and message.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

fn uncompressed(name: &str) -> String {
    Conf::new()
        .stream(
            Stream::new(name)
                .set("compression", "none")
                .buffering(5, 300),
        )
        .text()
}

#[test]
fn boto3_puts_land_byte_for_byte_in_arrival_order() {
    let mut d = Daemon::start(&uncompressed("orders"));
    let single = py_json(
        "firehose_client.py",
        &[&d.url(), "put-record", "orders", "first\n"],
    );
    assert_eq!(single["Encrypted"], json!(false));
    assert!(
        single["RecordId"].as_str().is_some_and(|s| !s.is_empty()),
        "{single}"
    );

    let batch = py_json(
        "firehose_client.py",
        &[&d.url(), "put-batch", "orders", "rec", "500"],
    );
    assert_eq!(batch["FailedPutCount"], json!(0));
    let responses = batch["RequestResponses"].as_array().unwrap();
    assert_eq!(responses.len(), 500);
    let mut ids: Vec<&str> = responses
        .iter()
        .map(|r| r["RecordId"].as_str().unwrap())
        .collect();
    assert!(responses.iter().all(|r| r.get("ErrorCode").is_none()));
    ids.push(single["RecordId"].as_str().unwrap());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 501, "record ids must be unique");

    assert!(d.stop().success(), "{}", d.log());
    let objects = objects(&d.path("out"));
    assert_eq!(objects.len(), 1, "{objects:?}");
    let mut expected = String::from("first\n");
    for i in 0..500 {
        expected.push_str(&format!("rec-{i}\n"));
    }
    assert_eq!(String::from_utf8(objects[0].1.clone()).unwrap(), expected);
    // Firehose's default layout: yyyy/MM/dd/HH/<stream>-1-yyyy-MM-dd-HH-mm-ss-<uuid>, no extension.
    let key = &objects[0].0;
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 5, "{key}");
    let name = parts[4];
    assert!(name.starts_with("orders-1-"), "{key}");
    let time = &name["orders-1-".len().."orders-1-".len() + 19];
    assert_eq!(
        &time[..13],
        format!("{}-{}-{}-{}", parts[0], parts[1], parts[2], parts[3]),
        "{key}"
    );
    let id = &name["orders-1-".len() + 20..];
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "suffix must end with a uuid: {key}"
    );
}

#[test]
fn list_and_describe_answer_like_firehose() {
    let config = "[server]\nlisten = \"{listen}\"\n\
        [[delivery_streams]]\nname = \"beta\"\ncompression = \"Snappy\"\n\
        destination = { type = \"local\", path = \"{dir}/b\", prefix = \"logs/\" }\n\
        [[delivery_streams]]\nname = \"alpha\"\nbuffering = { size_mb = 64, interval_seconds = 60 }\n\
        destination = { type = \"local\", path = \"{dir}/a\" }\n\
        [[delivery_streams]]\nname = \"gamma\"\ndestination = { type = \"local\", path = \"{dir}/c\" }\n";
    let d = Daemon::start(config);
    let all = py_json("firehose_client.py", &[&d.url(), "list"]);
    assert_eq!(
        all["DeliveryStreamNames"],
        json!(["alpha", "beta", "gamma"])
    );
    assert_eq!(all["HasMoreDeliveryStreams"], json!(false));
    let page = py_json(
        "firehose_client.py",
        &[
            &d.url(),
            "list",
            r#"{"Limit": 1, "ExclusiveStartDeliveryStreamName": "alpha"}"#,
        ],
    );
    assert_eq!(page["DeliveryStreamNames"], json!(["beta"]));
    assert_eq!(page["HasMoreDeliveryStreams"], json!(true));

    let desc = py_json("firehose_client.py", &[&d.url(), "describe", "beta"]);
    let s = &desc["DeliveryStreamDescription"];
    assert_eq!(s["DeliveryStreamName"], json!("beta"));
    assert_eq!(s["DeliveryStreamStatus"], json!("ACTIVE"));
    assert_eq!(s["DeliveryStreamType"], json!("DirectPut"));
    assert_eq!(
        s["DeliveryStreamARN"],
        json!("arn:aws:firehose:us-east-1:000000000000:deliverystream/beta")
    );
    assert_eq!(s["VersionId"], json!("1"));
    let dest = &s["Destinations"][0]["ExtendedS3DestinationDescription"];
    assert_eq!(dest["CompressionFormat"], json!("Snappy"));
    assert_eq!(dest["Prefix"], json!("logs/"));
    assert_eq!(
        dest["BufferingHints"],
        json!({"SizeInMBs": 5, "IntervalInSeconds": 300})
    );
    let alpha = py_json("firehose_client.py", &[&d.url(), "describe", "alpha"]);
    let hints = &alpha["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
        ["BufferingHints"];
    assert_eq!(hints, &json!({"SizeInMBs": 64, "IntervalInSeconds": 60}));
}

#[test]
fn boto3_sees_firehose_s_error_types_and_statuses() {
    let d = Daemon::start(&uncompressed("s1"));
    let url = d.url();
    let err = |args: &[&str]| {
        py_json("firehose_client.py", &[&[url.as_str()], args].concat())["error"].clone()
    };

    let e = err(&["put-record", "missing", "x"]);
    assert_eq!(
        e,
        json!({"code": "ResourceNotFoundException", "status": 400,
        "message": "Firehose missing under account 000000000000 not found."})
    );
    let e = err(&["describe", "missing"]);
    assert_eq!(e["code"], json!("ResourceNotFoundException"));

    let e = err(&["put-record-sized", "s1", "1024001"]);
    assert_eq!(e["code"], json!("ValidationException"));
    assert_eq!(e["status"], json!(400));
    assert_eq!(
        e["message"],
        json!(
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1024001 cap=1024001]' at 'record.data' failed to satisfy constraint: Member must have length less than or equal to 1024000"
        )
    );

    let e = err(&["put-sized", "s1", "501", "1"]);
    assert_eq!(e["code"], json!("ValidationException"));
    assert!(e["message"].as_str().unwrap().ends_with("at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"), "{e}");

    // 5 × 1,000,000 bytes: every record is legal, the batch is over 4 MiB.
    let e = err(&["put-sized", "s1", "5", "1000000"]);
    assert_eq!(
        e,
        json!({"code": "InvalidArgumentException", "status": 400, "message": "Records size exceeds 4 MB limit"})
    );

    // A record at exactly the limit is accepted.
    let ok = py_json(
        "firehose_client.py",
        &[&url, "put-record-sized", "s1", "1024000"],
    );
    assert!(ok.get("RecordId").is_some(), "{ok}");
}

#[test]
fn raw_protocol_errors_are_clear_and_leave_the_daemon_running() {
    let d = Daemon::start(&uncompressed("s1"));
    let check = |r: Reply, status: u16, kind: &str| {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["__type"], json!(kind));
        assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
        assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
    };
    let cases = [
        ("PutRecordBatch", "{not json", "SerializationException"),
        (
            "PutRecord",
            r#"{"DeliveryStreamName":"s1","Record":{"Data":"!!!notbase64"}}"#,
            "SerializationException",
        ),
        (
            "PutRecord",
            r#"{"DeliveryStreamName":"s1","Record":{"Data":5}}"#,
            "SerializationException",
        ),
        ("Frobnicate", "{}", "UnknownOperationException"),
        (
            "CreateDeliveryStream",
            r#"{"DeliveryStreamName":"n"}"#,
            "InvalidArgumentException",
        ),
    ];
    for (op, body, kind) in cases {
        check(firehose(d.addr, op, body), 400, kind);
    }
    let r = http(
        d.addr,
        "POST",
        "/",
        &[("X-Amz-Target", "Kinesis_20131202.PutRecord")],
        b"{}",
    )
    .unwrap();
    check(r, 400, "UnknownOperationException");
    let r = firehose(
        d.addr,
        "PutRecordBatch",
        r#"{"DeliveryStreamName":"bad name","Records":[]}"#,
    );
    assert_eq!(
        r.json()["message"],
        json!(
            "2 validation errors detected: Value 'bad name' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )
    );
    check(r, 400, "ValidationException");
    let r = firehose(
        d.addr,
        "PutRecordBatch",
        r#"{"DeliveryStreamName":"s1","Records":[{}]}"#,
    );
    assert_eq!(
        r.json()["message"],
        json!(
            "1 validation error detected: Value null at 'records.1.member.data' failed to satisfy constraint: Member must not be null"
        )
    );
    // Still serving, and empty records are legal.
    let ok = firehose(
        d.addr,
        "PutRecordBatch",
        r#"{"DeliveryStreamName":"s1","Records":[{"Data":""}]}"#,
    );
    assert_eq!(ok.status, 200);
    assert!(ok.header("x-amzn-RequestId").is_some());
}

#[test]
fn full_backlog_answers_503_service_unavailable_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    // The destination folder cannot be created while a file stands in its parent's place.
    std::fs::write(dir.path().join("blocked"), b"a file, not a folder").unwrap();
    let config = "[server]\nlisten = \"{listen}\"\n[spool]\nmax_size_mb = 1\n\
        [[delivery_streams]]\nname = \"s1\"\nbuffering = { size_mb = 1, interval_seconds = 0 }\n\
        destination = { type = \"local\", path = \"{dir}/blocked/out\" }\n";
    let mut d = Daemon::start_in(dir, config);
    let url = d.url();
    let first = py_json(
        "firehose_client.py",
        &[&url, "put-sized", "s1", "3", "400000"],
    );
    assert_eq!(first["FailedPutCount"], json!(0), "{first}");
    let refused = py_json(
        "firehose_client.py",
        &[&url, "put-sized", "s1", "1", "1000"],
    );
    assert_eq!(
        refused["error"],
        json!({"code": "ServiceUnavailableException", "status": 503, "message": "Slow down."})
    );
    assert!(metric(&d, r#"sluice_throttled_records_total{stream="s1"}"#) >= Some(1.0));
    assert!(metric(&d, r#"sluice_spool_bytes{stream="s1"}"#) >= Some(1_200_000.0));
    let failures = r#"sluice_delivery_failures_total{stream="s1",code="Local.InternalError"}"#;
    assert!(metric(&d, failures) >= Some(1.0), "{}", d.log());
    // Clear the way: delivery retries, the backlog drains, puts are accepted again.
    std::fs::remove_file(d.path("blocked")).unwrap();
    eventually(
        Duration::from_secs(60),
        || format!("a put accepted once the backlog drains:\n{}", d.log()),
        || {
            let r = py_json(
                "firehose_client.py",
                &[&url, "put-sized", "s1", "1", "1000"],
            );
            r.get("error").is_none().then_some(())
        },
    );
    assert!(d.stop().success());
    let total: usize = objects(&d.path("blocked/out"))
        .iter()
        .map(|(_, b)| b.len())
        .sum();
    assert_eq!(
        total,
        3 * 400_000 + 1000,
        "every accepted record is delivered once"
    );
}

/// `aws firehose put-record-batch` (AWS CLI v1) against the daemon.
fn aws_put_record_batch(d: &Daemon, stream: &str, records: &str) -> std::process::Output {
    Command::new(tools().bin("aws"))
        .args(["firehose", "put-record-batch", "--endpoint-url", &d.url()])
        .args([
            "--delivery-stream-name",
            stream,
            "--records",
            records,
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("run the AWS CLI")
}

#[test]
fn aws_cli_put_record_batch_works_unchanged() {
    let mut d = Daemon::start(&uncompressed("cli"));
    let out = aws_put_record_batch(&d, "cli", r#"[{"Data":"alpha"},{"Data":"beta"}]"#);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["FailedPutCount"], json!(0));
    assert_eq!(reply["RequestResponses"].as_array().unwrap().len(), 2);
    let out = aws_put_record_batch(&d, "nope", r#"[{"Data":"x"}]"#);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"));
    assert!(d.stop().success());
    let objects = objects(&d.path("out"));
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].1, b"alphabeta", "Firehose adds no delimiter");
}

#[test]
fn ndjson_endpoint_takes_one_record_per_line() {
    let mut d = Daemon::start(&uncompressed("logs"));
    let body = b"{\"n\":1}\n{\"n\":2}\n\n{\"n\":3}\n";
    let out = Command::new("curl")
        .args([
            "-s",
            "--data-binary",
            "@-",
            &format!("{}/delivery-streams/logs/records", d.url()),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body)?;
            c.wait_with_output()
        })
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["RecordCount"], json!(3));
    assert_eq!(reply["FailedPutCount"], json!(0));
    let missing = http(
        d.addr,
        "POST",
        "/delivery-streams/nope/records",
        &[],
        b"x\n",
    )
    .unwrap();
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["__type"], json!("ResourceNotFoundException"));
    assert!(d.stop().success());
    let objects = objects(&d.path("out"));
    assert_eq!(objects[0].1, b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
}
