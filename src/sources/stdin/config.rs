//! The stdin source's settings and checks.

use serde::Deserialize;
use serde_json::{Value, json};

use super::StdinTail;
use crate::config::{ConfigError, ServerConfig};
use crate::pipeline::StreamHandle;
use crate::sources::lines::{MultilineConfig, check_cutting, default_delimiter};
use crate::sources::settings::SourceKind;
use crate::sources::{Context, Source};

/// Reading standard input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSource {
    /// What ends a record; it is kept at the end of the record (default `"\n"`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Joins continuation lines to the line they continue.
    pub multiline: Option<MultilineConfig>,
}

impl SourceKind for StdinSource {
    fn type_name(&self) -> &'static str {
        "stdin"
    }

    fn stream_type(&self) -> &'static str {
        "StdinAsSource"
    }

    fn check(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        check_cutting(&self.delimiter, self.multiline.as_ref(), at, errors);
    }

    fn description(&self, _server: &ServerConfig, _started_at: f64) -> Value {
        json!({ "StdinSourceDescription": {} })
    }

    fn open(
        &self,
        stream: &StreamHandle,
        context: &Context,
    ) -> anyhow::Result<Option<Box<dyn Source>>> {
        Ok(Some(Box::new(StdinTail::new(
            stream.clone(),
            self.clone(),
            context.input_ended.clone(),
        ))))
    }

    fn reads_stdin(&self) -> bool {
        true
    }
}
