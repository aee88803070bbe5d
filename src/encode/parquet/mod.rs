//! JSON records to Parquet, with the schema from the config (Firehose's record
//! format conversion, with the Glue table replaced by declared columns).
//!
//! Each record is parsed and converted whole (one record may hold several
//! concatenated JSON objects, each a row); records that do not fit are returned
//! with a Firehose `DataFormatConversion.*` error and the others are written.
//! Rows go to the Arrow writer in batches of [`ROWS_PER_BATCH`], and the writer
//! closes a row group once its encoded size reaches `block_size_mb`, so memory
//! besides the sealed buffer is about one row group plus the file written so far.

mod columns;
mod convert;
mod deserializer;
mod schema;
mod timestamp;
mod types;

use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, GzipLevel, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterVersion as ParquetWriterVersion};
use serde::Deserialize;
use serde_json::Value;

pub use deserializer::DeserializerConfig;
pub use schema::Column;
pub use types::HiveType;

use super::EncodeError;
use columns::ColumnBuilder;
use convert::Cell;
use deserializer::Rules;
use schema::RecordSchema;

/// Rows converted before they are handed to the writer as one record batch:
/// ~1 MiB of 1 KiB records, so that a conversion holds little besides its row
/// group (8,192 held ~8 MiB of Arrow arrays, twice while builders grow).
const ROWS_PER_BATCH: usize = 1024;

/// Firehose's error code for a record that is not JSON.
pub const PARSE_ERROR: &str = "DataFormatConversion.ParseError";
/// Firehose's error code for JSON that does not fit the columns.
pub const MALFORMED_DATA: &str = "DataFormatConversion.MalformedData";

/// Page compression inside the Parquet file (Firehose's `ParquetSerDe.Compression`,
/// plus zstd).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ParquetCompression {
    #[default]
    #[serde(rename = "snappy", alias = "SNAPPY")]
    Snappy,
    #[serde(rename = "gzip", alias = "GZIP")]
    Gzip,
    #[serde(rename = "zstd", alias = "ZSTD")]
    Zstd,
    #[serde(rename = "uncompressed", alias = "UNCOMPRESSED")]
    Uncompressed,
}

impl ParquetCompression {
    pub fn firehose_name(self) -> &'static str {
        match self {
            Self::Snappy => "SNAPPY",
            Self::Gzip => "GZIP",
            Self::Zstd => "ZSTD",
            Self::Uncompressed => "UNCOMPRESSED",
        }
    }

    fn codec(self) -> Codec {
        match self {
            Self::Snappy => Codec::SNAPPY,
            Self::Gzip => Codec::GZIP(GzipLevel::default()),
            Self::Zstd => Codec::ZSTD(ZstdLevel::default()),
            Self::Uncompressed => Codec::UNCOMPRESSED,
        }
    }
}

/// Firehose's `ParquetSerDe.WriterVersion`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum WriterVersion {
    #[default]
    #[serde(rename = "V1", alias = "v1")]
    V1,
    #[serde(rename = "V2", alias = "v2")]
    V2,
}

/// The writer settings of a Parquet format, in the config's units.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    pub compression: ParquetCompression,
    pub block_size_mb: u64,
    pub page_size_kb: u64,
    pub enable_dictionary: bool,
    pub writer_version: WriterVersion,
}

impl Default for WriterSettings {
    /// Firehose's `ParquetSerDe` defaults (with dictionary encoding on).
    fn default() -> Self {
        Self {
            compression: ParquetCompression::Snappy,
            block_size_mb: 256,
            page_size_kb: 1024,
            enable_dictionary: true,
            writer_version: WriterVersion::V1,
        }
    }
}

/// Why a record could not be converted, as its error record tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionError {
    /// `DataFormatConversion.ParseError` or `DataFormatConversion.MalformedData`.
    pub code: &'static str,
    pub message: String,
}

/// A converted batch: the Parquet file (if any record converted), and the records
/// that did not, by their position in the batch.
#[derive(Debug)]
pub struct Converted {
    pub body: Vec<u8>,
    pub rows: usize,
    pub failed: Vec<(usize, ConversionError)>,
}

/// A conversion written to `out`: the rows in it, and the records that did not
/// convert, by their position in the batch.
#[derive(Debug)]
pub struct Written<W> {
    pub out: W,
    pub rows: usize,
    pub failed: Vec<(usize, ConversionError)>,
}

/// Converts batches of JSON records to Parquet files of one schema.
#[derive(Debug)]
pub struct ParquetEncoder {
    schema: RecordSchema,
    rules: Rules,
    props: WriterProperties,
    /// Top-level columns a record must give a value (an Iceberg table's
    /// required fields), by position and name.
    required: Vec<(usize, String)>,
}

impl ParquetEncoder {
    /// Fails on options that `sluice check` reports (bad timestamp formats).
    pub fn new(
        columns: &[Column],
        deserializer: &DeserializerConfig,
        settings: WriterSettings,
    ) -> Result<Self, String> {
        let rules = Rules::new(deserializer)?;
        let mb = |n: u64| usize::try_from(n.max(1)).unwrap_or(usize::MAX / (1 << 20)) << 20;
        let props = WriterProperties::builder()
            .set_compression(settings.compression.codec())
            .set_max_row_group_row_count(None)
            .set_max_row_group_bytes(Some(mb(settings.block_size_mb)))
            .set_data_page_size_limit(
                usize::try_from(settings.page_size_kb.max(1)).unwrap_or(usize::MAX >> 10) << 10,
            )
            .set_dictionary_enabled(settings.enable_dictionary)
            .set_writer_version(match settings.writer_version {
                WriterVersion::V1 => ParquetWriterVersion::PARQUET_1_0,
                WriterVersion::V2 => ParquetWriterVersion::PARQUET_2_0,
            })
            .set_created_by(format!("sluice version {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            schema: RecordSchema::new(columns, &rules),
            rules,
            props,
            required: Vec::new(),
        })
    }

    /// Makes the top-level columns at these positions (of the `columns` given
    /// to [`Self::new`]) required: a record without a value for one does not
    /// convert, rather than failing its whole batch where a writer checks.
    pub fn with_required(mut self, columns: Vec<(usize, String)>) -> Self {
        self.required = columns;
        self
    }

    /// Converts the records into one Parquet file in memory: see [`Self::encode_to`].
    pub fn encode<'a>(
        &self,
        records: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Converted, EncodeError> {
        let Written { out, rows, failed } = self.encode_to(records, Vec::new())?;
        Ok(Converted {
            body: out,
            rows,
            failed,
        })
    }

    /// Converts the records into one Parquet file written to `out` as it is
    /// made (each row group once it is complete), so the file need not be held
    /// whole. Deterministic: the same records give the same bytes, so a batch
    /// rebuilt after a restart overwrites its object with an identical one.
    pub fn encode_to<'a, W: std::io::Write + Send>(
        &self,
        records: impl Iterator<Item = &'a [u8]>,
        out: W,
    ) -> Result<Written<W>, EncodeError> {
        let parquet_error = |e: parquet::errors::ParquetError| EncodeError(e.to_string());
        let mut writer =
            ArrowWriter::try_new(out, self.schema.arrow.clone(), Some(self.props.clone()))
                .map_err(parquet_error)?;
        let (rows, failed) =
            self.record_batches(records, |batch| writer.write(&batch).map_err(parquet_error))?;
        let out = writer.into_inner().map_err(parquet_error)?;
        Ok(Written { out, rows, failed })
    }

    /// Converts the records into Arrow record batches of the columns' schema
    /// ([`Self::arrow_schema`]), handing each to `each` as it is made (a table
    /// format writes them its own way). Returns the rows made and the records
    /// that did not convert, by their position.
    pub fn record_batches<'a>(
        &self,
        records: impl Iterator<Item = &'a [u8]>,
        mut each: impl FnMut(RecordBatch) -> Result<(), EncodeError>,
    ) -> Result<(usize, Vec<(usize, ConversionError)>), EncodeError> {
        let mut builders = self.builders();
        let (mut pending, mut rows, mut failed) = (0usize, 0usize, Vec::new());
        for (i, record) in records.enumerate() {
            match self.rows(record) {
                Ok(record_rows) => {
                    for row in record_rows {
                        for (builder, cell) in builders.iter_mut().zip(row) {
                            builder.append(cell);
                        }
                        pending += 1;
                    }
                }
                Err(e) => failed.push((i, e)),
            }
            if pending >= ROWS_PER_BATCH {
                each(self.batch(&mut builders)?)?;
                rows += pending;
                pending = 0;
            }
        }
        if pending > 0 {
            each(self.batch(&mut builders)?)?;
            rows += pending;
        }
        Ok((rows, failed))
    }

    /// The Arrow schema of the record batches made.
    pub fn arrow_schema(&self) -> &arrow_schema::SchemaRef {
        &self.schema.arrow
    }

    /// Why a record would not convert, if it would not (rebuilding its error record
    /// after a restart).
    pub fn check(&self, record: &[u8]) -> Result<(), ConversionError> {
        self.rows(record).map(drop)
    }

    fn builders(&self) -> Vec<ColumnBuilder> {
        self.schema
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(&c.ty))
            .collect()
    }

    fn batch(&self, builders: &mut [ColumnBuilder]) -> Result<RecordBatch, EncodeError> {
        let columns = builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EncodeError(e.to_string()))?;
        RecordBatch::try_new(Arc::clone(&self.schema.arrow), columns)
            .map_err(|e| EncodeError(e.to_string()))
    }

    /// The rows of one record: each JSON object in it is a row.
    fn rows(&self, record: &[u8]) -> Result<Vec<Vec<Cell>>, ConversionError> {
        let mut rows = Vec::with_capacity(1);
        for value in serde_json::Deserializer::from_slice(record).into_iter::<Value>() {
            let value = value.map_err(|e| ConversionError {
                code: PARSE_ERROR,
                message: format!("The record is not valid JSON: {e}"),
            })?;
            let Value::Object(object) = value else {
                return Err(ConversionError {
                    code: MALFORMED_DATA,
                    message: format!(
                        "Data does not match the schema. Start of Object expected, found {}",
                        convert::describe(&value)
                    ),
                });
            };
            let row = convert::row(&self.schema.root, object, &self.rules).map_err(|m| {
                ConversionError {
                    code: MALFORMED_DATA,
                    message: format!(
                        "Data does not match the schema. Column `{}`: {}",
                        m.path(),
                        m.message
                    ),
                }
            })?;
            if let Some((_, name)) = self
                .required
                .iter()
                .find(|(i, _)| matches!(row.get(*i), Some(Cell::Null)))
            {
                return Err(ConversionError {
                    code: MALFORMED_DATA,
                    message: format!(
                        "Data does not match the schema. Column `{name}` is required and the record has no value for it"
                    ),
                });
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(ConversionError {
                code: PARSE_ERROR,
                message: "The record holds no JSON object".into(),
            });
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int32Type, TimestampMicrosecondType};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn encoder(columns: &[(&str, &str)], block_size_mb: u64) -> ParquetEncoder {
        let columns: Vec<Column> = columns
            .iter()
            .map(|(name, ty)| Column {
                name: name.to_string(),
                ty: ty.parse().unwrap(),
            })
            .collect();
        ParquetEncoder::new(
            &columns,
            &DeserializerConfig::default(),
            WriterSettings {
                block_size_mb,
                ..WriterSettings::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn a_record_without_a_required_column_does_not_convert() {
        let encoder = encoder(&[("id", "bigint"), ("msg", "string")], 64)
            .with_required(vec![(0, "id".to_string())]);
        let records: [&[u8]; 4] = [
            br#"{"id": 1, "msg": "a"}"#,
            br#"{"msg": "no id"}"#,
            br#"{"id": null, "msg": "null id"}"#,
            br#"{"id": 4}"#,
        ];
        let converted = encoder.encode(records.into_iter()).unwrap();
        assert_eq!(converted.rows, 2);
        let failed: Vec<usize> = converted.failed.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, vec![1, 2]);
        assert!(
            converted.failed[0].1.message.contains("`id` is required"),
            "{}",
            converted.failed[0].1.message
        );
    }

    fn read(body: Vec<u8>) -> (Vec<RecordBatch>, usize) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(body)).unwrap();
        let row_groups = builder.metadata().num_row_groups();
        let batches = builder
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        (batches, row_groups)
    }

    #[test]
    fn good_rows_are_written_and_bad_records_returned() {
        let e = encoder(
            &[
                ("n", "int"),
                ("amount", "decimal(10,2)"),
                ("ts", "timestamp"),
            ],
            256,
        );
        let records: Vec<&[u8]> = vec![
            br#"{"n":1,"amount":12.5,"ts":"2026-01-02T03:04:05.123456Z"}"#,
            b"not json",
            br#"{"n":2}{"N":3,"extra":true}"#,
            br#"{"n":"x"}"#,
            br#"[1,2]"#,
            b"  ",
        ];
        let out = e.encode(records.into_iter()).unwrap();
        assert_eq!(out.rows, 3);
        let failed: Vec<_> = out.failed.iter().map(|(i, e)| (*i, e.code)).collect();
        assert_eq!(
            failed,
            vec![
                (1, PARSE_ERROR),
                (3, MALFORMED_DATA),
                (4, MALFORMED_DATA),
                (5, PARSE_ERROR)
            ]
        );
        assert_eq!(
            out.failed[1].1.message,
            "Data does not match the schema. Column `n`: string \"x\" is not a valid int"
        );
        let (batches, _) = read(out.body);
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        let n: Vec<_> = batch.column(0).as_primitive::<Int32Type>().iter().collect();
        assert_eq!(n, vec![Some(1), Some(2), Some(3)]);
        let amount = batch.column(1).as_primitive::<Decimal128Type>();
        assert_eq!(amount.value(0), 1250);
        assert!(arrow_array::Array::is_null(amount, 1));
        let ts = batch.column(2).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(0), 1_767_323_045_123_456);
    }

    #[test]
    fn output_is_deterministic_and_row_groups_follow_the_block_size() {
        let e = encoder(&[("s", "string"), ("n", "bigint")], 1);
        let records: Vec<Vec<u8>> = (0..60_000)
            .map(|i| format!(r#"{{"s":"{:064}","n":{i}}}"#, i * 7919).into_bytes())
            .collect();
        let a = e.encode(records.iter().map(Vec::as_slice)).unwrap();
        let b = e.encode(records.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(a.body, b.body);
        let (batches, row_groups) = read(a.body);
        assert!(
            row_groups > 1,
            "{row_groups} row groups for ~4 MiB at 1 MiB blocks"
        );
        assert_eq!(
            batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
            60_000
        );
    }
}
