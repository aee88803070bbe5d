//! Firehose's error records: what a record that could not be delivered becomes under
//! the error output prefix. One JSON object per line, with the record's raw bytes in
//! base64 and why it failed (contract §4). `lines` makes every one Sluice writes.

mod lines;

pub use lines::{
    BatchRecord, conversion_error_lines, damaged_line, delivery_failed_line, oversized_lines,
    processing_failed_line, refused_line,
};

use base64::Engine;
use serde::Serialize;

/// The `!{firehose:error-output-type}` of records whose spool frame failed its CRC
/// check (Sluice's own: Firehose has no disk spool).
pub const SPOOL_CORRUPT: &str = "spool-corrupt";

/// One failed record, in Firehose's field names and order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord<'a> {
    pub attempts_made: u32,
    /// When the record arrived, in epoch milliseconds.
    pub arrival_timestamp: i64,
    pub error_code: &'a str,
    pub error_message: &'a str,
    /// When the last attempt ended, in epoch milliseconds.
    pub attempt_ending_timestamp: i64,
    #[serde(serialize_with = "base64_bytes")]
    pub raw_data: &'a [u8],
    /// For records a transform plugin failed: the plugin (Lambda's `lambdaArn`;
    /// Sluice gives the module path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda_arn: Option<&'a str>,
    /// For `http-endpoint-failed`: the record's index inside a KPL-aggregated
    /// Kinesis record, 0 otherwise (Firehose's spelling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsequence_number: Option<u64>,
    /// For `http-endpoint-failed`: `<sequence number>.<subsequence number>`; the
    /// Kinesis sequence number, or for other sources the spool's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_id: Option<&'a str>,
}

/// The ids Firehose puts in `http-endpoint-failed` error records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataId {
    pub subsequence_number: u64,
    pub data_id: String,
}

impl DataId {
    /// The ids of a record: its Kinesis sequence and subsequence numbers, or its
    /// spool sequence number `seq` (and 0) when it did not come from Kinesis.
    pub fn of(record: &crate::record::Record, seq: u64) -> Self {
        match &record.kinesis {
            Some(k) => Self {
                subsequence_number: k.sub_sequence_number,
                data_id: format!("{}.{}", k.sequence_number, k.sub_sequence_number),
            },
            None => Self {
                subsequence_number: 0,
                data_id: format!("{seq}.0"),
            },
        }
    }
}

/// A record that did not convert to the stream's format: Firehose names the error
/// fields `lastErrorCode` and `lastErrorMessage` for these (contract §4.2).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversionErrorRecord<'a> {
    pub attempts_made: u32,
    pub arrival_timestamp: i64,
    pub last_error_code: &'a str,
    pub last_error_message: &'a str,
    pub attempt_ending_timestamp: i64,
    #[serde(serialize_with = "base64_bytes")]
    pub raw_data: &'a [u8],
    /// For records read from Kinesis: the Kinesis sequence number (contract §4.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_sequence_number: Option<u64>,
}

impl ErrorRecord<'_> {
    /// The record as one NDJSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        line(self, self.raw_data)
    }
}

impl ConversionErrorRecord<'_> {
    /// The record as one NDJSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        line(self, self.raw_data)
    }
}

fn line(record: &impl Serialize, raw_data: &[u8]) -> Vec<u8> {
    let mut line = serde_json::to_vec(record).unwrap_or_else(|e| {
        // Serializing strings, numbers and base64 cannot fail; keep the raw data anyway.
        format!(
            "{{\"errorCode\":\"Sluice.InternalError\",\"errorMessage\":\"{e}\",\"rawData\":\"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode(raw_data)
        )
        .into_bytes()
    });
    line.push(b'\n');
    line
}

fn base64_bytes<S: serde::Serializer>(data: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_firehose_s_in_order() {
        let line = ErrorRecord {
            attempts_made: 1,
            arrival_timestamp: 1_700_000_000_000,
            error_code: "Spool.Corrupt",
            error_message: "bad crc",
            attempt_ending_timestamp: 1_700_000_000_500,
            raw_data: b"{\"a\":1}",
            lambda_arn: None,
            subsequence_number: None,
            data_id: None,
        }
        .to_line();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"attemptsMade\":1,\"arrivalTimestamp\":1700000000000,\"errorCode\":\"Spool.Corrupt\",\
             \"errorMessage\":\"bad crc\",\"attemptEndingTimestamp\":1700000000500,\"rawData\":\"eyJhIjoxfQ==\"}\n"
        );
    }

    /// Regression (seams issue, case 7): Firehose's id fields of
    /// `http-endpoint-failed` and Kinesis `format-conversion-failed` records.
    #[test]
    fn source_ids_are_firehose_s_fields_in_order() {
        let line = ErrorRecord {
            attempts_made: 5,
            arrival_timestamp: 1,
            error_code: "HttpEndpoint.DestinationException",
            error_message: "m",
            attempt_ending_timestamp: 2,
            raw_data: b"x",
            lambda_arn: None,
            subsequence_number: Some(0),
            data_id: Some("4960.0"),
        }
        .to_line();
        assert!(
            String::from_utf8(line)
                .unwrap()
                .ends_with("\"rawData\":\"eA==\",\"subsequenceNumber\":0,\"dataId\":\"4960.0\"}\n")
        );
        let line = ConversionErrorRecord {
            attempts_made: 1,
            arrival_timestamp: 1,
            last_error_code: "DataFormatConversion.ParseError",
            last_error_message: "m",
            attempt_ending_timestamp: 2,
            raw_data: b"x",
            sequence_number: Some("4959"),
            sub_sequence_number: Some(3),
        }
        .to_line();
        assert!(String::from_utf8(line).unwrap().ends_with(
            "\"rawData\":\"eA==\",\"sequenceNumber\":\"4959\",\"subSequenceNumber\":3}\n"
        ));
    }
}
