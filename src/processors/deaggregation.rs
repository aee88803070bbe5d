//! Firehose's `RecordDeAggregation`: a record holding several sub-records becomes
//! one record each. `json`: concatenated JSON values, on one line or as JSON
//! lines (the whitespace between them is dropped, hence `append_delimiter`);
//! `delimited`: sub-records separated by a delimiter. As in Firehose, a record
//! of more than 500 sub-records is passed whole.

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

use super::settings::ProcessorKind;
use super::unpacking::{Refused, Unpacker};
use crate::config::{ConfigError, StreamConfig};
use crate::output::PROCESSING_FAILED;

/// `{ type = "deaggregation", sub_record_type = "json" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeaggregationProcessor {
    /// Firehose's `SubRecordType`.
    pub sub_record_type: SubRecordType,
    /// For `delimited`: what separates sub-records (Firehose's `Delimiter`, given
    /// here as text, not base64).
    pub delimiter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubRecordType {
    /// Concatenated JSON values, on one line or as JSON lines.
    Json,
    /// Sub-records separated by `delimiter`.
    Delimited,
}

impl ProcessorKind for DeaggregationProcessor {
    fn firehose_type(&self) -> &'static str {
        "RecordDeAggregation"
    }

    fn type_name(&self) -> &'static str {
        "deaggregation"
    }

    fn stage(&self) -> u8 {
        2
    }

    fn check(
        &self,
        _s: &StreamConfig,
        key: &dyn Fn(&str) -> String,
        errors: &mut Vec<ConfigError>,
    ) {
        match (self.sub_record_type, self.delimiter.as_deref()) {
            (SubRecordType::Delimited, None | Some("")) => errors.push(ConfigError::new(
                key("delimiter"),
                "is required for sub_record_type = \"delimited\"",
            )),
            (SubRecordType::Json, Some(_)) => errors.push(ConfigError::new(
                key("delimiter"),
                "applies only to sub_record_type = \"delimited\"",
            )),
            _ => {}
        }
    }

    fn parameters(&self) -> Vec<(&'static str, String)> {
        let kind = match self.sub_record_type {
            SubRecordType::Json => "JSON",
            SubRecordType::Delimited => "DELIMITED",
        };
        let mut list = vec![("SubRecordType", kind.to_string())];
        if let Some(delimiter) = &self.delimiter {
            list.push((
                "Delimiter",
                base64::engine::general_purpose::STANDARD.encode(delimiter),
            ));
        }
        list
    }
}

/// Firehose's quirk: a record of more sub-records than this is not split.
pub const MAX_SUB_RECORDS: usize = 500;
/// The error code of a record that is not concatenated JSON.
pub const FAILED: &str = "RecordDeAggregation.Failed";

/// Splits records into their sub-records.
pub struct Deaggregation {
    /// `None`: JSON sub-records.
    delimiter: Option<Vec<u8>>,
}

impl Deaggregation {
    pub fn new(config: &DeaggregationProcessor) -> Self {
        let delimiter = match config.sub_record_type {
            SubRecordType::Json => None,
            SubRecordType::Delimited => Some(
                config
                    .delimiter
                    .as_deref()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            ),
        };
        Self { delimiter }
    }
}

impl Unpacker for Deaggregation {
    fn firehose_type(&self) -> &'static str {
        "RecordDeAggregation"
    }

    fn unpack(&self, data: Bytes, _cap: usize, out: &mut Vec<Bytes>) -> Result<(), Refused> {
        let ranges = match &self.delimiter {
            Some(delimiter) => delimited(&data, delimiter),
            None => json_values(&data)?,
        };
        match ranges {
            Some(ranges) => out.extend(ranges.into_iter().map(|(a, b)| data.slice(a..b))),
            None => out.push(data),
        }
        Ok(())
    }
}

/// Where each non-empty piece between delimiters is; `None` past the limit.
fn delimited(data: &[u8], delimiter: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let ends = memchr::memmem::find_iter(data, delimiter).chain(std::iter::once(data.len()));
    for end in ends {
        if end > start {
            if ranges.len() == MAX_SUB_RECORDS {
                return None;
            }
            ranges.push((start, end));
        }
        start = end + delimiter.len();
    }
    Some(ranges)
}

/// Where each JSON value is, without the whitespace around it; `None` past the
/// limit.
fn json_values(data: &[u8]) -> Result<Option<Vec<(usize, usize)>>, Refused> {
    let mut values =
        serde_json::Deserializer::from_slice(data).into_iter::<serde::de::IgnoredAny>();
    let mut ranges = Vec::new();
    let mut start = 0;
    while let Some(value) = values.next() {
        if let Err(e) = value {
            return Err(Refused {
                output_type: PROCESSING_FAILED,
                code: FAILED,
                message: format!("the record is not concatenated JSON sub-records: {e}"),
            });
        }
        if ranges.len() == MAX_SUB_RECORDS {
            return Ok(None);
        }
        let end = values.byte_offset();
        let first = data[start..end]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(end, |i| start + i);
        ranges.push((first, end));
        start = end;
    }
    Ok(Some(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(
        sub: SubRecordType,
        delimiter: Option<&str>,
        data: &[u8],
    ) -> Result<Vec<Bytes>, Refused> {
        let d = Deaggregation::new(&DeaggregationProcessor {
            sub_record_type: sub,
            delimiter: delimiter.map(str::to_string),
        });
        let mut out = Vec::new();
        d.unpack(Bytes::copy_from_slice(data), 1 << 20, &mut out)
            .map(|()| out)
    }

    #[test]
    fn json_objects_on_one_line_or_as_lines_become_records() {
        for data in [
            &b"{\"a\":1}{\"b\":[2]} {\"c\":\"}{\"}"[..],
            b"{\"a\":1}\n{\"b\":[2]}\r\n{\"c\":\"}{\"}\n",
        ] {
            let out = split(SubRecordType::Json, None, data).unwrap();
            assert_eq!(out, [&b"{\"a\":1}"[..], b"{\"b\":[2]}", b"{\"c\":\"}{\"}"]);
        }
    }

    #[test]
    fn broken_json_is_refused() {
        let err = split(SubRecordType::Json, None, b"{\"a\":1}{\"b\":").unwrap_err();
        assert_eq!(err.code, FAILED);
    }

    #[test]
    fn delimited_sub_records_drop_empty_pieces() {
        let out = split(
            SubRecordType::Delimited,
            Some("####"),
            b"a####bb########c####",
        )
        .unwrap();
        assert_eq!(out, [&b"a"[..], b"bb", b"c"]);
    }

    /// Firehose's quirk (contract §6.3): over 500 sub-records, the record is
    /// passed whole; exactly 500 are split.
    #[test]
    fn more_than_500_sub_records_pass_whole() {
        for sub in [SubRecordType::Json, SubRecordType::Delimited] {
            let delimiter = (sub == SubRecordType::Delimited).then_some(",");
            let join = |n: usize| {
                let piece = if delimiter.is_some() { "{}," } else { "{}" };
                piece.repeat(n).into_bytes()
            };
            assert_eq!(split(sub, delimiter, &join(500)).unwrap().len(), 500);
            let whole = split(sub, delimiter, &join(501)).unwrap();
            assert_eq!(whole, [Bytes::from(join(501))]);
        }
    }
}
