//! The HTTP endpoint destination's settings, as written in the config file,
//! and their checks.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::{HttpClient, HttpEndpoint};
use crate::config::{ConfigError, FormatConfig, Secret, ServerConfig, StreamConfig};
use crate::encode::parquet::ParquetEncoder;
use crate::sinks::kinds::ObjectDestination;
use crate::sinks::settings::{DestinationKind, ObjectLayout};
use crate::sinks::{SinkError, Sinks};

/// Firehose's HTTP endpoint retry duration default (0 to 7,200 s).
pub const DEFAULT_HTTP_RETRY_DURATION_SECONDS: u64 = 300;
pub const MAX_HTTP_RETRY_DURATION_SECONDS: u64 = 7_200;
/// Firehose waits 3 minutes for an endpoint's answer.
pub const DEFAULT_HTTP_REQUEST_TIMEOUT_SECONDS: u64 = 180;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpDestination {
    /// The endpoint; `https://` (as Firehose requires) or, for private networks,
    /// `http://`. Path and query are sent unchanged.
    pub url: String,
    /// Firehose's endpoint `Name`, shown by `DescribeDeliveryStream`.
    pub name: Option<String>,
    /// Sent as `X-Amz-Firehose-Access-Key` when set; never logged.
    pub access_key: Option<Secret>,
    /// `gzip` compresses request bodies (`Content-Encoding: gzip`); default `none`.
    #[serde(default)]
    pub content_encoding: HttpContentEncoding,
    /// How long a failing request is retried (0 to 7,200 s, default 300), reusing
    /// its request id so the receiver can drop duplicates.
    #[serde(default = "default_http_retry_duration")]
    pub retry_duration_seconds: u64,
    /// Sent in `X-Amz-Firehose-Common-Attributes` (at most 50).
    #[serde(default)]
    pub common_attributes: std::collections::BTreeMap<String, String>,
    /// A PEM file of extra certificate authorities to trust, besides the platform's.
    pub ca_file: Option<PathBuf>,
    /// How long an answer may take before the attempt fails (default 180 s).
    #[serde(default = "default_http_timeout")]
    pub request_timeout_seconds: u64,
    /// `FailedDataOnly` (default) or `AllData`: also write every record to the
    /// error destination, under its `prefix`.
    #[serde(default)]
    pub s3_backup_mode: HttpBackupMode,
    /// Where failed records go, as `http-endpoint-failed` error records.
    pub error_destination: ObjectDestination,
}

fn default_http_retry_duration() -> u64 {
    DEFAULT_HTTP_RETRY_DURATION_SECONDS
}

fn default_http_timeout() -> u64 {
    DEFAULT_HTTP_REQUEST_TIMEOUT_SECONDS
}

/// Firehose's `RequestConfiguration.ContentEncoding`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum HttpContentEncoding {
    #[default]
    #[serde(rename = "none", alias = "NONE")]
    None,
    #[serde(rename = "gzip", alias = "GZIP")]
    Gzip,
}

/// Firehose's `S3BackupMode` for HTTP endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum HttpBackupMode {
    #[default]
    FailedDataOnly,
    AllData,
}

impl DestinationKind for HttpDestination {
    fn describe(&self) -> String {
        self.url.clone()
    }

    /// Its retry duration, and the error destination's prefixes (`AllData`
    /// backs up under its `prefix`).
    fn layout(&self) -> ObjectLayout<'_> {
        let errors = self.error_destination.layout();
        ObjectLayout {
            prefix: errors.prefix,
            time_zone: errors.time_zone,
            error_output_prefix: errors.error_output_prefix,
            retry_duration_seconds: self.retry_duration_seconds,
            backup_prefix: (self.s3_backup_mode == HttpBackupMode::AllData)
                .then_some(errors.prefix),
        }
    }

    fn max_retry_duration_seconds(&self) -> u64 {
        MAX_HTTP_RETRY_DURATION_SECONDS
    }

    /// With the stream's buffering, compression and format, which an endpoint
    /// limits.
    fn check(&self, s: &StreamConfig, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if matches!(s.format, FormatConfig::Parquet(_)) {
            errors.push(ConfigError::new(
                at("format.type"),
                "`parquet` needs an object destination (local or s3), as in Firehose",
            ));
        }
        if !(self.url.starts_with("https://") || self.url.starts_with("http://"))
            || self.url.len() > 1000
        {
            errors.push(ConfigError::new(
                at("destination.url"),
                format!(
                    "`{}` must be an https:// (or http://) URL of at most 1000 characters",
                    self.url
                ),
            ));
        }
        if s.buffering.size_mb > 64 {
            errors.push(ConfigError::new(
                at("buffering.size_mb"),
                format!(
                    "{} is out of range for an HTTP endpoint (accepted: 1 to 64)",
                    s.buffering.size_mb
                ),
            ));
        }
        if s.compression != crate::encode::Compression::None {
            errors.push(ConfigError::new(
                at("compression"),
                "must be `none` for an HTTP endpoint: use destination.content_encoding = \"gzip\"",
            ));
        }
        if self.common_attributes.len() > 50 {
            errors.push(ConfigError::new(
                at("destination.common_attributes"),
                "at most 50 attributes",
            ));
        }
        if self.request_timeout_seconds == 0 {
            errors.push(ConfigError::new(
                at("destination.request_timeout_seconds"),
                "must be at least 1",
            ));
        }
        if let Some(path) = &self.ca_file
            && let Err(e) = std::fs::read(path)
        {
            errors.push(ConfigError::new(
                at("destination.ca_file"),
                format!("cannot read {}: {e}", path.display()),
            ));
        }
        self.error_destination.check(
            &|key| at(&format!("destination.error_destination.{key}")),
            errors,
        );
    }

    fn start(
        &self,
        s: &StreamConfig,
        server: &ServerConfig,
        _parquet: Option<Arc<ParquetEncoder>>,
    ) -> Result<Sinks, SinkError> {
        let gzip = match self.content_encoding {
            HttpContentEncoding::None => None,
            HttpContentEncoding::Gzip => Some(
                crate::encode::Codec::new(crate::encode::Compression::Gzip, s.compression_level)
                    .level,
            ),
        };
        let client = HttpClient::new(self, &server.stream_arn(&s.name))?;
        Ok(Sinks {
            destination: Arc::new(HttpEndpoint::new(client, gzip)),
            objects: self.error_destination.store()?,
        })
    }

    fn error_bucket_arn(&self) -> String {
        self.error_destination.arn()
    }

    fn description(&self, s: &StreamConfig, processing: Value, s3: Value) -> (&'static str, Value) {
        let name = self.name.as_deref().unwrap_or(&s.name);
        let backup = self.s3_backup_mode == HttpBackupMode::AllData;
        (
            "HttpEndpointDestinationDescription",
            self.endpoint_description(name, processing, backup, s3),
        )
    }
}
