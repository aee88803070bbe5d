//! The error lines of batches that hold raw records and find each record's error
//! when encoded: records that did not convert to the stream's format, and records
//! over the record limit. A batch rebuilt after a restart gives the same bytes.

use std::collections::BTreeMap;

use super::buffer::SealedBatch;
use crate::encode::parquet::{ConversionError, MALFORMED_DATA, ParquetEncoder};
use crate::error_output::{ConversionErrorRecord, ErrorRecord};
use crate::record::MAX_RECORD_BYTES;

/// The error code of records over the record limit.
const RECORD_TOO_LARGE_CODE: &str = "Source.RecordTooLarge";

/// The records of a batch that do not convert, by position, with their errors.
/// The batch holds the failing records (or, rebuilt after a restart, all the data
/// batch's records): converting each again gives its error.
pub fn conversion_failures(
    batch: &SealedBatch,
    parquet: Option<&ParquetEncoder>,
) -> Vec<(usize, ConversionError)> {
    batch
        .iter()
        .enumerate()
        .filter_map(|(i, (data, _))| {
            let error = match parquet {
                Some(parquet) => parquet.check(data).err()?,
                // The format was turned off since: the reason is no longer known.
                None => ConversionError {
                    code: MALFORMED_DATA,
                    message:
                        "The record did not convert to the stream's format (no longer configured)"
                            .into(),
                },
            };
            Some((i, error))
        })
        .collect()
}

/// The error lines of a batch's records that did not convert (`failures`, by
/// position). `kinesis` gives a record's Kinesis sequence and subsequence numbers
/// by spool number, for streams that read Kinesis (contract §4.2).
pub fn conversion_error_lines(
    batch: &SealedBatch,
    failures: &[(usize, ConversionError)],
    ending_ms: i64,
    kinesis: &BTreeMap<u64, (String, u64)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut failures = failures.iter().peekable();
    for (i, (data, mark)) in batch.marked().enumerate() {
        let Some((_, error)) = failures.next_if(|(at, _)| *at == i) else {
            continue;
        };
        let ids = kinesis.get(&mark.seq);
        out.extend(
            ConversionErrorRecord {
                attempts_made: 1,
                arrival_timestamp: mark.arrival_ms,
                last_error_code: error.code,
                last_error_message: &error.message,
                attempt_ending_timestamp: ending_ms,
                raw_data: data,
                sequence_number: ids.map(|(sequence, _)| sequence.as_str()),
                sub_sequence_number: ids.map(|(_, sub)| *sub),
            }
            .to_line(),
        );
    }
    out
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
                subsequence_number: None,
                data_id: None,
            }
            .to_line(),
        );
    }
    out
}
