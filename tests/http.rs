//! The HTTP endpoint destination against a receiver in this process that checks
//! Firehose's HTTP delivery protocol strictly: headers, body, request ids across
//! retries, gzip, timeouts, failures past the retry duration, and request limits.

mod common;

use std::time::Duration;

use base64::Engine;
use common::receiver::{Receiver, Reply};
use common::*;
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Stream `h` sending to the endpoint at `url` (retried for 60 s), its failed
/// records under `{dir}/s3`.
fn stream(url: &str) -> Stream {
    Stream::new("h")
        .buffering(1, 1)
        .destination(toml! {
            type = "http"
            retry_duration_seconds = 60
            error_destination = {
                type = "local",
                path = "{dir}/s3",
                error_output_prefix = "errors/!{firehose:error-output-type}/"
            }
        })
        .set("destination.url", url)
}

/// As [`stream`], alone in the file, with `destination` keys set on its endpoint.
fn config(url: &str, destination: Table) -> String {
    Conf::new()
        .stream(stream(url).merge("destination", destination))
        .text()
}

/// Waits up to `wait` for the first `http-endpoint-failed` object in the error
/// destination and returns its error records.
fn endpoint_failed(d: &Daemon, wait: Duration) -> Vec<Value> {
    let errors = wait_for_objects(d, &d.path("s3/errors/http-endpoint-failed"), 1, wait);
    String::from_utf8_lossy(&errors[0].1)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an error record is JSON"))
        .collect()
}

fn put(d: &Daemon, records: &[String]) {
    assert!(put_batch(d.addr, "h", records), "not acknowledged");
}

fn as_strings(records: &[Vec<u8>]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.clone()).unwrap())
        .collect()
}

#[test]
fn records_arrive_with_firehose_s_headers_and_body_and_all_data_is_backed_up() {
    let rx = Receiver::start(&[]);
    let config = Conf::new()
        .stream(
            stream(&rx.url())
                .merge(
                    "destination",
                    toml! {
                        access_key = "k-123"
                        common_attributes = { env = "prod", team = "" }
                        s3_backup_mode = "AllData"
                    },
                )
                .set("destination.error_destination.prefix", "backup/"),
        )
        .text();
    let mut d = Daemon::start(&config);
    let records = json_lines(30, "r");
    put(&d, &records);
    let seen = rx.wait_for(1, &d);
    assert!(d.stop().success());
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(as_strings(&s.records), records);
    assert_eq!(s.query.as_deref(), Some("source=sluice"));
    assert!(!s.gzip && s.header("content-encoding").is_none());
    assert_eq!(s.header("x-amz-firehose-access-key"), Some("k-123"));
    assert_eq!(
        serde_json::from_str::<Value>(s.header("x-amz-firehose-common-attributes").unwrap())
            .unwrap(),
        json!({ "commonAttributes": { "env": "prod", "team": "" } })
    );
    assert_eq!(
        s.header("x-amz-firehose-source-arn"),
        Some("arn:aws:firehose:us-east-1:000000000000:deliverystream/h")
    );
    assert!(!d.log().contains("k-123"), "the access key is logged");
    let backup = objects(&d.path("s3"));
    assert_eq!(backup.len(), 1, "{backup:?}");
    assert!(backup[0].0.starts_with("backup/"));
    assert_eq!(backup[0].1, records.concat().into_bytes());
}

#[test]
fn gzip_bodies_are_sent_with_content_encoding() {
    let rx = Receiver::start(&[]);
    let mut d = Daemon::start(&config(&rx.url(), toml! { content_encoding = "gzip" }));
    let records = json_lines(100, "g");
    put(&d, &records);
    let seen = rx.wait_for(1, &d);
    assert!(d.stop().success());
    assert!(seen[0].gzip);
    assert_eq!(as_strings(&seen[0].records), records);
}

/// 500s, then a wrong request id, then success: every retry carries the same
/// request id, and the records are sent (and counted) once they are accepted.
#[test]
fn failures_are_retried_with_the_same_request_id() {
    let rx = Receiver::start(&[
        Reply::Status(500),
        Reply::Status(503),
        Reply::WrongRequestId,
    ]);
    let mut d = Daemon::start(&config(&rx.url(), Table::new()));
    put(&d, &json_lines(5, "retry"));
    let seen = rx.wait_for(4, &d);
    assert!(d.stop().success());
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| s.request_id == seen[0].request_id));
    let log = d.log();
    assert!(log.contains("HttpEndpoint.DestinationException"), "{log}");
    assert!(
        log.contains("HttpEndpoint.InvalidResponseFromDestination"),
        "{log}"
    );
    // Accepted in the end: nothing in the error output.
    assert!(objects(&d.path("s3")).is_empty());
}

/// Seams issue, case 6: a 200 with a non-JSON content type or without
/// `timestamp` is not a delivery (contract §9.3): it is retried, with the same id.
#[test]
fn a_200_that_does_not_conform_is_retried() {
    let rx = Receiver::start(&[Reply::TextPlain, Reply::NoTimestamp]);
    let mut d = Daemon::start(&config(&rx.url(), Table::new()));
    put(&d, &json_lines(3, "strict"));
    let seen = rx.wait_for(3, &d);
    assert!(d.stop().success());
    assert_eq!(seen.len(), 3, "two refused answers, then the accepted one");
    assert!(seen.iter().all(|s| s.request_id == seen[0].request_id));
    let log = d.log();
    assert!(log.contains("not application/json"), "{log}");
    assert!(log.contains("no numeric timestamp"), "{log}");
    assert!(objects(&d.path("s3")).is_empty());
}

/// Seams issue, case 6: the retry window opens after the first failed attempt
/// and does not count the time spent waiting for answers (contract §9.4). Every
/// answer here takes longer than the 2 s request timeout and the window is 3 s:
/// counting the waits for answers (the old clock) gave up after 2 attempts; the
/// backoff alone (1 s, then 2 s, ±15 %) allows at least 3.
#[test]
fn the_retry_window_excludes_the_time_spent_waiting_for_answers() {
    let slow = Reply::Slow(Duration::from_secs(5));
    let rx = Receiver::start(&[slow; 8]);
    let config = config(
        &rx.url(),
        toml! { request_timeout_seconds = 2  retry_duration_seconds = 3 },
    );
    let mut d = Daemon::start(&config);
    let records = json_lines(2, "window");
    put(&d, &records);
    let first = endpoint_failed(&d, Duration::from_secs(60)).remove(0);
    assert!(d.stop().success());
    assert_eq!(first["errorCode"], "HttpEndpoint.RequestTimeout");
    let attempts = first["attemptsMade"].as_u64().unwrap();
    assert!((3..=4).contains(&attempts), "{attempts} attempts");
    assert_eq!(rx.seen().len() as u64, attempts);
}

#[test]
fn a_slow_receiver_times_out_and_is_retried() {
    let rx = Receiver::start(&[Reply::Slow(Duration::from_secs(4))]);
    let mut d = Daemon::start(&config(&rx.url(), toml! { request_timeout_seconds = 1 }));
    put(&d, &json_lines(3, "slow"));
    let seen = rx.wait_for(2, &d);
    assert!(d.stop().success());
    assert_eq!(seen[0].request_id, seen[1].request_id);
    assert!(
        d.log().contains("HttpEndpoint.RequestTimeout"),
        "{}",
        d.log()
    );
    assert!(objects(&d.path("s3")).is_empty());
}

/// A receiver that stays down past the retry duration: the records go to the error
/// destination as `http-endpoint-failed` error records, with the raw data.
#[test]
fn a_receiver_down_past_the_retry_duration_sends_records_to_the_error_output() {
    let url = format!("http://127.0.0.1:{}/ingest", free_port());
    let config = config(&url, toml! { retry_duration_seconds = 2 });
    let mut d = Daemon::start(&config);
    let records = json_lines(4, "down");
    put(&d, &records);
    let got = endpoint_failed(&d, Duration::from_secs(30));
    assert!(d.stop().success());
    assert_eq!(got.len(), 4);
    for (line, record) in got.iter().zip(&records) {
        assert_eq!(line["errorCode"], "HttpEndpoint.ConnectionFailed");
        assert!(line["attemptsMade"].as_u64().unwrap() >= 2);
        assert_eq!(
            B64.decode(line["rawData"].as_str().unwrap()).unwrap(),
            record.as_bytes()
        );
    }
}

/// 12,000 records in one buffer: Firehose's limit of 10,000 records a request
/// splits it in two requests with their own ids.
#[test]
fn a_large_batch_is_split_to_respect_the_request_limits() {
    let rx = Receiver::start(&[]);
    let config = Conf::new()
        .stream(stream(&rx.url()).buffering(1, 900))
        .text();
    let mut d = Daemon::start(&config);
    let records: Vec<String> = (0..12_000).map(|i| format!("{i}\n")).collect();
    for chunk in records.chunks(500) {
        put(&d, chunk);
    }
    assert!(d.stop().success());
    let seen = rx.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].records.len(), seen[1].records.len()),
        (10_000, 2_000)
    );
    assert_ne!(seen[0].request_id, seen[1].request_id);
    let all: Vec<String> = seen.iter().flat_map(|s| as_strings(&s.records)).collect();
    assert_eq!(all, records);
}

/// An HTTPS endpoint with a private CA: refused (certificate error, records kept in
/// the spool) until `ca_file` trusts the CA, then delivered.
#[test]
fn https_with_a_private_ca_needs_ca_file() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let out = certs.path().join("received.jsonl");
    let mut receiver = std::process::Command::new(tools().python())
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/https_receiver.py"))
        .arg(certs.path().join("leaf.pem"))
        .arg(certs.path().join("leaf.key"))
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = receiver.stdout.take();
    let _receiver = KillOnDrop(receiver);
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout.unwrap()), &mut ready).unwrap();
    let port: u16 = ready
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the HTTPS receiver did not start: {ready:?}"));
    let url = format!("https://127.0.0.1:{port}/ingest");
    let untrusted = Daemon::start(&config(&url, Table::new()));
    let records = json_lines(3, "tls");
    put(&untrusted, &records);
    untrusted.wait_for_log("delivery failed, will retry");
    assert!(
        untrusted.log().to_lowercase().contains("certificate"),
        "{}",
        untrusted.log()
    );
    assert!(!out.exists(), "delivered to an untrusted endpoint");
    let dir = untrusted.into_dir();
    let trusted = config(
        &url,
        table([(
            "ca_file",
            certs.path().join("ca.pem").display().to_string().into(),
        )]),
    );
    let mut d = Daemon::start_in(dir, &trusted);
    eventually(
        Duration::from_secs(30),
        || format!("`out.exists()`:\n{}", d.log()),
        || out.exists().then_some(()),
    );
    assert!(d.stop().success());
    let got: Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(got["records"], json!(records));
}

/// Stops a helper process when the test ends, whether it passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The request id survives a crash: the batch was sealed with its key, so the
/// re-delivery after a restart carries the id the receiver saw before.
#[test]
fn a_restart_resends_with_the_same_request_id() {
    let rx = Receiver::start(&[Reply::Status(500)]);
    let d = Daemon::start(&config(&rx.url(), Table::new()));
    put(&d, &json_lines(7, "crash"));
    rx.wait_for(1, &d);
    let dir = d.into_dir(); // SIGKILL while the batch waits for its retry
    let mut d = Daemon::start_in(dir, &config(&rx.url(), Table::new()));
    let seen = rx.wait_for(2, &d);
    assert!(d.stop().success());
    assert_eq!(seen[1].request_id, seen[0].request_id);
    assert_eq!(as_strings(&seen[1].records), json_lines(7, "crash"));
    assert!(
        d.log()
            .contains("delivering a batch sealed before the last stop")
    );
}

/// 413 is permanent, as in Firehose: no retries, the records go to the error
/// destination at once (where Firehose would not back them up).
#[test]
fn a_413_sends_the_records_to_the_error_output_without_retrying() {
    let rx = Receiver::start(&[Reply::Status(413)]);
    let mut d = Daemon::start(&config(&rx.url(), Table::new()));
    let records = json_lines(2, "big");
    put(&d, &records);
    let first = endpoint_failed(&d, Duration::from_secs(10)).remove(0);
    assert!(d.stop().success());
    assert_eq!(rx.seen().len(), 1, "a 413 was retried");
    assert_eq!(first["errorCode"], "HttpEndpoint.DestinationException");
    assert_eq!(first["attemptsMade"], 1);
    assert!(
        first["errorMessage"].as_str().unwrap().contains("413"),
        "{first}"
    );
    assert_eq!(
        B64.decode(first["rawData"].as_str().unwrap()).unwrap(),
        records[0].as_bytes()
    );
}

/// boto3's DescribeDeliveryStream shows the endpoint as Firehose does, with the
/// error destination as its S3 configuration.
#[test]
fn describe_shows_the_http_endpoint() {
    let config = config(
        "https://collector.example/firehose",
        toml! { name = "collector"  content_encoding = "gzip"  common_attributes = { env = "prod" } },
    );
    let d = Daemon::start(&config);
    let described = py_json("firehose_client.py", &[&d.url(), "describe", "h"]);
    let dest = &described["DeliveryStreamDescription"]["Destinations"][0];
    let http = &dest["HttpEndpointDestinationDescription"];
    assert_eq!(
        http["EndpointConfiguration"],
        json!({ "Url": "https://collector.example/firehose", "Name": "collector" })
    );
    assert_eq!(http["RequestConfiguration"]["ContentEncoding"], "GZIP");
    assert_eq!(
        http["RequestConfiguration"]["CommonAttributes"],
        json!([{ "AttributeName": "env", "AttributeValue": "prod" }])
    );
    assert_eq!(http["RetryOptions"]["DurationInSeconds"], 60);
    assert_eq!(http["S3BackupMode"], "FailedDataOnly");
    let s3 = &http["S3DestinationDescription"];
    assert!(
        s3["BucketARN"]
            .as_str()
            .unwrap()
            .starts_with("arn:sluice:local:::")
    );
    assert_eq!(
        s3["ErrorOutputPrefix"],
        "errors/!{firehose:error-output-type}/"
    );
    assert!(dest.get("ExtendedS3DestinationDescription").is_none());
}
