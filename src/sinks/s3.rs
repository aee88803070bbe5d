//! Building an S3-compatible destination: endpoint, region and credentials.
//!
//! Credentials are taken, first found first: the destination's own keys, a named
//! profile of the shared credentials file, the standard AWS environment variables,
//! then the instance or container role. They are never logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use super::object_store::ObjectStoreSink;
use super::{FailureKind, SinkError};
use crate::config::{S3Destination, Secret};

/// A request that takes longer has failed and is retried by the stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_REGION: &str = "us-east-1";

/// Keys read from a profile of the shared credentials file.
struct ProfileKeys {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
}

/// Builds the sink for an S3 destination.
pub fn sink(config: &S3Destination) -> Result<ObjectStoreSink, SinkError> {
    let invalid = |message: String| SinkError {
        kind: FailureKind::Configuration,
        code: "S3.InvalidConfiguration".into(),
        message,
    };
    let region = config
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| DEFAULT_REGION.into());
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

/// The shared credentials file: `AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`.
fn credentials_file() -> Option<PathBuf> {
    std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))
}

/// Reads `profile`'s keys from the shared credentials file (an INI file).
fn profile_keys(profile: &str) -> Result<ProfileKeys, String> {
    let path = credentials_file().ok_or("no shared credentials file (HOME is not set)")?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("profile `{profile}`: cannot read {}: {e}", path.display()))?;
    let ini = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Ini))
        .build()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let key = |name: &str| ini.get_string(&format!("{profile}.{name}")).ok();
    match (key("aws_access_key_id"), key("aws_secret_access_key")) {
        (Some(access_key_id), Some(secret)) => Ok(ProfileKeys {
            access_key_id,
            secret_access_key: Secret::new(secret),
            session_token: key("aws_session_token").map(Secret::new),
        }),
        _ => Err(format!(
            "profile `{profile}` in {} has no aws_access_key_id and aws_secret_access_key",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_s_keys_are_read_from_the_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s1\n\n\
             [sluice]\naws_access_key_id=AKSLUICE\naws_secret_access_key=s2\naws_session_token=t2\n",
        )
        .unwrap();
        // SAFETY: this test alone reads the variable, and sets it before any thread does.
        unsafe { std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &file) };
        let keys = profile_keys("sluice").unwrap();
        assert_eq!(keys.access_key_id, "AKSLUICE");
        assert_eq!(keys.secret_access_key.expose(), "s2");
        assert_eq!(
            keys.session_token.map(|t| t.expose().to_string()),
            Some("t2".into())
        );
        let missing = profile_keys("nope").err().unwrap();
        assert!(missing.contains("profile `nope`"), "{missing}");
    }
}
