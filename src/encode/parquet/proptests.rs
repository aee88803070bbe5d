//! Property tests of the Parquet converter on any input: arbitrary JSON (and bytes
//! that are not JSON) against a schema of every column kind, under both
//! deserializers. It never panics; every record either converts or is reported,
//! and `check` (which rebuilds a record's error after a restart) agrees with the
//! batch conversion; the file reads back with as many rows as it claims.

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use serde_json::Value;

use super::*;

const COLUMNS: &[(&str, &str)] = &[
    ("i", "int"),
    ("b", "bigint"),
    ("d", "double"),
    ("ok", "boolean"),
    ("s", "string"),
    ("ts", "timestamp"),
    ("dt", "date"),
    ("amount", "decimal(10,2)"),
    ("tags", "array<string>"),
    ("geo", "struct<lat:double,lon:double>"),
    ("attrs", "map<string,int>"),
];

fn encoder(deserializer: DeserializerConfig) -> ParquetEncoder {
    let columns: Vec<Column> = COLUMNS
        .iter()
        .map(|(name, ty)| Column {
            name: name.to_string(),
            ty: ty.parse().expect("a valid type"),
        })
        .collect();
    ParquetEncoder::new(&columns, &deserializer, WriterSettings::default()).expect("an encoder")
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9 .:T+-]{0,24}".prop_map(Value::String),
        prop::sample::select(vec![
            "2026-12-02 10:11:12",
            "2026-12-02T10:11:12.123Z",
            "1764670272000",
            "12.345",
            "-0.5",
            "1e400",
            "NaN",
            "true",
            "2026-02-30",
        ])
        .prop_map(|s| Value::String(s.into())),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "i", "I", "b", "d", "ok", "s", "ts", "dt", "amount", "tags", "geo", "lat",
                    "lon", "attrs", "x.y", "other",
                ])
                .prop_map(str::to_string),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A record: a JSON object (the usual case), any JSON, two objects in one record,
/// or bytes that need not be JSON at all.
fn object() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::btree_map(
        prop::sample::select(
            COLUMNS
                .iter()
                .map(|(n, _)| n.to_string())
                .collect::<Vec<_>>(),
        ),
        json(),
        0..10,
    )
    .prop_map(|m| {
        Value::Object(m.into_iter().collect())
            .to_string()
            .into_bytes()
    })
}

fn record() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => object(),
        1 => json().prop_map(|v| v.to_string().into_bytes()),
        1 => (object(), object()).prop_map(|(a, b)| [a, b"\n".to_vec(), b].concat()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn deserializer() -> impl Strategy<Value = DeserializerConfig> {
    prop_oneof![
        Just(DeserializerConfig::default()),
        any::<(bool, bool)>().prop_map(|(case_insensitive, dots)| DeserializerConfig::Openx {
            case_insensitive,
            convert_dots_in_json_keys_to_underscores: dots,
            column_to_json_key_mappings: [("s".to_string(), "x.y".to_string())].into(),
        }),
        Just(DeserializerConfig::Hive {
            timestamp_formats: vec!["millis".into(), "yyyy-MM-dd'T'HH:mm:ss.SSSZ".into()],
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_records_convert_or_are_reported_and_check_agrees(
        records in prop::collection::vec(record(), 0..20),
        deserializer in deserializer(),
    ) {
        let encoder = encoder(deserializer);
        let converted = encoder
            .encode(records.iter().map(Vec::as_slice))
            .expect("encoding itself does not fail on bad records");
        let failed: Vec<usize> = converted.failed.iter().map(|(i, _)| *i).collect();
        for (i, r) in records.iter().enumerate() {
            prop_assert_eq!(
                encoder.check(r).is_err(),
                failed.contains(&i),
                "check and encode disagree on {:?}",
                String::from_utf8_lossy(r)
            );
        }
        for (_, e) in &converted.failed {
            prop_assert!(e.code.starts_with("DataFormatConversion."), "{}", e.code);
        }
        let converting = records.len() - failed.len();
        prop_assert!(converted.rows >= converting, "each converted record gives a row at least");
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(converted.body))
            .expect("a Parquet file")
            .build()
            .expect("a reader");
        let mut rows = 0;
        for batch in reader {
            rows += batch.expect("a row group").num_rows();
        }
        prop_assert_eq!(rows, converted.rows);
    }
}
