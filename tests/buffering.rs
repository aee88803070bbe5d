//! Buffering against the real binary: size and interval triggers, zero buffering,
//! several streams at once, and the flush on SIGTERM / SIGINT.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A PutRecordBatch body of `n` records "<tag>-<i>:<padding>\n" of `size` bytes each.
fn batch(stream: &str, tag: &str, n: usize, size: usize) -> String {
    use base64::Engine;
    let records: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let head = format!("{tag}-{i}:");
            let line = format!("{head}{}\n", "p".repeat(size - head.len() - 1));
            json!({ "Data": base64::engine::general_purpose::STANDARD.encode(line) })
        })
        .collect();
    json!({ "DeliveryStreamName": stream, "Records": records }).to_string()
}

fn put(d: &Daemon, body: &str) {
    let r = firehose(d.addr, "PutRecordBatch", body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["FailedPutCount"], json!(0));
}

fn lines_of(objects: &[(String, Vec<u8>)]) -> Vec<String> {
    objects
        .iter()
        .flat_map(|(_, b)| {
            String::from_utf8(b.clone())
                .unwrap()
                .lines()
                .map(|l| l.split(':').next().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn size_threshold_seals_objects_of_at_most_size_mb() {
    let config = Conf::new()
        .stream(Stream::new("s").buffering(1, 900))
        .text();
    let mut d = Daemon::start(&config);
    // 3 × 500 × 2000 bytes = 3 MB: two full 1 MiB objects are delivered without waiting.
    for b in 0..3 {
        put(&d, &batch("s", &format!("b{b}"), 500, 2000));
    }
    let found = wait_for_objects(&d, &d.path("out"), 2, Duration::from_secs(15));
    for (key, body) in &found {
        assert!(body.len() <= 1024 * 1024, "{key} is {} bytes", body.len());
        assert!(
            body.len() > 1024 * 1024 - 2000,
            "{key} was sealed early: {} bytes",
            body.len()
        );
    }
    assert!(d.stop().success());
    let all = objects(&d.path("out"));
    let lines = lines_of(&all);
    assert_eq!(lines.len(), 1500);
    let mut sorted = lines.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 1500, "no record twice");
    assert_eq!(all.iter().map(|(_, b)| b.len()).sum::<usize>(), 3_000_000);
}

#[test]
fn interval_delivers_without_shutdown() {
    let config = Conf::new()
        .stream(Stream::new("s").buffering(128, 1))
        .text();
    let d = Daemon::start(&config);
    let put_at = Instant::now();
    put(&d, &batch("s", "t", 10, 100));
    let found = wait_for_objects(&d, &d.path("out"), 1, Duration::from_secs(10));
    let waited = put_at.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "delivered before the interval: {waited:?}"
    );
    assert_eq!(lines_of(&found).len(), 10);
}

#[test]
fn zero_interval_delivers_as_soon_as_possible() {
    let config = Conf::new()
        .stream(Stream::new("s").buffering(128, 0))
        .text();
    let d = Daemon::start(&config);
    put(&d, &batch("s", "z", 3, 50));
    let found = wait_for_objects(&d, &d.path("out"), 1, Duration::from_secs(3));
    assert_eq!(lines_of(&found), vec!["z-0", "z-1", "z-2"]);
}

#[test]
fn streams_run_independently_and_all_flush_on_sigterm() {
    let config = "[server]\nlisten = \"{listen}\"\n\
        [[delivery_streams]]\nname = \"a\"\ncompression = \"gzip\"\n\
        destination = { type = \"local\", path = \"{dir}/a\", prefix = \"alpha/\" }\n\
        [[delivery_streams]]\nname = \"b\"\nbuffering = { size_mb = 1, interval_seconds = 0 }\n\
        destination = { type = \"local\", path = \"{dir}/b\" }\n";
    let mut d = Daemon::start(config);
    put(&d, &batch("a", "a", 200, 100));
    put(&d, &batch("b", "b", 300, 100));
    // b delivers on its own while a is still buffering (300 s interval).
    wait_for_objects(&d, &d.path("b"), 1, Duration::from_secs(5));
    assert!(
        objects(&d.path("a")).is_empty(),
        "a must still be buffering"
    );
    let status = d.stop();
    assert!(status.success(), "exit {status}:\n{}", d.log());
    let a = objects(&d.path("a"));
    assert_eq!(a.len(), 1);
    assert!(a[0].0.starts_with("alpha/"), "{}", a[0].0);
    let raw = {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&a[0].1[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    assert_eq!(lines_of(&[(String::new(), raw)]).len(), 200);
    assert_eq!(lines_of(&objects(&d.path("b"))).len(), 300);
    assert!(d.log().contains("all buffers delivered"), "{}", d.log());
}

#[test]
fn ctrl_c_flushes_too_and_intake_stops() {
    let config = Conf::new().stream(Stream::new("s")).text();
    let mut d = Daemon::start(&config);
    put(&d, &batch("s", "c", 5, 40));
    let addr = d.addr;
    let pid = d.pid();
    signal(pid, "INT"); // what Ctrl-C sends
    let status = d.stop_after_signal();
    assert!(status.success(), "{}", d.log());
    assert_eq!(lines_of(&objects(&d.path("out"))).len(), 5);
    assert!(
        http(addr, "GET", "/health", &[], b"").is_err(),
        "intake must be closed after shutdown"
    );
}
