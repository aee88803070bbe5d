//! The error lines of batches that hold raw records and find each record's error
//! when encoded: records that did not convert to the stream's format, and records
//! over the record limit. A batch rebuilt after a restart gives the same bytes.

use super::buffer::SealedBatch;
use crate::encode::parquet::{ConversionError, MALFORMED_DATA, ParquetEncoder};
use crate::error_output::{ConversionErrorRecord, ErrorRecord};
use crate::record::MAX_RECORD_BYTES;

/// The error code of records over the record limit.
const RECORD_TOO_LARGE_CODE: &str = "Source.RecordTooLarge";

/// The error lines of the records of a batch that do not convert, and how many.
/// The batch holds the failing records (or, rebuilt after a restart, all the data
/// batch's records): converting each again gives its error.
pub fn conversion_error_lines(
    batch: &SealedBatch,
    parquet: Option<&ParquetEncoder>,
    ending_ms: i64,
) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut count = 0;
    for (data, arrival) in batch.iter() {
        let error = match parquet {
            Some(parquet) => match parquet.check(data) {
                Ok(()) => continue,
                Err(e) => e,
            },
            // The format was turned off since: the reason is no longer known.
            None => ConversionError {
                code: MALFORMED_DATA,
                message: "The record did not convert to the stream's format (no longer configured)"
                    .into(),
            },
        };
        out.extend(
            ConversionErrorRecord {
                attempts_made: 1,
                arrival_timestamp: arrival,
                last_error_code: error.code,
                last_error_message: &error.message,
                attempt_ending_timestamp: ending_ms,
                raw_data: data,
            }
            .to_line(),
        );
        count += 1;
    }
    (out, count)
}

/// The error lines of records over the record limit; each line's attempt ending
/// time is the record's arrival, so a rebuild writes the same bytes.
pub fn oversized_lines(batch: &SealedBatch) -> Vec<u8> {
    let mut out = Vec::new();
    for (data, arrival) in batch.iter() {
        let message = format!(
            "The record is {} bytes, over the limit of {MAX_RECORD_BYTES} bytes",
            data.len()
        );
        out.extend(
            ErrorRecord {
                attempts_made: 0,
                arrival_timestamp: arrival,
                error_code: RECORD_TOO_LARGE_CODE,
                error_message: &message,
                attempt_ending_timestamp: arrival,
                raw_data: data,
                lambda_arn: None,
            }
            .to_line(),
        );
    }
    out
}
