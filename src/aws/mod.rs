//! Talking to AWS (or an S3- or Kinesis-compatible server): the connection
//! settings every AWS-backed component shares, and where credentials come from
//! (`credentials`).

pub mod credentials;

use serde::Deserialize;

use crate::config::{ConfigError, Secret};
use credentials::{StaticKeys, profile_keys};

/// Endpoint, region and credentials, written flat among a component's own keys
/// (`endpoint = ...` beside `bucket = ...`): the S3 and Iceberg destinations and
/// the Kinesis source take the same ones, with the same checks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AwsConnection {
    /// A compatible endpoint such as `http://127.0.0.1:8333` (path-style
    /// requests; plain HTTP allowed for `http://`). Without it, AWS's endpoint
    /// for `region`.
    pub endpoint: Option<String>,
    /// The region to sign for; default `AWS_REGION`, `AWS_DEFAULT_REGION`, or
    /// `us-east-1`.
    pub region: Option<String>,
    /// Credentials; without them, the `profile`, then the standard AWS
    /// environment variables (and, for S3, the instance or container role).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// A profile of `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`);
    /// default `AWS_PROFILE`.
    pub profile: Option<String>,
}

impl AwsConnection {
    /// `sluice check`'s checks; `at` turns a key of the component (`endpoint`)
    /// into its path in the file.
    pub fn check(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            errors.push(ConfigError::new(
                at("endpoint"),
                format!("`{endpoint}` must start with http:// or https://"),
            ));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            errors.push(ConfigError::new(
                at("access_key_id"),
                "access_key_id and secret_access_key go together",
            ));
        }
    }

    /// The region to sign for.
    pub fn region(&self) -> String {
        credentials::region(self.region.as_deref())
    }

    /// The keys written in the settings, else the profile's (the configured
    /// one, else `AWS_PROFILE`'s); `None` leaves the choice to the client
    /// (environment variables, an instance role).
    pub fn static_keys(&self) -> Result<Option<StaticKeys>, String> {
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            return Ok(Some(StaticKeys {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: self.session_token.clone(),
            }));
        }
        match self
            .profile
            .clone()
            .or_else(|| std::env::var("AWS_PROFILE").ok())
        {
            Some(profile) => profile_keys(&profile).map(Some),
            None => Ok(None),
        }
    }
}
