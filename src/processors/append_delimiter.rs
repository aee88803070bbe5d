//! Firehose's `AppendDelimiterToRecord`: a delimiter (a newline by default) after
//! each record, so objects of records sent without one read as JSON lines.

use base64::Engine as _;
use serde::Deserialize;

use super::settings::ProcessorKind;
use super::{Batch, Processor};
use crate::config::{ConfigError, FormatConfig, StreamConfig};

/// `{ type = "append_delimiter" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendDelimiterProcessor {
    /// What follows each record; Firehose's is a newline.
    #[serde(default = "default_record_delimiter")]
    pub delimiter: String,
}

fn default_record_delimiter() -> String {
    "\n".to_string()
}

impl ProcessorKind for AppendDelimiterProcessor {
    fn firehose_type(&self) -> &'static str {
        "AppendDelimiterToRecord"
    }

    fn type_name(&self) -> &'static str {
        "append_delimiter"
    }

    fn stage(&self) -> u8 {
        6
    }

    fn check(&self, s: &StreamConfig, key: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if self.delimiter.is_empty() || self.delimiter.len() > 1024 {
            errors.push(ConfigError::new(
                key("delimiter"),
                "must be 1 to 1,024 bytes",
            ));
        }
        if matches!(s.format, FormatConfig::Parquet(_)) {
            errors.push(ConfigError::new(
                key("type"),
                "does not apply to Parquet: records become rows, not delimited bytes",
            ));
        }
    }

    /// Firehose's takes no parameters: its delimiter is a newline.
    fn parameters(&self) -> Vec<(&'static str, String)> {
        if self.delimiter == "\n" {
            Vec::new()
        } else {
            vec![(
                "Delimiter",
                base64::engine::general_purpose::STANDARD.encode(&self.delimiter),
            )]
        }
    }
}

pub struct AppendDelimiter {
    delimiter: Vec<u8>,
}

impl AppendDelimiter {
    pub fn new(delimiter: &[u8]) -> Self {
        Self {
            delimiter: delimiter.to_vec(),
        }
    }
}

impl Processor for AppendDelimiter {
    fn firehose_type(&self) -> &'static str {
        "AppendDelimiterToRecord"
    }

    fn process(&mut self, batch: &mut Batch<'_>) {
        batch.rewrite(&self.delimiter);
    }
}
