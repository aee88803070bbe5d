//! The file source's settings and checks.

use serde::Deserialize;
use serde_json::{Value, json};

use super::FileTail;
use crate::config::{ConfigError, ServerConfig};
use crate::pipeline::StreamHandle;
use crate::sources::lines::{MultilineConfig, check_cutting, default_delimiter};
use crate::sources::settings::SourceKind;
use crate::sources::{Context, Source};

/// Where tailing starts in a file found at start-up with no checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// Only lines written from now on (as `tail -f`).
    #[default]
    End,
    /// The whole file.
    Beginning,
}

/// Tailing files matched by glob patterns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// Glob patterns (`/var/log/app/*.log`); files that start matching later are
    /// picked up, from their beginning.
    pub paths: Vec<String>,
    /// For files present at the first start: `end` (default) or `beginning`.
    #[serde(default)]
    pub start_at: StartAt,
    /// What ends a record; it is kept at the end of the record (default `"\n"`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Joins continuation lines to the line they continue.
    pub multiline: Option<MultilineConfig>,
    /// How often files are checked for new data, rotation and new matches.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
}

fn default_poll_ms() -> u64 {
    250
}

impl SourceKind for FileSource {
    fn type_name(&self) -> &'static str {
        "file"
    }

    fn stream_type(&self) -> &'static str {
        "FileAsSource"
    }

    fn check(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if self.paths.is_empty() {
            errors.push(ConfigError::new(
                at("source.paths"),
                "at least one path pattern is required",
            ));
        }
        for (i, pattern) in self.paths.iter().enumerate() {
            if let Err(e) = glob::Pattern::new(pattern) {
                errors.push(ConfigError::new(
                    at(&format!("source.paths[{i}]")),
                    format!("`{pattern}` is not a valid glob pattern: {e}"),
                ));
            }
        }
        if self.poll_interval_ms < 10 {
            errors.push(ConfigError::new(
                at("source.poll_interval_ms"),
                format!(
                    "{} is out of range (accepted: 10 or more)",
                    self.poll_interval_ms
                ),
            ));
        }
        check_cutting(&self.delimiter, self.multiline.as_ref(), at, errors);
    }

    fn description(&self, _server: &ServerConfig, _started_at: f64) -> Value {
        json!({ "FileSourceDescription": { "Paths": self.paths } })
    }

    fn open(
        &self,
        stream: &StreamHandle,
        _context: &Context,
    ) -> anyhow::Result<Option<Box<dyn Source>>> {
        Ok(Some(Box::new(FileTail::open(stream.clone(), self)?)))
    }
}
