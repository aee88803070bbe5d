//! The ingest memory budget, through the real daemon: requests past it wait, are
//! answered 503 "Slow down." and succeed when boto3 retries them, with every
//! acknowledged record delivered once; bodies of the tiniest lines are taken at
//! a few bytes a record, not an allocation each.

mod common;

use std::process::Command;

use common::*;

/// Twenty boto3 clients at once, each sending a PutRecordBatch of about 4 MiB to
/// a daemon whose budget holds one such request at a time: the ones that wait
/// over a second are throttled, their SDK retries them, and in the end every
/// record is acknowledged and delivered exactly once.
#[test]
fn requests_past_the_budget_are_throttled_and_succeed_when_retried() {
    let config = Conf::new()
        .set("server.ingest_memory_mb", 16)
        .stream(Stream::new("s").set("compression", "none").buffering(8, 1))
        .text();
    let d = Daemon::start(&config);
    let out = py_json("concurrent_puts.py", &[&d.url(), "s", "20", "330", "12000"]);
    let failed = out["failed"].as_array().unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let throttled = out["throttled"].as_u64().unwrap();
    assert!(
        throttled > 0,
        "no request was throttled: the budget held nothing back"
    );
    let acknowledged: Vec<String> = out["acknowledged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(acknowledged.len(), 20 * 330);
    eprintln!("{throttled} attempts throttled, all 20 batches acknowledged after retries");
    assert_delivered_once(&d, &acknowledged);
    let log = d.log();
    assert!(
        metric(
            &d,
            "sluice_ingest_throttled_requests_total{reason=\"memory\"}"
        )
        .is_some_and(|n| n >= throttled as f64),
        "the throttled requests are counted:\n{log}"
    );
}

/// A 16 MiB NDJSON body of 2-byte lines (8.4 million records) is taken without
/// holding a record structure per line: peak RSS grows by well under what one
/// allocation per record would take (over a gigabyte), and every line lands.
#[test]
fn a_body_of_millions_of_tiny_lines_takes_a_few_bytes_a_line() {
    let d = Daemon::start(
        &Conf::new()
            .stream(Stream::new("s").set("compression", "gzip").buffering(5, 1))
            .text(),
    );
    let lines = 8 * 1024 * 1024 - 8;
    let body = d.path("tiny.ndjson");
    std::fs::write(&body, b"a\n".repeat(lines)).unwrap();
    let before = peak_rss_kb(d.pid());
    let out = Command::new("curl")
        .args(["-sS", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg(format!("{}/delivery-streams/s/records", d.url()))
        .output()
        .expect("curl");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(answer["RecordCount"], lines, "{answer}");
    // Every line lands (gzip objects of `a\n` lines).
    let landed = read_until(
        std::time::Duration::from_secs(240),
        || -> usize {
            objects(&d.path("out"))
                .iter()
                .map(|(key, body)| {
                    assert!(key.ends_with(".gz"), "{key}");
                    let mut text = Vec::new();
                    std::io::Read::read_to_end(
                        &mut flate2::read::MultiGzDecoder::new(&body[..]),
                        &mut text,
                    )
                    .unwrap();
                    assert!(text.chunks(2).all(|l| l == b"a\n"), "{key}");
                    text.len() / 2
                })
                .sum()
        },
        |&landed| landed >= lines,
    );
    assert_eq!(landed, lines, "{}", d.log());
    let grew_mb = peak_rss_kb(d.pid()).saturating_sub(before) / 1024;
    eprintln!("{lines} lines landed; peak RSS grew by {grew_mb} MiB");
    // The body (16 MiB), its offsets (32 MiB), what the spool reader and the
    // buffers hold: far from the 1.3 GB one record structure a line took.
    assert!(grew_mb < 160, "peak RSS grew by {grew_mb} MiB");
}

/// The same body through a stream with an unpacking processor: its lines become
/// records only as they are unpacked, and what they make is bounded by the
/// cap, so the body is refused (413, naming the cap) with memory flat, and a
/// body within the cap is split into its sub-records.
#[test]
fn a_body_of_millions_of_tiny_lines_through_deaggregation_is_bounded_by_the_cap() {
    let d = Daemon::start(
        &Conf::new()
            .stream(
                Stream::new("s")
                    .set("compression", "none")
                    .buffering(5, 1)
                    .processor(toml! { type = "deaggregation"  sub_record_type = "json" })
                    .processor(toml! { type = "append_delimiter" }),
            )
            .text(),
    );
    let body = d.path("tiny.ndjson");
    std::fs::write(&body, b"a\n".repeat(8 * 1024 * 1024 - 8)).unwrap();
    let before = peak_rss_kb(d.pid());
    let curl = |file: &std::path::Path| {
        let out = Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}", "--data-binary"])
            .arg(format!("@{}", file.display()))
            .arg(format!("{}/delivery-streams/s/records", d.url()))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let answer = curl(&body);
    assert!(
        answer.ends_with("\n413") && answer.contains("server.max_decoded_body_mb"),
        "{answer}"
    );
    // The body (16 MiB), its line offsets (32 MiB) and at most the cap (16 MiB)
    // of records: a record structure per line would be over a gigabyte.
    let grew_mb = peak_rss_kb(d.pid()).saturating_sub(before) / 1024;
    assert!(grew_mb < 96, "peak RSS grew by {grew_mb} MiB");
    std::fs::write(&body, b"{\"a\":1}{\"a\":2}\n{\"a\":3}\n").unwrap();
    let answer = curl(&body);
    assert!(answer.ends_with("\n200"), "{answer}");
    let expected: Vec<String> = (1..=3).map(|i| format!("{{\"a\":{i}}}\n")).collect();
    assert_delivered_once(&d, &expected);
}
