//! WebAssembly transform plugins, in place of Firehose's Lambda processors.
//!
//! A plugin is a component of the `sluice:transform` world (`transforms/wit/`), run
//! in-process by wasmtime. The runner hands it batches of records read from the
//! spool; because that happens after the spool, a replay after a crash runs the
//! plugin again on the same records, so plugins should be deterministic.

mod abi;
mod bindings;
mod chain;
mod engine;
mod host;
pub mod local_invoke;
mod log_stream;
mod plugin;

pub use chain::{Chain, Failure, Input, PROCESSING_FAILED_STATUS, Verdict};
pub use engine::{LoadError, Loaded, LoadedFrom};
pub use plugin::Plugin;

use std::path::Path;

use crate::config::{Config, ConfigError, ConfigErrors, ProcessorConfig, StreamConfig};

/// `sluice check`: every configured plugin loads, matches the world and accepts
/// its params (its `init` runs).
pub fn check_plugins(config: &Config) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    for (i, stream) in config.delivery_streams.iter().enumerate() {
        for (j, processor) in stream.processors.iter().enumerate() {
            let ProcessorConfig::Wasm(wasm) = processor else {
                continue;
            };
            if let Err(e) = Plugin::load(wasm, &stream.name, None) {
                errors.push(ConfigError::new(
                    format!("delivery_streams[{i}].processors[{j}].module"),
                    e.to_string(),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Loads a stream's plugins, in order (blocking: compiling takes CPU seconds), and
/// logs how each was obtained; then forks the chain so that there is one for each
/// of the stream's processing threads. Empty when the stream has no plugins.
pub fn load_chains(
    stream: &StreamConfig,
    cache_dir: Option<&Path>,
) -> Result<Vec<Chain>, LoadError> {
    let Some(first) = load_chain(stream, cache_dir)? else {
        return Ok(Vec::new());
    };
    let mut chains = vec![first];
    for _ in 1..stream.processing_threads() {
        chains.push(chains[0].fork()?);
    }
    Ok(chains)
}

/// Loads a stream's plugins, in order. `None` when the stream has none.
fn load_chain(stream: &StreamConfig, cache_dir: Option<&Path>) -> Result<Option<Chain>, LoadError> {
    if stream.plugins().next().is_none() {
        return Ok(None);
    }
    let mut plugins = Vec::new();
    for config in stream.plugins() {
        let (plugin, loaded) = Plugin::load(config, &stream.name, cache_dir)?;
        let how = match loaded.from {
            LoadedFrom::Compiled => "compiled",
            LoadedFrom::Cache => "loaded from the compile cache",
        };
        tracing::info!(stream = %stream.name, plugin = plugin.name(), took_ms = loaded.took.as_millis() as u64, "plugin {how}");
        plugins.push(plugin);
    }
    Ok(Some(Chain::new(plugins)))
}
