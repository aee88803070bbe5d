//! What an object holds: a destination's records, the source backup, or error
//! records. Sealed batches record it, so an object rebuilt after a restart is
//! encoded and named as it was the first time.

use serde::{Deserialize, Serialize};

/// The error output type of records whose delivery failed for the whole retry
/// duration (Sluice's own: Firehose drops S3 data after 24 h instead).
pub const DELIVERY_FAILED: &str = "delivery-failed";

/// The error output type of records an HTTP endpoint did not take within its retry
/// duration (Firehose's).
pub const HTTP_ENDPOINT_FAILED: &str = "http-endpoint-failed";

/// The error output type of records that did not convert to the stream's format
/// (Firehose's).
pub const FORMAT_CONVERSION_FAILED: &str = "format-conversion-failed";

/// The error output type of records a transform plugin failed, or that could not
/// be transformed at all (Firehose's, for Lambda).
pub const PROCESSING_FAILED: &str = "processing-failed";

/// The error output type of records over the record limit that a source read
/// (a very long log line; the API refuses them). Sluice's own.
pub const RECORD_TOO_LARGE: &str = "record-too-large";

/// The kind of object a batch becomes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Output {
    /// Records for the destination, under its prefix, in its compression.
    Data,
    /// The records as received, under the backup prefix (`s3_backup_mode`).
    Backup,
    /// Firehose error records under the error output prefix.
    Errors {
        /// The `!{firehose:error-output-type}` value.
        output_type: String,
        /// Why delivery failed, for `delivery-failed` batches: each record's error
        /// line is rebuilt from it, so a restart writes the same bytes.
        failure: Option<Failure>,
        /// The data object a failed batch was last written as, when that write
        /// may have landed although it was not acknowledged (the connection
        /// broke): the error batch is written only if the object is not there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        may_have_landed: Option<String>,
    },
    /// `format-conversion-failed` error records. The batch holds the raw records
    /// (on a rebuild, all of the data batch's): each record's error is found by
    /// converting it again, so the seal carries no per-record text.
    ConversionErrors {
        /// When conversion failed, in epoch milliseconds.
        ending_ms: i64,
        /// The data batch's key: it names the conversion the records did not
        /// fit (for an Iceberg destination, the table). Spools of earlier
        /// builds call it `table_key`, or leave it out.
        #[serde(default, alias = "table_key", skip_serializing_if = "Option::is_none")]
        data_key: Option<String>,
    },
    /// `record-too-large` error records; the batch holds the raw records.
    Oversized,
    /// Error records of records an unpacking processor refused as they entered
    /// the stream (decompression, CloudWatch Logs, de-aggregation). The spool
    /// holds each such record as received with its refusal, so a rebuild makes
    /// the same lines.
    Refused {
        /// The `!{firehose:error-output-type}` value.
        output_type: String,
    },
    /// `processing-failed` error records, one line per record. On a rebuild the
    /// batch holds the raw records and the transform runs again to find each
    /// record's error.
    ProcessingFailed,
}

/// The last failure of a delivery that ran out of retries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub attempts: u32,
    /// When the last attempt ended, in epoch milliseconds.
    pub ending_ms: i64,
}

impl Output {
    pub fn error_output_type(&self) -> Option<&str> {
        match self {
            Self::Errors { output_type, .. } | Self::Refused { output_type } => Some(output_type),
            Self::ConversionErrors { .. } => Some(FORMAT_CONVERSION_FAILED),
            Self::Oversized => Some(RECORD_TOO_LARGE),
            Self::ProcessingFailed => Some(PROCESSING_FAILED),
            Self::Data | Self::Backup => None,
        }
    }

    /// Whether the batch goes to the error output (retried until stored, never
    /// compressed).
    pub fn is_error_output(&self) -> bool {
        self.error_output_type().is_some()
    }
}
