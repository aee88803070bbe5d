//! The Kinesis source against a real Kinesis-compatible server (kinesis-local),
//! driven by boto3: several shards, a reshard while reading, restarts (clean and
//! in the crash window between an append and its checkpoint), KPL-aggregated
//! records, and throttling. Every record put must be delivered exactly once.

mod common;

use std::time::Duration;

use common::*;

/// A stream `k` reading the Kinesis stream `orders` from TRIM_HORIZON into
/// `{dir}/out`.
fn config(kinesis: &KinesisLocal) -> String {
    Conf::new().stream(stream_at(&kinesis.endpoint)).text()
}

/// Stream `k` reading `orders` from TRIM_HORIZON at `endpoint` into `{dir}/out`.
fn stream_at(endpoint: &str) -> Stream {
    Stream::new("k")
        .source(toml! {
            type = "kinesis"
            stream_name = "orders"
            starting_position = "TRIM_HORIZON"
            access_key_id = "AKTEST"
            secret_access_key = "secret"
            idle_poll_ms = 100
        })
        .set("source.endpoint", endpoint)
        .at_once()
}

/// The records `k<i>\n` for i in `range`, as put by `kinesis_client.py put`.
fn records(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("k{i}\n")).collect()
}

fn put(kinesis: &KinesisLocal, first: usize, count: usize, aggregate: usize) {
    let answer = kinesis.client(&[
        "put",
        "orders",
        &first.to_string(),
        &count.to_string(),
        &aggregate.to_string(),
    ]);
    assert_eq!(answer["failed"], 0, "{answer}");
}

#[test]
fn four_shards_a_reshard_and_a_restart_deliver_every_record_once() {
    let kinesis = KinesisLocal::start();
    kinesis.client(&["create", "orders", "4"]);
    put(&kinesis, 0, 2000, 1);
    let mut daemon = Daemon::start(&config(&kinesis));
    assert_delivered_once(&daemon, &records(0..2000));

    // Reshard while reading: the parents are closed, children start after them.
    put(&kinesis, 2000, 1000, 1);
    let shards = kinesis.client(&["reshard", "orders", "8"]);
    assert_eq!(shards["shards"], 8, "{shards}");
    put(&kinesis, 3000, 2000, 1);
    assert_delivered_once(&daemon, &records(0..5000));
    daemon.wait_for_log("shard closed and read to its end");

    // A restart resumes from the checkpoints: nothing twice.
    assert!(daemon.stop().success(), "{}", daemon.log());
    let dir = daemon.into_dir();
    put(&kinesis, 5000, 1000, 1);
    let daemon = Daemon::start_in(dir, &config(&kinesis));
    assert_delivered_once(&daemon, &records(0..6000));
}

#[test]
fn kpl_aggregated_records_are_unpacked_into_user_records() {
    let kinesis = KinesisLocal::start();
    kinesis.client(&["create", "orders", "2"]);
    // 1,000 user records in 50 Kinesis records, and 100 plain ones.
    put(&kinesis, 0, 1000, 20);
    put(&kinesis, 1000, 100, 1);
    let daemon = Daemon::start(&config(&kinesis));
    assert_delivered_once(&daemon, &records(0..1100));
    assert_eq!(
        metric(&daemon, "sluice_incoming_records_total{stream=\"k\"}"),
        Some(1100.0)
    );
}

/// The crash window between a spool append and the checkpoint that follows it,
/// made on purpose: the checkpoint is put back to before the batch, with the
/// intent a crash would leave. The restart must not deliver those records again.
#[test]
fn an_intent_left_by_a_crash_after_the_append_skips_what_the_spool_holds() {
    let kinesis = KinesisLocal::start();
    kinesis.client(&["create", "orders", "1"]);
    put(&kinesis, 0, 300, 1);
    let mut daemon = Daemon::start(&config(&kinesis));
    assert_delivered_once(&daemon, &records(0..300));
    assert!(daemon.stop().success());
    let dir = daemon.into_dir();
    leave_intent_from_the_start(&kinesis, &dir);
    put(&kinesis, 300, 50, 1);
    let daemon = Daemon::start_in(dir, &config(&kinesis));
    assert_delivered_once(&daemon, &records(0..350));
}

/// CloudWatch Logs sends to a Kinesis stream; the built-in processors unpack
/// each gzip message into one record per event before the spool. A source's
/// intent then counts those records: after the crash window (made on purpose as
/// above) the restart skips exactly what the spool holds, by event, not by
/// Kinesis record.
#[test]
fn cloudwatch_logs_messages_from_kinesis_unpack_into_events_across_a_crash() {
    let kinesis = KinesisLocal::start();
    kinesis.client(&["create", "orders", "1"]);
    let put_cloudwatch = |first: usize, count: usize| {
        let answer = kinesis.client(&[
            "put-cloudwatch",
            "orders",
            &first.to_string(),
            &count.to_string(),
            "7",
        ]);
        assert_eq!(answer["failed"], 0, "{answer}");
    };
    put_cloudwatch(0, 300);
    let config = Conf::new()
        .stream(
            stream_at(&kinesis.endpoint)
                .processor(toml! { type = "decompression" })
                .processor(toml! { type = "cloudwatch_logs"  data_message_extraction = true })
                .processor(toml! { type = "append_delimiter" }),
        )
        .text();
    let mut daemon = Daemon::start(&config);
    assert_delivered_once(&daemon, &records(0..300));
    assert!(daemon.stop().success());
    let dir = daemon.into_dir();
    leave_intent_from_the_start(&kinesis, &dir);
    put_cloudwatch(300, 50);
    let daemon = Daemon::start_in(dir, &config);
    assert_delivered_once(&daemon, &records(0..350));
}

/// Puts the checkpoint back to before the shard's first record, with the
/// intent a crash right after appending everything read since would leave.
fn leave_intent_from_the_start(kinesis: &KinesisLocal, dir: &tempfile::TempDir) {
    let first = kinesis.client(&["first-sequence", "orders"]);
    let path = dir.path().join("data/spool/k/kinesis-source.json");
    let checkpoint = serde_json::json!({
        "shards": {},
        "intent": { "shard": first["shard"], "first_record": first["sequence"], "first_seq": 0 },
    });
    std::fs::write(&path, checkpoint.to_string()).unwrap();
}

#[test]
fn throttled_reads_back_off_and_lose_nothing() {
    let kinesis = KinesisLocal::start();
    kinesis.client(&["create", "orders", "2"]);
    put(&kinesis, 0, 500, 1);
    // Every second GetRecords is refused with ProvisionedThroughputExceededException.
    let proxy = Proxy::start(&kinesis.endpoint);
    let daemon = Daemon::start(&Conf::new().stream(stream_at(&proxy.endpoint)).text());
    put(&kinesis, 500, 500, 1);
    assert_delivered_once(&daemon, &records(0..1000));
    daemon.wait_for_log("read throttled by Kinesis, backing off");
    assert!(proxy.throttled() > 0);
}

#[test]
fn a_missing_stream_is_retried_and_the_daemon_keeps_running() {
    let kinesis = KinesisLocal::start();
    let daemon = Daemon::start(&config(&kinesis));
    daemon.wait_for_log("cannot list the shards, will retry");
    let described = firehose(
        daemon.addr,
        "DescribeDeliveryStream",
        r#"{"DeliveryStreamName":"k"}"#,
    )
    .json();
    let description = &described["DeliveryStreamDescription"];
    assert_eq!(description["DeliveryStreamType"], "KinesisStreamAsSource");
    assert_eq!(
        description["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"],
        "arn:aws:kinesis:us-east-1:000000000000:stream/orders"
    );
    let listed = firehose(
        daemon.addr,
        "ListDeliveryStreams",
        r#"{"DeliveryStreamType":"DirectPut"}"#,
    )
    .json();
    assert_eq!(listed["DeliveryStreamNames"], serde_json::json!([]));
    let listed = firehose(
        daemon.addr,
        "ListDeliveryStreams",
        r#"{"DeliveryStreamType":"KinesisStreamAsSource"}"#,
    )
    .json();
    assert_eq!(listed["DeliveryStreamNames"], serde_json::json!(["k"]));
    kinesis.client(&["create", "orders", "1"]);
    put(&kinesis, 0, 10, 1);
    assert_delivered_once(&daemon, &records(0..10));
}

/// tests/py/throttling_proxy.py in front of the server.
struct Proxy {
    child: std::process::Child,
    endpoint: String,
    counter: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    fn start(upstream: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let counter = dir.path().join("throttled");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/throttling_proxy.py");
        let child = std::process::Command::new(tools().python())
            .arg(script)
            .args([&port.to_string(), upstream, counter.to_str().unwrap()])
            .spawn()
            .unwrap();
        eventually(
            Duration::from_secs(10),
            || format!("the throttling proxy to listen on port {port}"),
            || std::net::TcpStream::connect(("127.0.0.1", port)).ok(),
        );
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            counter,
            _dir: dir,
        }
    }

    fn throttled(&self) -> usize {
        std::fs::read_to_string(&self.counter)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
