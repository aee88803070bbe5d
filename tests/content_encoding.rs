//! Request bodies with `Content-Encoding`, through the real daemon: gzip, deflate
//! and zstd NDJSON bodies sent by curl, and a gzip PutRecordBatch body, deliver the
//! same records as plain ones; a gzip bomb is refused with 413 and leaves memory
//! flat; an encoding Sluice does not decode is refused with 415. Nothing of a
//! refused request is stored. A bomb record through the `decompression`
//! processor goes to the error output as it was sent, memory flat again.

mod common;

use std::io::Write;
use std::process::Command;

use common::*;

fn config() -> String {
    Conf::new()
        .stream(Stream::new("s").set("compression", "none").at_once())
        .text()
}

/// Sends `body` (a file) to the NDJSON endpoint with curl; returns the status
/// and the answer.
fn curl(d: &Daemon, body: &std::path::Path, encoding: &str) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "-H"])
        .arg(format!("Content-Encoding: {encoding}"))
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(format!("{}/delivery-streams/s/records", d.url()))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (json, status) = text.rsplit_once('\n').expect("a status line");
    (
        status.trim().parse().expect("a status"),
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_deflate_and_zstd_bodies_deliver_the_same_records_as_plain_ones() {
    let d = Daemon::start(&config());
    let mut expected = Vec::new();
    for (encoding, tag) in [
        ("identity", "plain"),
        ("gzip", "gz"),
        ("deflate", "df"),
        ("zstd", "zs"),
    ] {
        let lines = json_lines(500, tag);
        let plain = lines.concat().into_bytes();
        let body = match encoding {
            // Two members: what `cat a.gz b.gz` and some shippers send.
            "gzip" => [
                gzip(&plain[..plain.len() / 2]),
                gzip(&plain[plain.len() / 2..]),
            ]
            .concat(),
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&plain).unwrap();
                e.finish().unwrap()
            }
            "zstd" => zstd::stream::encode_all(&plain[..], 3).unwrap(),
            _ => plain.clone(),
        };
        let file = d.path(&format!("body.{tag}"));
        std::fs::write(&file, &body).unwrap();
        let (status, answer) = curl(&d, &file, encoding);
        assert_eq!(status, 200, "{encoding}: {answer}");
        assert_eq!(answer["RecordCount"], 500, "{encoding}: {answer}");
        expected.extend(lines);
    }
    // A PutRecordBatch body, gzip-compressed as a whole.
    let lines = json_lines(50, "batch");
    let body = gzip(batch_body("s", &lines).as_bytes());
    let target = format!("{FIREHOSE_TARGET}.PutRecordBatch");
    let r = http(
        d.addr,
        "POST",
        "/",
        &[("X-Amz-Target", &target), ("Content-Encoding", "gzip")],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["FailedPutCount"], 0);
    expected.extend(lines);
    assert_delivered_once(&d, &expected);
}

#[test]
fn a_gzip_bomb_gets_413_and_memory_stays_flat_and_br_gets_415() {
    let d = Daemon::start(&config());
    // 4 GiB of newlines-free zeros would take long to make; 256 MiB is past any
    // cap and still inflates from a few hundred KB.
    let bomb = gzip(&vec![b'a'; 256 << 20]);
    assert!(bomb.len() < 512 * 1024, "{} bytes", bomb.len());
    let file = d.path("bomb.gz");
    std::fs::write(&file, &bomb).unwrap();
    let before = peak_rss_kb(d.pid());
    for _ in 0..4 {
        let (status, answer) = curl(&d, &file, "gzip");
        assert_eq!(status, 413, "{answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("16777216 bytes") && message.contains("server.max_decoded_body_mb"),
            "{message}"
        );
    }
    let grew_kb = peak_rss_kb(d.pid()).saturating_sub(before);
    assert!(
        grew_kb < 64 * 1024,
        "peak RSS grew by {grew_kb} KiB for a 256 MiB bomb"
    );
    let plain = d.path("plain.txt");
    std::fs::write(&plain, b"{\"a\":1}\n").unwrap();
    let (status, answer) = curl(&d, &plain, "br");
    assert_eq!(status, 415, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("gzip, deflate, zstd"),
        "{answer}"
    );
    // Nothing of a refused request was stored; the daemon takes plain ones still.
    let (status, _) = curl(&d, &plain, "identity");
    assert_eq!(status, 200);
    assert_delivered_once(&d, &["{\"a\":1}\n".to_string()]);
}

/// The same cap holds for records the `decompression` processor inflates: a
/// bomb record is refused into the error output as received (the daemon
/// inflates at most the cap of it), and the records beside it are delivered.
#[test]
fn a_bomb_record_through_the_decompression_processor_lands_in_the_error_output() {
    let d = Daemon::start(
        &Conf::new()
            .stream(
                Stream::new("s")
                    .set("compression", "none")
                    .at_once()
                    .processor(toml! { type = "decompression" }),
            )
            .text(),
    );
    let bomb = gzip(&vec![b'a'; 256 << 20]);
    let fine = gzip(b"{\"a\":1}\n");
    let b64 = |data: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(data)
    };
    let body = format!(
        r#"{{"DeliveryStreamName":"s","Records":[{{"Data":"{}"}},{{"Data":"{}"}}]}}"#,
        b64(&bomb),
        b64(&fine)
    );
    let before = peak_rss_kb(d.pid());
    for _ in 0..4 {
        let reply = firehose(d.addr, "PutRecordBatch", &body);
        assert_eq!(reply.json()["FailedPutCount"], 0, "{}", reply.json());
    }
    let grew_kb = peak_rss_kb(d.pid()).saturating_sub(before);
    assert!(
        grew_kb < 64 * 1024,
        "peak RSS grew by {grew_kb} KiB for four 256 MiB bomb records"
    );
    let count = || {
        let (mut bombs, mut delivered) = (0, 0);
        for (key, body) in objects(&d.path("out")) {
            for line in String::from_utf8_lossy(&body).lines() {
                if key.contains("decompression-failed") {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert_eq!(v["errorCode"], "Decompression.Failed");
                    let message = v["errorMessage"].as_str().unwrap_or_default();
                    assert!(message.contains("16777216 bytes"), "{message}");
                    assert_eq!(v["rawData"].as_str().unwrap_or_default(), b64(&bomb));
                    bombs += 1;
                } else {
                    assert_eq!(line, "{\"a\":1}", "{key}");
                    delivered += 1;
                }
            }
        }
        (bombs, delivered)
    };
    eventually(
        std::time::Duration::from_secs(20),
        || {
            format!(
                "4 bombs in the error output and 4 records delivered, found {:?}",
                count()
            )
        },
        || (count() == (4, 4)).then_some(()),
    );
}
