//! Every error line Sluice writes: one constructor per way a record fails,
//! each giving Firehose's error record (see `super`) with the record's data as
//! received. Lines made from what the spool holds give the same bytes when a
//! batch is rebuilt after a restart.

use std::collections::BTreeMap;

use super::{ConversionErrorRecord, DataId, ErrorRecord};
use crate::encode::parquet::ConversionError;
use crate::output::{Failure, HTTP_ENDPOINT_FAILED};
use crate::record::{MAX_RECORD_BYTES, Record, Refusal};
use crate::spool::Damage;

/// The error code of records over the record limit.
const RECORD_TOO_LARGE_CODE: &str = "Source.RecordTooLarge";

/// A record (spool number `seq`) that `failure` kept from its destination, as
/// an error record of type `output_type`; `http-endpoint-failed` records carry
/// Firehose's `subsequenceNumber` and `dataId`.
pub fn delivery_failed_line(
    failure: &Failure,
    record: &Record,
    seq: u64,
    output_type: &str,
) -> Vec<u8> {
    let ids = (output_type == HTTP_ENDPOINT_FAILED).then(|| DataId::of(record, seq));
    ErrorRecord {
        attempts_made: failure.attempts,
        arrival_timestamp: record.arrival_ms,
        error_code: &failure.code,
        error_message: &failure.message,
        attempt_ending_timestamp: failure.ending_ms,
        raw_data: &record.data,
        lambda_arn: None,
        subsequence_number: ids.as_ref().map(|i| i.subsequence_number),
        data_id: ids.as_ref().map(|i| i.data_id.as_str()),
    }
    .to_line()
}

/// A record refused as it entered the stream (by an unpacking processor).
pub fn refused_line(record: &Record, refusal: &Refusal) -> Vec<u8> {
    ErrorRecord {
        attempts_made: 1,
        arrival_timestamp: record.arrival_ms,
        error_code: &refusal.code,
        error_message: &refusal.message,
        attempt_ending_timestamp: record.arrival_ms,
        raw_data: &record.data,
        lambda_arn: None,
        subsequence_number: None,
        data_id: None,
    }
    .to_line()
}

/// A record a processor failed (`processing-failed`, or a partition key that
/// could not be had).
pub fn processing_failed_line(
    input: &crate::transform::Input,
    failure: &crate::transform::Failure,
) -> Vec<u8> {
    ErrorRecord {
        attempts_made: failure.attempts,
        arrival_timestamp: input.arrival_ms,
        error_code: failure.code,
        error_message: &failure.message,
        attempt_ending_timestamp: failure.ending_ms,
        raw_data: &input.data,
        lambda_arn: failure.plugin.as_deref(),
        subsequence_number: None,
        data_id: None,
    }
    .to_line()
}

/// A stretch of the spool that failed its checksum, its bytes as found.
pub fn damaged_line(damage: &Damage, now_ms: i64) -> Vec<u8> {
    let message = format!(
        "spool data failed its CRC check ({} at offset {}, holding record(s) {} to {})",
        damage.segment.display(),
        damage.offset,
        damage.seqs.start,
        damage.seqs.end - 1
    );
    ErrorRecord {
        attempts_made: 1,
        arrival_timestamp: now_ms,
        error_code: "Spool.Corrupt",
        error_message: &message,
        attempt_ending_timestamp: now_ms,
        raw_data: &damage.raw,
        lambda_arn: None,
        subsequence_number: None,
        data_id: None,
    }
    .to_line()
}

/// A record of a batch, as the error lines of whole batches read it: its data,
/// spool number and arrival time.
pub struct BatchRecord<'a> {
    pub data: &'a [u8],
    pub seq: u64,
    pub arrival_ms: i64,
}

/// The records of a batch that did not convert (`failures`, by position in
/// `records`). `kinesis` gives a record's Kinesis sequence and subsequence
/// numbers by spool number, for streams that read Kinesis (contract §4.2).
pub fn conversion_error_lines<'a>(
    records: impl Iterator<Item = BatchRecord<'a>>,
    failures: &[(usize, ConversionError)],
    ending_ms: i64,
    kinesis: &BTreeMap<u64, (String, u64)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut failures = failures.iter().peekable();
    for (i, record) in records.enumerate() {
        let Some((_, error)) = failures.next_if(|(at, _)| *at == i) else {
            continue;
        };
        let ids = kinesis.get(&record.seq);
        out.extend(
            ConversionErrorRecord {
                attempts_made: 1,
                arrival_timestamp: record.arrival_ms,
                last_error_code: error.code,
                last_error_message: &error.message,
                attempt_ending_timestamp: ending_ms,
                raw_data: record.data,
                sequence_number: ids.map(|(sequence, _)| sequence.as_str()),
                sub_sequence_number: ids.map(|(_, sub)| *sub),
            }
            .to_line(),
        );
    }
    out
}

/// Records over the record limit; each line's attempt ending time is the
/// record's arrival, so a rebuild writes the same bytes.
pub fn oversized_lines<'a>(records: impl Iterator<Item = BatchRecord<'a>>) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        let message = format!(
            "The record is {} bytes, over the limit of {MAX_RECORD_BYTES} bytes",
            record.data.len()
        );
        out.extend(
            ErrorRecord {
                attempts_made: 0,
                arrival_timestamp: record.arrival_ms,
                error_code: RECORD_TOO_LARGE_CODE,
                error_message: &message,
                attempt_ending_timestamp: record.arrival_ms,
                raw_data: record.data,
                lambda_arn: None,
                subsequence_number: None,
                data_id: None,
            }
            .to_line(),
        );
    }
    out
}
