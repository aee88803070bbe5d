//! `sluice check`: exit 0 on a valid config, 2 with messages that name the bad key.

use std::process::Command;

fn check(text: &str, ext: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("c.{ext}"));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

const STREAM: &str = "[[delivery_streams]]\nname = \"s\"\n";

#[test]
fn shipped_configs_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("toml" | "yaml")
        ) {
            let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
                .args(["check", "--config"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "config/ must ship the default and examples");
}

#[test]
fn errors_name_the_key_and_what_is_accepted() {
    let cases = [
        (
            format!(
                "{STREAM}buffering = {{ size_mb = 200 }}\ndestination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].buffering.size_mb`: 200 is out of range (accepted: 1 to 128)",
        ),
        (
            format!(
                "{STREAM}buffering = {{ interval_seconds = 901 }}\ndestination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].buffering.interval_seconds`: 901 is out of range (accepted: 0 to 900)",
        ),
        (
            format!("{STREAM}colour = \"red\"\ndestination = {{ type = \"local\", path = \"o\" }}"),
            "unknown field `colour`",
        ),
        (
            format!(
                "{STREAM}compression = \"SNAPPY\"\ndestination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].compression`: unknown compression `SNAPPY` (accepted: none, gzip",
        ),
        (
            format!("{STREAM}destination = {{ type = \"local\" }}"),
            "missing configuration field \"delivery_streams[0]destination.path\"",
        ),
        (
            format!("{STREAM}destination = {{ type = \"ftp\", host = \"b\" }}"),
            "unknown variant `ftp`, expected one of `local`, `s3`, `http`",
        ),
        (
            format!("{STREAM}destination = {{ type = \"s3\", bucket = \"t1\" }}"),
            "destination.bucket`: `t1` is not a valid bucket name",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"s3\", bucket = \"test-bucket\", endpoint = \"127.0.0.1:8333\" }}"
            ),
            "destination.endpoint`: `127.0.0.1:8333` must start with http:// or https://",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"s3\", bucket = \"test-bucket\", access_key_id = \"AK\" }}"
            ),
            "destination.access_key_id`: access_key_id and secret_access_key go together",
        ),
        (
            format!(
                "{STREAM}source = {{ type = \"kafka\", bootstrap_servers = [\"broker\"], topic = \"t\", group_id = \"g\" }}\n\
                 destination = {{ type = \"local\", path = \"o\" }}"
            ),
            "source.bootstrap_servers[0]`: `broker` is not host:port",
        ),
        (
            format!(
                "{STREAM}source = {{ type = \"kafka\", bootstrap_servers = [\"b:9092\"], topic = \"a topic\", group_id = \"g\", start = {{ timestamp = \"yesterday\" }} }}\n\
                 destination = {{ type = \"local\", path = \"o\" }}"
            ),
            "source.topic`: `a topic` is not a Kafka topic name",
        ),
        (
            format!(
                "{STREAM}source = {{ type = \"kafka\", bootstrap_servers = [\"b:9092\"], topic = \"t\", group_id = \"g\", start = {{ timestamp = \"yesterday\" }} }}\n\
                 destination = {{ type = \"local\", path = \"o\" }}"
            ),
            "source.start.timestamp`: `yesterday` is not an RFC 3339 time",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"s3\", bucket = \"test-bucket\", retry_duration_seconds = 700000 }}"
            ),
            "destination.retry_duration_seconds`: 700000 is out of range (accepted: 0 to 604800)",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"s3\", bucket = \"test-bucket\", s3_backup_mode = \"Enabled\", backup_prefix = \"b/!{{firehose:error-output-type}}\" }}"
            ),
            "destination.backup_prefix`: `!{firehose:error-output-type}` and `!{partitionKeyFrom...}` are not allowed",
        ),
        (
            format!(
                "{STREAM}processors = [{{ type = \"wasm\", module = \"p.wasm\", timeout_ms = 0, batch_mb = 7 }}]\ndestination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].processors[0].batch_mb`: 7 is out of range (accepted: 1 to 6)",
        ),
        (
            format!(
                "{STREAM}processors = [{{ type = \"wasm\", module = \"p.wasm\", timeout_ms = 0 }}]\ndestination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].processors[0].timeout_ms`: 0 is out of range (accepted: 1 to 300000)",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"local\", path = \"o\", prefix = \"!{{partitionKeyFromLambda:c}}/\", error_output_prefix = \"e/!{{firehose:error-output-type}}/\" }}"
            ),
            "`!{partitionKeyFromLambda:c}` is a partition key, but this stream has no plugin that supplies partition keys",
        ),
        (
            format!(
                "{STREAM}processors = [{{ type = \"wasm\", module = \"p.wasm\" }}]\ndestination = {{ type = \"local\", path = \"o\", prefix = \"!{{partitionKeyFromQuery:c}}/\", error_output_prefix = \"e/!{{firehose:error-output-type}}/\" }}"
            ),
            "`!{partitionKeyFromQuery:c}` needs a processor { type = \"metadata_extraction\", query = \"{c: ...}\" }",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"s3\", bucket = \"test-bucket\", s3_backup_mode = \"On\" }}"
            ),
            "unknown variant `On`, expected `Disabled` or `Enabled`",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"local\", path = \"o\", prefix = \"!{{timestamp:yyyy}}/\" }}"
            ),
            "delivery_streams[0].destination.error_output_prefix`: is required when prefix uses",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"local\", path = \"o\", prefix = \"!{{foo:bar}}/\", error_output_prefix = \"e/\" }}"
            ),
            "unknown expression namespace `foo`",
        ),
        (
            format!(
                "{STREAM}compression = \"snappy\"\ncompression_level = 3\ndestination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].compression_level`: only applies to gzip and zip",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"local\", path = \"o\" }}\n{STREAM}destination = {{ type = \"local\", path = \"p\" }}"
            ),
            "delivery_streams[1].name`: `s` is used by another delivery stream",
        ),
        (
            "[server]\nlisten = \"nowhere\"\n".to_string()
                + STREAM
                + "destination = { type = \"local\", path = \"o\" }",
            "server.listen`: invalid socket address",
        ),
        (
            format!(
                "{STREAM}compression = \"gzip\"\ndestination = {{ type = \"local\", path = \"o\" }}\n\
                 format = {{ type = \"parquet\", columns = [{{ name = \"a\", type = \"int\" }}] }}"
            ),
            "delivery_streams[0].compression`: must be `none` when format.type = \"parquet\"",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"local\", path = \"o\" }}\n\
                 format = {{ type = \"parquet\", columns = [{{ name = \"a\", type = \"decmal(10,2)\" }}] }}"
            ),
            "unknown type `decmal`",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"local\", path = \"o\" }}\n\
                 format = {{ type = \"parquet\", columns = [{{ name = \"a\", type = \"int\" }}, {{ name = \"A\", type = \"int\" }}] }}"
            ),
            "delivery_streams[0].format.columns[1].name`: `A` is used by another column",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"local\", path = \"o\" }}\n\
                 format = {{ type = \"parquet\", deserializer = {{ type = \"hive\", timestamp_formats = [\"yyyy-ww\"] }}, columns = [{{ name = \"a\", type = \"int\" }}] }}"
            ),
            "delivery_streams[0].format.deserializer`: `yyyy-ww`: the field `ww` is not supported",
        ),
        (
            format!(
                "{STREAM}destination = {{ type = \"http\", url = \"https://x\", error_destination = {{ type = \"local\", path = \"e\" }} }}\n\
                 format = {{ type = \"parquet\", columns = [{{ name = \"a\", type = \"int\" }}] }}"
            ),
            "delivery_streams[0].format.type`: `parquet` needs an object destination",
        ),
        (
            format!(
                "{STREAM}source = {{ type = \"kinesis\", stream_name = \"s\", starting_position = \"AT_TIMESTAMP\" }}\n\
                 destination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].source.timestamp`: AT_TIMESTAMP needs a timestamp",
        ),
        (
            format!(
                "{STREAM}source = {{ type = \"file\", paths = [\"/var/log/[*.log\"] }}\n\
                 destination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].source.paths[0]`: `/var/log/[*.log` is not a valid glob pattern",
        ),
        (
            format!(
                "{STREAM}source = {{ type = \"stdin\", multiline = {{ pattern = \"(\" }} }}\n\
                 destination = {{ type = \"local\", path = \"o\" }}"
            ),
            "delivery_streams[0].source.multiline.pattern`: `(` is not a valid pattern",
        ),
    ];
    for (text, expected) in cases {
        let (code, out) = check(&text, "toml");
        assert_eq!(code, 2, "{text}\n{out}");
        assert!(out.contains(expected), "expected `{expected}` in:\n{out}");
    }
}

#[test]
fn yaml_works_and_valid_configs_exit_0() {
    let yaml = "delivery_streams:\n  - name: web\n    compression: gzip\n    destination: { type: local, path: out }\n";
    let (code, out) = check(yaml, "yaml");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 delivery stream(s): web"), "{out}");
    let (code, out) = check(yaml, "txt");
    assert_eq!(code, 2);
    assert!(out.contains(".toml, .yaml or .yml"), "{out}");
}

#[test]
fn environment_overrides_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        format!("{STREAM}destination = {{ type = \"local\", path = \"o\" }}"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(&path)
        .env("SLUICE__SERVER__LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.listen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
