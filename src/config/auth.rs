//! `[server.auth]`: who may write to the direct-PUT endpoint. Real Firehose clients
//! sign every request with SigV4; with `mode = "sigv4"` Sluice checks those
//! signatures against the keys listed here, each allowed on some streams.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// How requests to the Firehose API and the NDJSON endpoint are authenticated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub mode: AuthMode,
    /// `mode = "none"` on an address other than loopback is refused unless this
    /// says it is meant (a sidecar on a private network, say).
    #[serde(default)]
    pub allow_unauthenticated: bool,
    #[serde(default)]
    pub keys: Vec<AccessKey>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Any request is taken (the default, for loopback).
    #[default]
    None,
    /// Requests must be signed with SigV4 by one of `keys`.
    Sigv4,
}

/// One access key: its secret, inline or in a file (as a mounted secret), and
/// the streams it may write to and describe (`"*"`: all).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    pub access_key_id: String,
    secret_access_key: Option<String>,
    secret_access_key_file: Option<PathBuf>,
    pub streams: Vec<String>,
}

/// Secrets never reach a log, even a debug one.
impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("secret_access_key_file", &self.secret_access_key_file)
            .field("streams", &self.streams)
            .finish()
    }
}

impl AccessKey {
    /// The secret, from the config or its file (trailing newline dropped).
    pub fn secret(&self) -> Result<String, String> {
        match (&self.secret_access_key, &self.secret_access_key_file) {
            (Some(secret), None) => Ok(secret.clone()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            _ => Err("give exactly one of secret_access_key and secret_access_key_file".into()),
        }
    }

    /// Whether the key may act on `stream`.
    pub fn allows(&self, stream: &str) -> bool {
        self.streams.iter().any(|s| s == "*" || s == stream)
    }
}

impl AuthConfig {
    /// Checks the keys (secrets readable, streams known) and refuses an open
    /// endpoint on a non-loopback address unless it is meant.
    pub fn validate(
        &self,
        listen: &std::net::SocketAddr,
        streams: &[&str],
        errors: &mut Vec<ConfigError>,
    ) {
        match self.mode {
            AuthMode::None if !listen.ip().is_loopback() && !self.allow_unauthenticated => {
                errors.push(ConfigError::new(
                    "server.auth.mode",
                    format!(
                        "`none` lets anyone who can reach {listen} write to every stream: set mode = \"sigv4\" \
                         with keys, or allow_unauthenticated = true if that is meant"
                    ),
                ));
            }
            AuthMode::Sigv4 if self.keys.is_empty() => errors.push(ConfigError::new(
                "server.auth.keys",
                "mode = \"sigv4\" needs at least one key",
            )),
            _ => {}
        }
        let mut seen = std::collections::HashSet::new();
        for (i, key) in self.keys.iter().enumerate() {
            let at = |k: &str| format!("server.auth.keys[{i}].{k}");
            if key.access_key_id.is_empty() || !seen.insert(key.access_key_id.as_str()) {
                errors.push(ConfigError::new(
                    at("access_key_id"),
                    "must be given, once per key",
                ));
            }
            match key.secret() {
                Ok(secret) if secret.is_empty() => {
                    errors.push(ConfigError::new(at("secret_access_key"), "is empty"))
                }
                Ok(_) => {}
                Err(e) => errors.push(ConfigError::new(at("secret_access_key"), e)),
            }
            if key.streams.is_empty() {
                errors.push(ConfigError::new(
                    at("streams"),
                    "name the streams the key may write to, or [\"*\"]",
                ));
            }
            for name in &key.streams {
                if name != "*" && !streams.contains(&name.as_str()) {
                    errors.push(ConfigError::new(
                        at("streams"),
                        format!("`{name}` is not a delivery stream"),
                    ));
                }
            }
        }
    }
}
