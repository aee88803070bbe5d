//! The local folder destination: objects land as files under `path` (keys
//! become relative paths), through the object store shared with S3
//! (`super::object_store`); batches become objects as `super::objects` makes
//! them.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::object_store::ObjectStoreSink;
use super::settings::{DestinationKind, ObjectKeys, ObjectLayout};
use super::{SinkError, Sinks};
use crate::config::{ConfigError, ServerConfig, StreamConfig};
use crate::encode::parquet::ParquetEncoder;

/// `destination = { type = "local", path = "/var/lib/sluice/out", ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDestination {
    pub path: PathBuf,
    /// Prefixes, time zone, retry duration and backup, as every object destination's.
    #[serde(flatten)]
    pub keys: ObjectKeys,
}

impl LocalDestination {
    /// The checks of its own keys; `at` turns one (`path`) into its path in the file.
    pub fn check_own(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if self.path.as_os_str().is_empty() {
            errors.push(ConfigError::new(at("path"), "must not be empty"));
        }
    }

    /// The `BucketARN` `DescribeDeliveryStream` shows for the folder.
    pub fn arn(&self) -> String {
        format!("arn:sluice:local:::{}", self.path.display())
    }
}

impl DestinationKind for LocalDestination {
    fn describe(&self) -> String {
        format!("local:{}", self.path.display())
    }

    fn layout(&self) -> ObjectLayout<'_> {
        self.keys.layout()
    }

    fn check(&self, _s: &StreamConfig, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        self.check_own(&|key| at(&format!("destination.{key}")), errors);
    }

    fn start(
        &self,
        s: &StreamConfig,
        _server: &ServerConfig,
        parquet: Option<Arc<ParquetEncoder>>,
    ) -> Result<Sinks, SinkError> {
        let store = Arc::new(ObjectStoreSink::local(&self.path)?);
        Ok(super::objects::sinks(store, s, parquet))
    }

    fn error_bucket_arn(&self) -> String {
        self.arn()
    }

    fn description(&self, s: &StreamConfig, processing: Value, s3: Value) -> (&'static str, Value) {
        super::objects::description(s, processing, s3)
    }
}
