//! The S3 destination (AWS S3, MinIO, SeaweedFS): its settings and checks, and
//! the object store built from them: endpoint, region and credentials. Batches
//! become objects as `super::objects` makes them.
//!
//! Credentials are taken, first found first: the destination's own keys, a named
//! profile of the shared credentials file, the standard AWS environment variables,
//! then the instance or container role. They are never logged.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use serde::Deserialize;

use super::object_store::ObjectStoreSink;
use super::{FailureKind, SinkError};
use crate::config::{BackupMode, ConfigError, ObjectLayout, Secret};
use crate::credentials::{profile_keys, region};

/// A request that takes longer has failed and is retried by the stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the sink for an S3 destination.
pub fn sink(config: &S3Destination) -> Result<ObjectStoreSink, SinkError> {
    let invalid = |message: String| SinkError {
        kind: FailureKind::Configuration,
        code: "S3.InvalidConfiguration".into(),
        message,
    };
    let region = region(config.region.as_deref());
    // Sluice's own retries (with the stream's retry duration) replace the client's.
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 0,
        retry_timeout: REQUEST_TIMEOUT,
    };
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&config.bucket)
        .with_region(region)
        .with_retry(retry)
        .with_client_options(
            ClientOptions::new()
                .with_timeout(REQUEST_TIMEOUT)
                .with_connect_timeout(CONNECT_TIMEOUT),
        );
    if let Some(endpoint) = &config.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    let profile = config
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok());
    match (&config.access_key_id, &config.secret_access_key, profile) {
        (Some(id), Some(secret), _) => {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret.expose());
            if let Some(token) = &config.session_token {
                builder = builder.with_token(token.expose());
            }
        }
        (_, _, Some(profile)) => {
            let keys = profile_keys(&profile).map_err(invalid)?;
            builder = builder
                .with_access_key_id(keys.access_key_id)
                .with_secret_access_key(keys.secret_access_key.expose());
            if let Some(token) = keys.session_token {
                builder = builder.with_token(token.expose());
            }
        }
        _ => {}
    }
    let store = builder
        .build()
        .map_err(|e| invalid(format!("s3://{}: {e}", config.bucket)))?;
    Ok(ObjectStoreSink::s3(Arc::new(store), &config.bucket))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Destination {
    /// The bucket; it must exist (Sluice does not create it).
    pub bucket: String,
    /// An S3-compatible endpoint such as `http://127.0.0.1:8333`: requests are
    /// path-style, and plain HTTP is allowed for `http://` endpoints. Without it,
    /// AWS S3 in `region`.
    pub endpoint: Option<String>,
    /// The region to sign for; default `AWS_REGION`, `AWS_DEFAULT_REGION`, or
    /// `us-east-1`.
    pub region: Option<String>,
    /// Credentials; without them, the `profile`, then the standard AWS environment
    /// variables, then the instance or container role are used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// A profile of `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`).
    pub profile: Option<String>,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub error_output_prefix: String,
    /// Firehose's `CustomTimeZone` (see the local destination's).
    pub time_zone: Option<String>,
    #[serde(default = "crate::config::default_retry_duration")]
    pub retry_duration_seconds: u64,
    #[serde(default)]
    pub s3_backup_mode: BackupMode,
    #[serde(default)]
    pub backup_prefix: String,
}

impl S3Destination {
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

impl S3Destination {
    /// `sluice check`'s checks; `at` turns a key under `destination` into its
    /// path in the file.
    pub fn validate(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if !is_valid_bucket_name(&self.bucket) {
            errors.push(ConfigError::new(
                at("destination.bucket"),
                format!(
                    "`{}` is not a valid bucket name (3 to 63 characters of a-z 0-9 . -, starting and ending with a letter or digit)",
                    self.bucket
                ),
            ));
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            errors.push(ConfigError::new(
                at("destination.endpoint"),
                format!("`{endpoint}` must start with http:// or https://"),
            ));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            errors.push(ConfigError::new(
                at("destination.access_key_id"),
                "access_key_id and secret_access_key go together",
            ));
        }
    }

    /// The `BucketARN` `DescribeDeliveryStream` shows.
    pub fn arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.bucket)
    }
}

/// S3's bucket naming rules (the DNS-compatible ones every S3 store accepts).
fn is_valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3() {
        assert!(is_valid_bucket_name("test-bucket"));
        assert!(is_valid_bucket_name("logs.example.com"));
        for bad in [
            "t1",
            "Test-Bucket",
            "-bucket",
            "bucket-",
            "a..b",
            "under_score",
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }
}
