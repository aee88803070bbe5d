//! The direct-PUT source's settings: none; the API's listener is the server's.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{ConfigError, ServerConfig};
use crate::pipeline::StreamHandle;
use crate::sources::settings::SourceKind;
use crate::sources::{Context, Source};

/// `source = { type = "direct_put" }`, the default: records come through
/// `PutRecord`, `PutRecordBatch` and the NDJSON endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectPutSource {}

impl SourceKind for DirectPutSource {
    fn type_name(&self) -> &'static str {
        "direct_put"
    }

    fn stream_type(&self) -> &'static str {
        "DirectPut"
    }

    fn check(&self, _at: &dyn Fn(&str) -> String, _errors: &mut Vec<ConfigError>) {}

    fn description(&self, _server: &ServerConfig, _started_at: f64) -> Value {
        json!({ "DirectPutSourceDescription": { "ThroughputHintInMBs": 5 } })
    }

    /// Producers push; the API hands their records to the spool.
    fn open(
        &self,
        _stream: &StreamHandle,
        _context: &Context,
    ) -> anyhow::Result<Option<Box<dyn Source>>> {
        Ok(None)
    }

    fn takes_puts(&self) -> bool {
        true
    }
}
