//! Every compression format, opened by a standard reader: gzip(1), Python's zipfile,
//! python-snappy's Hadoop stream decoder and snappy-java's own SnappyInputStream.
//! Each must give back the exact bytes put, under the right extension.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// ~300 KB of log-like lines: several snappy blocks, and compressible.
fn payload_lines() -> Vec<String> {
    (0..3000)
        .map(|i| {
            format!(
                "{{\"i\":{i},\"msg\":\"user {} did thing {} at step {}\"}}\n",
                i % 97,
                i * 7919 % 1000,
                i
            )
        })
        .collect()
}

/// Puts the payload (6 batches of 500), stops the daemon, decodes the one object
/// with a standard reader, checks it is the exact bytes put, and returns its key.
fn deliver_with(compression: &str, extra: Table) -> String {
    deliver_and_read(compression, extra, compression)
}

/// `deliver_with`, decoding with `reader` (see `decode`).
fn deliver_and_read(compression: &str, extra: Table, reader: &str) -> String {
    let mut stream = Stream::new("c").set("compression", compression);
    for (key, value) in extra {
        stream = stream.set(&key, value);
    }
    let config = Conf::new().stream(stream).text();
    let mut d = Daemon::start(&config);
    let lines = payload_lines();
    for chunk in lines.chunks(500) {
        let records: Vec<serde_json::Value> = chunk
            .iter()
            .map(|l| serde_json::json!({ "Data": base64_std(l.as_bytes()) }))
            .collect();
        let req = serde_json::json!({ "DeliveryStreamName": "c", "Records": records }).to_string();
        let r = firehose(d.addr, "PutRecordBatch", &req);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    assert!(d.stop().success(), "{}", d.log());
    let objects = objects(&d.path("out"));
    assert_eq!(
        objects.len(),
        1,
        "one object expected: {:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let key = objects[0].0.clone();
    let decoded = decode(reader, &d.path("out").join(&key));
    let expected = lines.concat().into_bytes();
    assert!(
        decoded == expected,
        "decoded {key} differs from what was put ({} vs {} bytes)",
        decoded.len(),
        expected.len()
    );
    key
}

fn base64_std(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("run decoder");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn decode(compression: &str, file: &Path) -> Vec<u8> {
    match compression {
        "none" | "UNCOMPRESSED" => std::fs::read(file).unwrap(),
        "gzip" | "GZIP" => run(Command::new("gzip").arg("-dc").arg(file)),
        "zip" | "zip-stored" => py("decode.py", &[compression, file.to_str().unwrap()]).stdout,
        "hadoop_snappy" => py("decode.py", &["hadoop_snappy", file.to_str().unwrap()]).stdout,
        "snappy" | "Snappy" => {
            let _ = tools(); // installs java and snappy-java
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/SnappyJavaCat.java");
            run(Command::new("java")
                .args([
                    "-Dorg.xerial.snappy.use.systemlib=true",
                    "-Djava.library.path=/usr/lib/x86_64-linux-gnu/jni",
                    "-cp",
                    "/usr/share/java/snappy-java.jar",
                ])
                .arg(src)
                .arg(file))
        }
        other => panic!("no decoder for {other}"),
    }
}

#[test]
fn gzip_opens_with_gunzip() {
    let key = deliver_with("gzip", Table::new());
    assert!(key.ends_with(".gz"), "{key}");
}

#[test]
fn gzip_level_1_and_firehose_spelling_work() {
    let key = deliver_with("GZIP", toml! { compression_level = 1 });
    assert!(key.ends_with(".gz"), "{key}");
}

/// Regression (wedges issue): `compression = "zip"` with `compression_level = 0`
/// passed `sluice check`, then every encoding failed and the records were
/// retried for ever. Level 0 is a stored entry, as `zip -0` writes; Python's
/// zipfile reads it, and so does gzip at level 0.
#[test]
fn level_0_stores_for_zip_and_gzip() {
    deliver_and_read("zip", toml! { compression_level = 0 }, "zip-stored");
    deliver_with("gzip", toml! { compression_level = 0 });
}

#[test]
fn zip_holds_one_uuid_named_deflated_entry() {
    let config = Conf::new()
        .stream(Stream::new("c").set("compression", "zip"))
        .text();
    let mut d = Daemon::start(&config);
    let r = firehose(
        d.addr,
        "PutRecord",
        r#"{"DeliveryStreamName":"c","Record":{"Data":"aGVsbG8gemlwCg=="}}"#,
    );
    assert_eq!(r.status, 200);
    assert!(d.stop().success());
    let objects = objects(&d.path("out"));
    let key = &objects[0].0;
    assert!(key.ends_with(".zip"), "{key}");
    let out = py(
        "decode.py",
        &["zip", d.path("out").join(key).to_str().unwrap()],
    );
    assert_eq!(out.stdout, b"hello zip\n");
    let names: Vec<String> = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(names.len(), 1);
    assert!(
        uuid::Uuid::parse_str(&names[0]).is_ok(),
        "entry must be named by a uuid: {names:?}"
    );
    // Sluice names the entry after the object's own uuid.
    assert!(
        key.ends_with(&format!("{}.zip", names[0])),
        "{key} vs {names:?}"
    );
    // And a large payload round-trips through the same reader.
    deliver_with("zip", Table::new());
}

#[test]
fn snappy_opens_with_snappy_java() {
    let key = deliver_with("snappy", Table::new());
    assert!(key.ends_with(".snappy"), "{key}");
}

#[test]
fn hadoop_snappy_opens_with_python_snappy_hadoop_decoder() {
    let key = deliver_with("hadoop_snappy", Table::new());
    assert!(key.ends_with(".snappy"), "{key}");
}

#[test]
fn uncompressed_has_no_extension_and_file_extension_replaces_it() {
    let key = deliver_with("none", Table::new());
    assert!(
        key.rsplit('/').next().unwrap().split('-').count() == 1 + 1 + 6 + 5,
        "{key}"
    );
    let key = deliver_with("gzip", toml! { file_extension = ".json.gz" });
    assert!(
        key.ends_with(".json.gz") && !key.ends_with(".gz.json.gz"),
        "{key}"
    );
}
