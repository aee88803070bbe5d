//! Reading a torture run's objects back: each object's body checked against
//! what its key says (compression, Parquet, error records) and the ids it holds.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;

use crate::records;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const ERROR_TYPES: &[&str] = &[
    "delivery-failed",
    "record-too-large",
    "processing-failed",
    "format-conversion-failed",
    "spool-corrupt",
    "http-endpoint-failed",
    "decompression-failed",
];

/// The ids found in every object, data and error output alike, after checking
/// that each object's body is what its key says.
pub fn landed(objects: Vec<(String, Vec<u8>)>) -> BTreeMap<u32, Vec<String>> {
    let mut found: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (key, body) in objects {
        // The default error layout joins the prefix and the type with no slash
        // (`logsdelivery-failed/...`), as Firehose does.
        let is_error = key
            .split('/')
            .any(|s| ERROR_TYPES.iter().any(|t| s.ends_with(t)));
        let ids = if is_error {
            String::from_utf8(body)
                .unwrap_or_else(|_| panic!("{key}: error output is not text"))
                .lines()
                .flat_map(|line| {
                    let v: serde_json::Value =
                        serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: {e}: {line}"));
                    let raw = B64.decode(v["rawData"].as_str().expect("rawData")).unwrap();
                    records::ids(&raw, &key)
                })
                .collect()
        } else if key.ends_with(".parquet") {
            parquet_ids(body, &key)
        } else if key.ends_with(".gz") {
            let mut raw = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..])
                .read_to_end(&mut raw)
                .unwrap_or_else(|e| panic!("{key} is not gzip: {e}"));
            records::ids(&raw, &key)
        } else if key.ends_with(".snappy") {
            records::ids(&unsnappy(&body, &key), &key)
        } else if key.ends_with(".zip") {
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body))
                .unwrap_or_else(|e| panic!("{key} is not a zip: {e}"));
            assert_eq!(archive.len(), 1, "{key}");
            let mut raw = Vec::new();
            archive.by_index(0).unwrap().read_to_end(&mut raw).unwrap();
            records::ids(&raw, &key)
        } else {
            records::ids(&body, &key)
        };
        for id in ids {
            found.entry(id).or_default().push(key.clone());
        }
    }
    found
}

/// A `.snappy` object's bytes: snappy-java's stream format (Firehose's
/// `Snappy`: a 16-byte header, then length-prefixed raw blocks) or Hadoop's
/// block framing (`HADOOP_SNAPPY`: each block states both its lengths).
fn unsnappy(body: &[u8], key: &str) -> Vec<u8> {
    const JAVA: &[u8] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
    let be = |b: &[u8], at: usize| {
        let word = b
            .get(at..at + 4)
            .unwrap_or_else(|| panic!("{key}: cut short at {at}"));
        u32::from_be_bytes(word.try_into().unwrap()) as usize
    };
    let block = |b: &[u8]| {
        snap::raw::Decoder::new()
            .decompress_vec(b)
            .unwrap_or_else(|e| panic!("{key}: not a snappy block: {e}"))
    };
    let mut out = Vec::new();
    if let Some(mut rest) = body.strip_prefix(JAVA) {
        while !rest.is_empty() {
            let n = be(rest, 0);
            out.extend(block(&rest[4..4 + n]));
            rest = &rest[4 + n..];
        }
    } else {
        let mut rest = body;
        while !rest.is_empty() {
            let (raw_len, n) = (be(rest, 0), be(rest, 4));
            let raw = block(&rest[8..8 + n]);
            assert_eq!(raw.len(), raw_len, "{key}: a Hadoop block's length");
            out.extend(raw);
            rest = &rest[8 + n..];
        }
    }
    out
}

/// The `id` column of a Parquet object, read with the parquet crate's reader.
fn parquet_ids(body: Vec<u8>, key: &str) -> Vec<u32> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(body))
        .unwrap_or_else(|e| panic!("{key} is not Parquet: {e}"))
        .build()
        .unwrap_or_else(|e| panic!("{key}: {e}"));
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap_or_else(|e| panic!("{key}: {e}"));
        let column = batch.column_by_name("id").expect("an id column");
        let column = column
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .expect("id is a bigint");
        ids.extend(column.iter().map(|v| v.expect("an id") as u32));
    }
    ids
}
