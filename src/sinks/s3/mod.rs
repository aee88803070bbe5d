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

use serde_json::Value;

use super::object_store::ObjectStoreSink;
use super::settings::{DestinationKind, ObjectKeys, ObjectLayout};
use super::{FailureKind, SinkError, Sinks};
use crate::aws::AwsConnection;
use crate::config::{ConfigError, ServerConfig, StreamConfig};
use crate::encode::parquet::ParquetEncoder;

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
    let region = config.aws.region();
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
    if let Some(endpoint) = &config.aws.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    if let Some(keys) = config.aws.static_keys().map_err(invalid)? {
        builder = builder
            .with_access_key_id(keys.access_key_id)
            .with_secret_access_key(keys.secret_access_key.expose());
        if let Some(token) = keys.session_token {
            builder = builder.with_token(token.expose());
        }
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
    /// Endpoint, region and credentials, as every AWS-backed component's.
    #[serde(flatten)]
    pub aws: AwsConnection,
    /// Prefixes, time zone, retry duration and backup, as every object destination's.
    #[serde(flatten)]
    pub keys: ObjectKeys,
}

impl S3Destination {
    /// The checks of its own keys; `at` turns one (`bucket`) into its path in the file.
    pub fn check_own(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if !is_valid_bucket_name(&self.bucket) {
            errors.push(ConfigError::new(
                at("bucket"),
                format!(
                    "`{}` is not a valid bucket name (3 to 63 characters of a-z 0-9 . -, starting and ending with a letter or digit)",
                    self.bucket
                ),
            ));
        }
        self.aws.check(at, errors);
    }

    /// The `BucketARN` `DescribeDeliveryStream` shows.
    pub fn arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.bucket)
    }
}

impl DestinationKind for S3Destination {
    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
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
        Ok(super::objects::sinks(Arc::new(sink(self)?), s, parquet))
    }

    fn error_bucket_arn(&self) -> String {
        self.arn()
    }

    fn description(&self, s: &StreamConfig, processing: Value, s3: Value) -> (&'static str, Value) {
        super::objects::description(s, processing, s3)
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
