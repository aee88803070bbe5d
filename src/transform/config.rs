//! A plugin's settings (a processor of `type = "wasm"`) and their checks.

use serde::Deserialize;

use crate::config::{ConfigError, StreamConfig};
use crate::processors::settings::ProcessorKind;

/// A WASM transform plugin and the limits it runs under. Defaults follow Firehose's
/// Lambda processor: 3 retries, 1 MB batches; 5 s is Sluice's (a Lambda may run 5 min).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmProcessor {
    /// The component (`.wasm`), relative to the working directory.
    pub module: std::path::PathBuf,
    /// Passed to the plugin's `init` (Lambda's environment, in effect).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// Longest a call may run before it is stopped (an epoch deadline).
    #[serde(default = "default_plugin_timeout")]
    pub timeout_ms: u64,
    /// Largest size of each of the plugin's linear memories.
    #[serde(default = "default_plugin_memory")]
    pub memory_mb: u64,
    /// Most records in one call.
    #[serde(default = "default_plugin_batch_records")]
    pub batch_records: usize,
    /// Most record bytes in one call (Lambda's `BufferSizeInMBs`).
    #[serde(default = "default_plugin_batch_mb")]
    pub batch_mb: u64,
    /// Calls after a failed one (trap, timeout, memory cap), each on a fresh
    /// instance, before the batch goes to the error output (`NumberOfRetries`).
    #[serde(default = "default_plugin_retries")]
    pub retries: u32,
    /// Environment variables passed through to the plugin by name (none by default).
    #[serde(default)]
    pub env: Vec<String>,
    /// Host directories the plugin may read: guest path → host path (none by default).
    #[serde(default)]
    pub read_dirs: std::collections::BTreeMap<String, std::path::PathBuf>,
    /// Lets the plugin open network connections (off by default).
    #[serde(default)]
    pub network: bool,
    /// With `network`, the hosts (`name` or `name:port`) the plugin may send
    /// `wasi:http` requests to; every other request is refused.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Sends the plugin's stdout/stderr to the daemon's own instead of its log.
    #[serde(default)]
    pub inherit_stdio: bool,
}

fn default_plugin_timeout() -> u64 {
    5_000
}

fn default_plugin_memory() -> u64 {
    128
}

fn default_plugin_batch_records() -> usize {
    500
}

fn default_plugin_batch_mb() -> u64 {
    1
}

fn default_plugin_retries() -> u32 {
    3
}

impl ProcessorKind for WasmProcessor {
    fn firehose_type(&self) -> &'static str {
        "Lambda"
    }

    fn type_name(&self) -> &'static str {
        "wasm"
    }

    fn stage(&self) -> u8 {
        3
    }

    fn chains(&self) -> bool {
        true
    }

    /// Lambda's bounds where Firehose has them (6 MB payloads, 5 minute calls),
    /// and a memory cap a 64-bit host can give.
    fn check(
        &self,
        _s: &StreamConfig,
        key: &dyn Fn(&str) -> String,
        errors: &mut Vec<ConfigError>,
    ) {
        let ranges: [(&str, u64, u64, u64); 5] = [
            ("timeout_ms", self.timeout_ms, 1, 300_000),
            ("memory_mb", self.memory_mb, 1, 4096),
            ("batch_records", self.batch_records as u64, 1, 10_000),
            ("batch_mb", self.batch_mb, 1, 6),
            ("retries", u64::from(self.retries), 0, 300),
        ];
        for (field, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                errors.push(ConfigError::new(
                    key(field),
                    format!("{value} is out of range (accepted: {min} to {max})"),
                ));
            }
        }
        if self.module.as_os_str().is_empty() {
            errors.push(ConfigError::new(key("module"), "is empty"));
        }
    }

    /// The module's path stands as the `LambdaArn`.
    fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LambdaArn", self.module.display().to_string()),
            ("NumberOfRetries", self.retries.to_string()),
            ("BufferSizeInMBs", self.batch_mb.to_string()),
        ]
    }
}
