//! Building an S3-compatible destination: endpoint, region and credentials.
//!
//! Credentials are taken, first found first: the destination's own keys, a named
//! profile of the shared credentials file, the standard AWS environment variables,
//! then the instance or container role. They are never logged.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use super::object_store::ObjectStoreSink;
use super::{FailureKind, SinkError};
use crate::config::S3Destination;
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
