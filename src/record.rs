//! The unit that flows through Sluice: one record's bytes and when it arrived.
//!
//! Sources create records; everything after ingest treats `data` as opaque bytes.

use bytes::Bytes;

/// Firehose's record limit (1,000 KiB). The API refuses longer records; a source
/// that reads one (a very long log line) sends it to the error output.
pub const MAX_RECORD_BYTES: usize = 1_024_000;

/// One record as a producer sent it (one Firehose `Record.Data`, one NDJSON line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's bytes, exactly as received (after base64 decoding).
    pub data: Bytes,
    /// Arrival time in epoch milliseconds, as Firehose's `approximateArrivalTimestamp`.
    /// Object keys use the oldest record's arrival time.
    pub arrival_ms: i64,
    /// Where the record came from, for records read from a Kinesis stream (Firehose's
    /// `kinesisRecordMetadata`, given to transform plugins).
    pub kinesis: Option<KinesisMeta>,
    /// Set when an unpacking processor (decompression, CloudWatch Logs,
    /// de-aggregation) refused the record as it entered the stream: it is spooled
    /// as received, and goes to the error output rather than the destination.
    pub refused: Option<Box<Refusal>>,
}

/// Why a record was refused as it entered the stream, in Firehose's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `!{firehose:error-output-type}` value (`decompression-failed`,
    /// `processing-failed`).
    pub output_type: String,
    pub code: String,
    pub message: String,
}

/// A Kinesis record's place in its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisMeta {
    pub shard_id: String,
    pub partition_key: String,
    pub sequence_number: String,
    /// The user record's index inside a KPL-aggregated record (0 otherwise).
    pub sub_sequence_number: u64,
    /// When Kinesis accepted the record, in epoch milliseconds.
    pub arrival_ms: i64,
}

impl Record {
    pub fn new(data: impl Into<Bytes>, arrival_ms: i64) -> Self {
        Self {
            data: data.into(),
            arrival_ms,
            kinesis: None,
            refused: None,
        }
    }
}

/// The current wall-clock time in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
