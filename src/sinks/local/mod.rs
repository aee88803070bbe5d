//! The local folder destination: objects land as files under `path` (keys
//! become relative paths), through the object store shared with S3
//! (`super::object_store`); batches become objects as `super::objects` makes
//! them.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{BackupMode, ConfigError, ObjectLayout};

/// `destination = { type = "local", path = "/var/lib/sluice/out", ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDestination {
    pub path: PathBuf,
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
    #[serde(default = "crate::config::default_retry_duration")]
    pub retry_duration_seconds: u64,
    /// `Enabled` also writes every record, as received, under `backup_prefix`.
    #[serde(default)]
    pub s3_backup_mode: BackupMode,
    #[serde(default)]
    pub backup_prefix: String,
}

impl LocalDestination {
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

impl LocalDestination {
    /// `sluice check`'s checks; `at` turns a key under `destination` into its
    /// path in the file.
    pub fn validate(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if self.path.as_os_str().is_empty() {
            errors.push(ConfigError::new(
                at("destination.path"),
                "must not be empty",
            ));
        }
    }

    /// The `BucketARN` `DescribeDeliveryStream` shows for the folder.
    pub fn arn(&self) -> String {
        format!("arn:sluice:local:::{}", self.path.display())
    }
}
