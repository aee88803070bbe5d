//! The destination contract on the configuration side: what each destination
//! kind's settings tell the rest of Sluice (checks, key layout, routing, how
//! it starts, how Firehose describes it), and the settings object destinations
//! share. The kinds are listed in `kinds`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::{SinkError, Sinks};
use crate::config::{ConfigError, ServerConfig, StreamConfig};
use crate::encode::parquet::ParquetEncoder;

/// Firehose's S3 retry duration: failed deliveries are retried for a day.
pub const DEFAULT_RETRY_DURATION_SECONDS: u64 = 86_400;
/// The longest retry duration accepted: a week of records waiting on disk.
pub const MAX_RETRY_DURATION_SECONDS: u64 = 7 * 86_400;

/// The default `retry_duration_seconds` of object destinations (local, S3).
pub fn default_retry_duration() -> u64 {
    DEFAULT_RETRY_DURATION_SECONDS
}

/// What each destination kind's settings provide.
pub trait DestinationKind: Send + Sync {
    /// A short description for logs.
    fn describe(&self) -> String;

    /// Its keys (prefix, error prefix, time zone), retry duration and backup.
    fn layout(&self) -> ObjectLayout<'_>;

    /// The longest `retry_duration_seconds` it accepts.
    fn max_retry_duration_seconds(&self) -> u64 {
        MAX_RETRY_DURATION_SECONDS
    }

    /// `sluice check`'s checks of its own keys and of what in the stream `s`
    /// does not go with it; `at` turns a key under the stream into its path in
    /// the file.
    fn check(&self, s: &StreamConfig, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>);

    /// How records are told apart into buffers: the prefix of data keys and the
    /// values of partition keys a record may lack. By default the destination's
    /// prefix, with none missing.
    fn routing(&self, _s: &StreamConfig) -> KeyRouting {
        KeyRouting {
            prefix: self.layout().prefix.to_string(),
            defaults: BTreeMap::new(),
            inserts_only: false,
        }
    }

    /// The running destination of data batches and the store of error records
    /// and backups.
    fn start(
        &self,
        s: &StreamConfig,
        server: &ServerConfig,
        parquet: Option<Arc<ParquetEncoder>>,
    ) -> Result<Sinks, SinkError>;

    /// The `BucketARN` of the bucket (or folder) that holds error records.
    fn error_bucket_arn(&self) -> String;

    /// `DescribeDeliveryStream`'s member for it (`ExtendedS3DestinationDescription`)
    /// and its value: `processing` is the stream's `ProcessingConfiguration`,
    /// `s3` the members every destination shares (bucket ARN, prefixes,
    /// buffering, compression).
    fn description(&self, s: &StreamConfig, processing: Value, s3: Value) -> (&'static str, Value);
}

/// How records are keyed and buffered apart (see [`DestinationKind::routing`]).
pub struct KeyRouting {
    /// The prefix of data keys, with its `!{...}` expressions.
    pub prefix: String,
    /// Partition keys a record may lack, and the value it then takes.
    pub defaults: BTreeMap<String, String>,
    /// Records carry an operation (`insert`, `update`, `delete`) in their
    /// routing metadata and only inserts are taken; the query may then name
    /// `operation` without the prefix using it.
    pub inserts_only: bool,
}

/// Firehose's `S3BackupMode` for S3 destinations: a copy of the source records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum BackupMode {
    #[default]
    Disabled,
    Enabled,
}

/// The keys and failure handling every object destination (local, S3) has,
/// written flat among its own keys. An Iceberg table's error records use the
/// same, made from its settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectKeys {
    /// Firehose's `Prefix`, with its `!{...}` expressions.
    #[serde(default)]
    pub prefix: String,
    /// Firehose's `ErrorOutputPrefix`.
    #[serde(default)]
    pub error_output_prefix: String,
    /// Firehose's `CustomTimeZone`: an IANA name (`Asia/Tokyo`) for the time in
    /// object keys, prefix and suffix alike; UTC if unset.
    pub time_zone: Option<String>,
    /// How long a failing delivery is retried before its records go to the error
    /// output (as `delivery-failed`).
    #[serde(default = "default_retry_duration")]
    pub retry_duration_seconds: u64,
    /// `Enabled` also writes every record, as received, under `backup_prefix`.
    #[serde(default)]
    pub s3_backup_mode: BackupMode,
    #[serde(default)]
    pub backup_prefix: String,
}

impl ObjectKeys {
    pub fn layout(&self) -> ObjectLayout<'_> {
        ObjectLayout {
            prefix: &self.prefix,
            time_zone: self.time_zone.as_deref(),
            error_output_prefix: &self.error_output_prefix,
            retry_duration_seconds: self.retry_duration_seconds,
            backup_prefix: (self.s3_backup_mode == BackupMode::Enabled)
                .then_some(self.backup_prefix.as_str()),
        }
    }
}

/// What every destination has, borrowed: where keys go and how failures are handled.
pub struct ObjectLayout<'a> {
    pub prefix: &'a str,
    /// Firehose's `CustomTimeZone`: the IANA zone of the time in keys (UTC if unset).
    pub time_zone: Option<&'a str>,
    pub error_output_prefix: &'a str,
    pub retry_duration_seconds: u64,
    pub backup_prefix: Option<&'a str>,
}
