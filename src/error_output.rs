//! Firehose's error records: what a record that could not be delivered becomes under
//! the error output prefix. One JSON object per line, with the record's raw bytes in
//! base64 and why it failed (contract §4).

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
        }
        .to_line();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"attemptsMade\":1,\"arrivalTimestamp\":1700000000000,\"errorCode\":\"Spool.Corrupt\",\
             \"errorMessage\":\"bad crc\",\"attemptEndingTimestamp\":1700000000500,\"rawData\":\"eyJhIjoxfQ==\"}\n"
        );
    }
}
