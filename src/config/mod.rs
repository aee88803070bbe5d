//! Sluice's typed configuration: one file (TOML or YAML) plus `SLUICE__` environment
//! overrides, loaded with the `config` crate and checked before anything starts.
//!
//! Every error names the key it is about (`delivery_streams[0].buffering.size_mb`)
//! and what is accepted, so `sluice check` can tell an operator what to fix.

mod auth;
mod load;
mod model;
#[cfg(test)]
mod proptests;
mod validate;
pub use validate::is_valid_stream_name;

pub use auth::{AccessKey, AuthConfig, AuthMode};
pub use load::{DEFAULT_CONFIG, load};
pub use model::*;

/// A configuration problem, tied to the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config error at `{key}`: {message}")]
pub struct ConfigError {
    /// The key path, such as `delivery_streams[0].buffering.size_mb`.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// The streams' names for a one-line summary (`sluice check`): all of them
    /// when few, else the first ten and how many more.
    pub fn stream_names(&self) -> String {
        const SHOWN: usize = 10;
        let names = &self.delivery_streams;
        let shown: Vec<&str> = names.iter().take(SHOWN).map(|s| s.name.as_str()).collect();
        let mut text = shown.join(", ");
        if names.len() > SHOWN {
            text.push_str(&format!(" and {} more", names.len() - SHOWN));
        }
        text
    }
}

/// All the problems found in one configuration, so an operator fixes them in one go.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);
