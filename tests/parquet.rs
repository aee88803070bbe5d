//! Record format conversion against real readers: the daemon converts JSON records
//! to Parquet, and every file is read back with pyarrow and with DuckDB, comparing
//! types and values column by column. Records that do not convert must land in the
//! error output with their raw data while the rest of the batch is written.

mod common;

use base64::Engine;
use common::*;
use serde_json::{Value, json};

const ALL_TYPES: &str = r#"columns = [
  { name = "b", type = "boolean" },
  { name = "i8", type = "tinyint" },
  { name = "i16", type = "smallint" },
  { name = "i32", type = "int" },
  { name = "i64", type = "bigint" },
  { name = "f32", type = "float" },
  { name = "f64", type = "double" },
  { name = "amount", type = "decimal(10,2)" },
  { name = "big", type = "decimal(38,9)" },
  { name = "s", type = "string" },
  { name = "c", type = "char(3)" },
  { name = "v", type = "varchar(5)" },
  { name = "d", type = "date" },
  { name = "ts", type = "timestamp" },
  { name = "bin", type = "binary" },
  { name = "tags", type = "array<string>" },
  { name = "counts", type = "map<string,int>" },
  { name = "geo", type = "struct<lat:double,lon:double>" },
  { name = "deep", type = "array<struct<k:string,v:array<map<string,decimal(5,1)>>>>" },
]"#;

/// One stream `p` converting to Parquet into `{dir}/out`, errors under
/// `errors/<type>/`; `format` is the rest of the `[delivery_streams.format]` table.
/// Stream `p` converting to Parquet with the `format` keys, its buffers held
/// for 900 s.
fn config(format: Table) -> String {
    config_sealed_after(format, 900)
}

/// As [`config`], buffers delivered after `interval_seconds`.
fn config_sealed_after(format: Table, interval_seconds: i64) -> String {
    Conf::new()
        .stream(
            Stream::new("p")
                .buffering(64, interval_seconds)
                .errors_by_type()
                .set("format.type", "parquet")
                .merge("format", format),
        )
        .text()
}

/// Puts the records (in one batch, so they share one file in order), stops the
/// daemon (which flushes), and returns the objects written.
fn convert(daemon: &mut Daemon, records: &[&str]) -> Vec<(String, Vec<u8>)> {
    let records: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    assert!(
        put_batch(daemon.addr, "p", &records),
        "put failed:\n{}",
        daemon.log()
    );
    assert!(daemon.stop().success(), "{}", daemon.log());
    objects(&daemon.path("out"))
}

/// Reads the one Parquet object with pyarrow and DuckDB.
fn read_parquet(daemon: &Daemon, objects: &[(String, Vec<u8>)]) -> Value {
    let files: Vec<_> = objects
        .iter()
        .filter(|(k, _)| k.ends_with(".parquet"))
        .collect();
    assert_eq!(files.len(), 1, "one Parquet object: {:?}", keys(objects));
    let path = daemon.path("out").join(&files[0].0);
    py_json("read_parquet.py", &[path.to_str().unwrap()])
}

fn keys(objects: &[(String, Vec<u8>)]) -> Vec<&str> {
    objects.iter().map(|(k, _)| k.as_str()).collect()
}

/// Both readers' rows, which must agree with each other and with `expected`.
fn assert_rows(read: &Value, expected: &[Value]) {
    for reader in ["pyarrow", "duckdb"] {
        let rows = read[reader]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), expected.len(), "{reader} rows: {rows:#?}");
        for (i, (row, want)) in rows.iter().zip(expected).enumerate() {
            for (column, value) in want.as_object().unwrap() {
                assert_eq!(
                    &row[column], value,
                    "{reader}, row {i}, column `{column}`: full row {row:#}"
                );
            }
        }
    }
}

#[test]
fn every_type_reads_back_the_same_in_pyarrow_and_duckdb() {
    let mut daemon = Daemon::start(&config(ALL_TYPES.parse().expect("ALL_TYPES is TOML")));
    let full = r#"{"b":true,"i8":-128,"i16":32767,"i32":-2147483648,"i64":9007199254740993,
        "f32":1.5,"f64":-2.25e-3,"amount":1234.5,"big":"12345678901234567890123456789.123456789",
        "s":"héllo wörld ✓ 日本語 🎉","c":"abcdef","v":"ünïcödé","d":"2026-11-24",
        "ts":"2026-11-24T12:34:56.789012Z","bin":"3q2+7w==","tags":["a","ü",null],
        "counts":{"x":1,"y":null},"geo":{"lat":52.52,"lon":13.405},
        "deep":[{"k":"z","v":[{"m":1.25},null]},null],"ignored":{"x":1}}"#;
    let objects = convert(
        &mut daemon,
        &[
            full,
            r#"{"b":null}"#,
            // Case folding and OpenX's coercions.
            r#"{"B":"false","I32":"42","F64":"2.5","AMOUNT":"-0.005","TAGS":[],"COUNTS":{},"GEO":{"LAT":1}}"#,
            // Every accepted timestamp form.
            r#"{"ts":"2026-11-24T12:34:56Z"}"#,
            r#"{"ts":"2026-11-24T13:34:56.5+01:00"}"#,
            r#"{"ts":"2026-11-24 12:34:56.25"}"#,
            r#"{"ts":1795523696}"#,
            r#"{"ts":1795523696789}"#,
            r#"{"ts":1795523696.123456}"#,
            r#"{"ts":"1795523696"}"#,
        ],
    );
    let (key, _) = objects
        .iter()
        .find(|(k, _)| k.ends_with(".parquet"))
        .expect("a .parquet object");
    assert!(key.starts_with("20"), "Firehose's default layout: {key}");
    assert_eq!(objects.len(), 1, "no error output: {:?}", keys(&objects));
    let read = read_parquet(&daemon, &objects);

    assert_eq!(
        read["pyarrow"]["types"],
        json!({
            "b": "bool", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
            "f32": "float", "f64": "double", "amount": "decimal128(10, 2)",
            "big": "decimal128(38, 9)", "s": "string", "c": "string", "v": "string",
            "d": "date32[day]", "ts": "timestamp[us, tz=UTC]", "bin": "binary",
            "tags": "list<element: string>", "counts": "map<string, int32 ('counts')>",
            "geo": "struct<lat: double, lon: double>",
            "deep": "list<element: struct<k: string, v: list<element: map<string, decimal128(5, 1) ('element')>>>>",
        })
    );
    assert_eq!(
        read["duckdb"]["types"],
        json!({
            "b": "BOOLEAN", "i8": "TINYINT", "i16": "SMALLINT", "i32": "INTEGER", "i64": "BIGINT",
            "f32": "FLOAT", "f64": "DOUBLE", "amount": "DECIMAL(10,2)", "big": "DECIMAL(38,9)",
            "s": "VARCHAR", "c": "VARCHAR", "v": "VARCHAR", "d": "DATE",
            "ts": "TIMESTAMP WITH TIME ZONE", "bin": "BLOB", "tags": "VARCHAR[]",
            "counts": "MAP(VARCHAR, INTEGER)", "geo": "STRUCT(lat DOUBLE, lon DOUBLE)",
            "deep": "STRUCT(k VARCHAR, v MAP(VARCHAR, DECIMAL(5,1))[])[]",
        })
    );
    // Parquet-level: microsecond UTC timestamps, real decimals, snappy pages.
    let columns = &read["parquet"]["columns"];
    assert_eq!(
        columns["ts"]["logical"],
        "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)"
    );
    assert_eq!(
        columns["amount"]["logical"],
        "Decimal(precision=10, scale=2)"
    );
    assert_eq!(columns["big"]["logical"], "Decimal(precision=38, scale=9)");
    assert_eq!(columns["d"]["logical"], "Date");
    assert_eq!(read["parquet"]["codecs"], json!(["SNAPPY"]));
    assert_eq!(read["parquet"]["rows"], 10);

    let null_row = json!({
        "b": null, "i8": null, "i16": null, "i32": null, "i64": null, "f32": null, "f64": null,
        "amount": null, "big": null, "s": null, "c": null, "v": null, "d": null, "ts": null,
        "bin": null, "tags": null, "counts": null, "geo": null, "deep": null,
    });
    let ts = |t: &str| json!({ "ts": t, "b": null, "geo": null });
    assert_rows(
        &read,
        &[
            json!({
                "b": true, "i8": -128, "i16": 32767, "i32": -2147483648_i64,
                "i64": 9007199254740993_i64, "f32": 1.5, "f64": -0.00225, "amount": "1234.50",
                "big": "12345678901234567890123456789.123456789",
                "s": "héllo wörld ✓ 日本語 🎉", "c": "abc", "v": "ünïcö", "d": "2026-11-24",
                "ts": "2026-11-24T12:34:56.789012", "bin": "3q2+7w==", "tags": ["a", "ü", null],
                "counts": { "x": 1, "y": null }, "geo": { "lat": 52.52, "lon": 13.405 },
                "deep": [{ "k": "z", "v": [{ "m": "1.3" }, null] }, null],
            }),
            null_row,
            json!({
                "b": false, "i32": 42, "f64": 2.5, "amount": "-0.01", "tags": [], "counts": {},
                "geo": { "lat": 1.0, "lon": null }, "s": null,
            }),
            ts("2026-11-24T12:34:56.000000"),
            ts("2026-11-24T12:34:56.500000"),
            ts("2026-11-24T12:34:56.250000"),
            ts("2026-11-24T12:34:56.000000"),
            ts("2026-11-24T12:34:56.789000"),
            ts("2026-11-24T12:34:56.123456"),
            ts("2026-11-24T12:34:56.000000"),
        ],
    );
}

#[test]
fn records_that_do_not_convert_go_to_the_error_output_and_the_rest_is_written() {
    let mut daemon = Daemon::start(&config(toml! {
        compression = "gzip"
        columns = [{ name = "n", type = "int" }, { name = "geo", type = "struct<lat:double>" }]
    }));
    let bad = [
        (
            "not json at all",
            "DataFormatConversion.ParseError",
            "not valid JSON",
        ),
        (
            r#"{"n":"abc"}"#,
            "DataFormatConversion.MalformedData",
            "Data does not match the schema. Column `n`: string \"abc\" is not a valid int",
        ),
        (
            r#"{"geo":{"lat":[1]}}"#,
            "DataFormatConversion.MalformedData",
            "Column `geo.lat`: array [1] is not a valid double",
        ),
        (
            r#"[{"n":1}]"#,
            "DataFormatConversion.MalformedData",
            "Start of Object expected",
        ),
        (
            r#"{"n":3000000000}"#,
            "DataFormatConversion.MalformedData",
            "out of range for int",
        ),
    ];
    let mut records = vec![r#"{"n":1}"#];
    records.extend(bad.iter().map(|b| b.0));
    records.push(r#"{"n":2}{"n":3}"#);
    let objects = convert(&mut daemon, &records);

    let read = read_parquet(&daemon, &objects);
    assert_rows(
        &read,
        &[json!({ "n": 1 }), json!({ "n": 2 }), json!({ "n": 3 })],
    );
    assert_eq!(read["parquet"]["codecs"], json!(["GZIP"]));

    let errors: Vec<_> = objects
        .iter()
        .filter(|(k, _)| k.starts_with("errors/format-conversion-failed/"))
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", keys(&objects));
    let text = String::from_utf8_lossy(&errors[0].1);
    assert_eq!(text.lines().count(), bad.len(), "{text}");
    for (raw_line, (raw, code, message)) in text.lines().zip(bad) {
        let positions: Vec<usize> = [
            "attemptsMade",
            "arrivalTimestamp",
            "lastErrorCode",
            "lastErrorMessage",
            "attemptEndingTimestamp",
            "rawData",
        ]
        .iter()
        .map(|f| raw_line.find(&format!("\"{f}\":")).expect(f))
        .collect();
        assert!(
            positions.is_sorted(),
            "Firehose's format-conversion error fields, in order: {raw_line}"
        );
        let line: Value = serde_json::from_str(raw_line).unwrap();
        assert_eq!(line.as_object().unwrap().len(), 6, "{raw_line}");
        let data = base64::engine::general_purpose::STANDARD
            .decode(line["rawData"].as_str().unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(data).unwrap(), raw);
        assert_eq!(line["lastErrorCode"], code);
        let got = line["lastErrorMessage"].as_str().unwrap();
        assert!(got.contains(message), "{got:?} should say {message:?}");
        assert_eq!(line["attemptsMade"], 1);
        assert!(
            line["arrivalTimestamp"].as_i64().unwrap()
                <= line["attemptEndingTimestamp"].as_i64().unwrap()
        );
    }
}

#[test]
fn conversion_metrics_count_records_and_bytes() {
    let text = config_sealed_after(toml! { columns = [{ name = "n", type = "int" }] }, 0);
    let daemon = Daemon::start(&text);
    let records = vec!["{\"n\":1}".to_string(), "{\"n\":\"x\"}".to_string()];
    assert!(put_batch(daemon.addr, "p", &records));
    wait_for_objects(
        &daemon,
        &daemon.path("out"),
        2,
        std::time::Duration::from_secs(20),
    );
    let sample = |result: &str, what: &str| {
        metric(
            &daemon,
            &format!("sluice_conversion_{what}_total{{stream=\"p\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(sample("succeeded", "records"), Some(1.0));
    assert_eq!(sample("succeeded", "bytes"), Some(7.0));
    assert_eq!(sample("failed", "records"), Some(1.0));
    assert_eq!(sample("failed", "bytes"), Some(9.0));
}

#[test]
fn hive_is_strict_and_reads_its_timestamp_formats() {
    let mut daemon = Daemon::start(&config(toml! {
        deserializer = { type = "hive", timestamp_formats = ["dd/MM/yyyy HH:mm:ss", "millis"] }
        columns = [{ name = "n", type = "int" }, { name = "ts", type = "timestamp" }, { name = "s", type = "string" }]
    }));
    let objects = convert(
        &mut daemon,
        &[
            r#"{"N":1,"ts":"24/11/2026 12:34:56"}"#,
            r#"{"n":2,"ts":1795523696789}"#,
            r#"{"n":3,"ts":"2026-11-24 12:34:56.5","s":7}"#,
            r#"{"n":"4"}"#,
            r#"{"s":{"nested":true}}"#,
        ],
    );
    let read = read_parquet(&daemon, &objects);
    assert_rows(
        &read,
        &[
            json!({ "n": 1, "ts": "2026-11-24T12:34:56.000000", "s": null }),
            json!({ "n": 2, "ts": "2026-11-24T12:34:56.789000" }),
            json!({ "n": 3, "ts": "2026-11-24T12:34:56.500000", "s": "7" }),
        ],
    );
    let errors = objects
        .iter()
        .find(|(k, _)| k.starts_with("errors/format-conversion-failed/"))
        .expect("error output");
    let text = String::from_utf8_lossy(&errors.1);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("string \\\"4\\\" is not a valid int"),
        "{text}"
    );
    assert!(
        text.contains("Start of Object found where a string is expected"),
        "{text}"
    );
}

#[test]
fn openx_options_map_keys_to_columns() {
    let mut daemon = Daemon::start(&config(toml! {
        deserializer = {
            type = "openx",
            case_insensitive = false,
            convert_dots_in_json_keys_to_underscores = true,
            column_to_json_key_mappings = { ts = "@timestamp" }
        }
        columns = [{ name = "user_id", type = "string" }, { name = "Mixed", type = "int" }, { name = "ts", type = "timestamp" }]
    }));
    let described = firehose(
        daemon.addr,
        "DescribeDeliveryStream",
        r#"{"DeliveryStreamName":"p"}"#,
    )
    .json();
    let s3 = &described["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"];
    let conversion = &s3["DataFormatConversionConfiguration"];
    assert_eq!(
        conversion["InputFormatConfiguration"]["Deserializer"]["OpenXJsonSerDe"],
        json!({
            "CaseInsensitive": false,
            "ConvertDotsInJsonKeysToUnderscores": true,
            "ColumnToJsonKeyMappings": { "ts": "@timestamp" },
        })
    );
    assert_eq!(
        conversion["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]["BlockSizeBytes"],
        268_435_456
    );
    assert_eq!(s3["CompressionFormat"], "UNCOMPRESSED");
    let objects = convert(
        &mut daemon,
        &[
            r#"{"user.id":"u1","Mixed":1,"@timestamp":"2026-11-24T12:34:56Z","ts":"1999-01-01T00:00:00Z"}"#,
            r#"{"user_id":"u2","mixed":2}"#,
        ],
    );
    let read = read_parquet(&daemon, &objects);
    assert_rows(
        &read,
        &[
            json!({ "user_id": "u1", "Mixed": 1, "ts": "2026-11-24T12:34:56.000000" }),
            json!({ "user_id": "u2", "Mixed": null, "ts": null }),
        ],
    );
}

#[test]
fn after_a_crash_the_batch_and_its_conversion_errors_are_written_once() {
    // The destination folder is a file, so every put fails and is retried: the batch
    // and its conversion-error batch are sealed, and nothing is written yet.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out"), b"not a folder").unwrap();
    let text = config_sealed_after(toml! { columns = [{ name = "n", type = "int" }] }, 0);
    let daemon = Daemon::start_in(dir, &text);
    let records: Vec<String> = (0..200)
        .map(|i| match i % 4 {
            0 => format!("{{\"n\":\"bad-{i}\"}}"),
            _ => format!("{{\"n\":{i}}}"),
        })
        .collect();
    assert!(put_batch(daemon.addr, "p", &records), "{}", daemon.log());
    daemon.wait_for_log("delivery failed, will retry");
    let dir = daemon.into_dir(); // SIGKILL
    std::fs::remove_file(dir.path().join("out")).unwrap();

    let mut daemon = Daemon::start_in(dir, &text);
    assert!(daemon.stop().success(), "{}", daemon.log());
    let objects = objects(&daemon.path("out"));
    let read = read_parquet(&daemon, &objects);
    let expected: Vec<Value> = (0..200)
        .filter(|i| i % 4 != 0)
        .map(|i| json!({ "n": i }))
        .collect();
    assert_rows(&read, &expected);
    let errors: Vec<_> = objects
        .iter()
        .filter(|(k, _)| k.starts_with("errors/format-conversion-failed/"))
        .collect();
    assert_eq!(errors.len(), 1, "one error object: {:?}", keys(&objects));
    let text = String::from_utf8_lossy(&errors[0].1);
    let raw: Vec<String> = text
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap();
            let data = base64::engine::general_purpose::STANDARD
                .decode(line["rawData"].as_str().unwrap())
                .unwrap();
            String::from_utf8(data).unwrap()
        })
        .collect();
    let bad: Vec<String> = records.iter().step_by(4).cloned().collect();
    assert_eq!(raw, bad, "each bad record once, in order");
}

#[test]
fn every_page_codec_and_writer_version_reads_back() {
    for (codec, version, dictionary, expected_codec) in [
        ("zstd", "V2", true, "ZSTD"),
        ("uncompressed", "V1", false, "UNCOMPRESSED"),
        ("GZIP", "V1", true, "GZIP"),
        ("SNAPPY", "V2", false, "SNAPPY"),
    ] {
        let mut daemon = Daemon::start(&config(
            toml! { columns = [{ name = "s", type = "string" }, { name = "n", type = "bigint" }] }
                .into_iter()
                .chain(table([
                    ("compression", codec.into()),
                    ("writer_version", version.into()),
                    ("enable_dictionary", dictionary.into()),
                ]))
                .collect(),
        ));
        let records: Vec<String> = (0..500)
            .map(|i| format!("{{\"s\":\"v{}\",\"n\":{i}}}", i % 7))
            .collect();
        let refs: Vec<&str> = records.iter().map(String::as_str).collect();
        let objects = convert(&mut daemon, &refs);
        let read = read_parquet(&daemon, &objects);
        assert_eq!(
            read["parquet"]["codecs"],
            json!([expected_codec]),
            "{codec}"
        );
        let expected: Vec<Value> = (0..500)
            .map(|i| json!({ "s": format!("v{}", i % 7), "n": i }))
            .collect();
        assert_rows(&read, &expected);
    }
}

#[test]
fn parquet_objects_land_in_s3() {
    let s3 = Seaweed::start();
    let text = format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"p\"\n\
         buffering = {{ size_mb = 64, interval_seconds = 900 }}\n\
         destination = {{ type = \"s3\", bucket = \"{BUCKET}\", endpoint = \"{}\", \
         access_key_id = \"{}\", secret_access_key = \"{}\", prefix = \"lake/\" }}\n\
         [delivery_streams.format]\ntype = \"parquet\"\n\
         columns = [{{ name = \"user\", type = \"string\" }}, {{ name = \"ts\", type = \"timestamp\" }}]\n",
        s3.endpoint, S3_USER.0, S3_USER.1
    );
    let mut daemon = Daemon::start(&text);
    let records: Vec<String> = (0..100)
        .map(|i| format!("{{\"user\":\"ü{i}\",\"ts\":{}}}", 1_795_523_696 + i))
        .collect();
    assert!(put_batch(daemon.addr, "p", &records), "{}", daemon.log());
    assert!(daemon.stop().success(), "{}", daemon.log());
    let objects = s3.objects(BUCKET);
    assert_eq!(objects.len(), 1, "{objects:?}");
    let object = &objects[0];
    assert!(
        object.key.starts_with("lake/") && object.key.ends_with(".parquet"),
        "{}",
        object.key
    );
    assert_eq!(
        object.content_encoding, None,
        "Parquet compresses inside the file"
    );
    let path = daemon.path("from-s3.parquet");
    std::fs::write(&path, &object.body).unwrap();
    let read = py_json("read_parquet.py", &[path.to_str().unwrap()]);
    let expected: Vec<Value> = (0..100)
        .map(|i| {
            let at = chrono::DateTime::from_timestamp(1_795_523_696 + i, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string();
            json!({ "user": format!("ü{i}"), "ts": at })
        })
        .collect();
    assert_rows(&read, &expected);
}

/// A file larger than an upload part (8 MiB) is uploaded while it is converted:
/// SeaweedFS holds it as a multipart object (its ETag ends in `-<parts>`), and
/// pyarrow and DuckDB read every row back in order.
#[test]
fn a_large_parquet_file_is_uploaded_in_parts_as_it_is_made() {
    let s3 = Seaweed::start();
    let text = format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"p\"\n\
         buffering = {{ size_mb = 64, interval_seconds = 900 }}\n\
         destination = {{ type = \"s3\", bucket = \"{BUCKET}\", endpoint = \"{}\", \
         access_key_id = \"{}\", secret_access_key = \"{}\" }}\n\
         [delivery_streams.format]\ntype = \"parquet\"\ncompression = \"uncompressed\"\n\
         enable_dictionary = false\n\
         columns = [{{ name = \"i\", type = \"bigint\" }}, {{ name = \"pad\", type = \"string\" }}]\n",
        s3.endpoint, S3_USER.0, S3_USER.1
    );
    let mut daemon = Daemon::start(&text);
    // 24,000 rows of 520 bytes: about 12.5 MB uncompressed, two parts.
    let pad = |i: usize| format!("{i:0>512}");
    let records: Vec<String> = (0..24_000)
        .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}", pad(i)))
        .collect();
    for chunk in records.chunks(500) {
        assert!(put_batch(daemon.addr, "p", chunk), "{}", daemon.log());
    }
    assert!(daemon.stop().success(), "{}", daemon.log());
    let objects = s3.objects(BUCKET);
    assert_eq!(
        objects.len(),
        1,
        "{:?}",
        objects.iter().map(|o| &o.key).collect::<Vec<_>>()
    );
    let object = &objects[0];
    assert!(
        object.body.len() > 12_000_000,
        "{} bytes",
        object.body.len()
    );
    assert!(
        object.etag.trim_matches('"').ends_with("-2"),
        "a multipart upload of two parts: ETag {}",
        object.etag
    );
    let path = daemon.path("large.parquet");
    std::fs::write(&path, &object.body).unwrap();
    let read = py_json("read_parquet.py", &[path.to_str().unwrap()]);
    for reader in ["pyarrow", "duckdb"] {
        let rows = read[reader]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 24_000, "{reader}");
        for i in [0usize, 11_999, 23_999] {
            assert_eq!(
                rows[i],
                json!({ "i": i, "pad": pad(i) }),
                "{reader} row {i}"
            );
        }
    }
}
