//! WebAssembly transform plugins, in place of Firehose's Lambda processors.
//!
//! A plugin is a component of the `sluice:transform` world (`transforms/wit/`), run
//! in-process by wasmtime. The runner hands it batches of records read from the
//! spool; because that happens after the spool, a replay after a crash runs the
//! plugin again on the same records, so plugins should be deterministic.

mod abi;
mod bindings;
mod chain;
mod compile_cache;
mod config;
mod engine;
mod host;
pub mod local_invoke;
mod log_stream;
mod plugin;

pub use chain::{Chain, Failure, Input, PROCESSING_FAILED_STATUS, Verdict};
pub use config::WasmProcessor;
pub use engine::{LoadError, Loaded, LoadedFrom};
pub use plugin::Plugin;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, ConfigErrors, ProcessorConfig, StreamConfig};

/// Where compiled plugins are cached: beside the spools, which the daemon owns.
pub fn cache_dir(spool_dir: &Path) -> PathBuf {
    spool_dir.join("plugin-cache")
}

/// `sluice check`: every configured plugin loads, matches the world and accepts
/// its params (its `init` runs). Plugins load from the daemon's compile cache
/// (and fill it), each on a thread of its own.
pub fn check_plugins(config: &Config) -> Result<(), ConfigErrors> {
    let cache = cache_dir(&config.spool.dir);
    let plugins: Vec<(String, &StreamConfig, &WasmProcessor)> = config
        .delivery_streams
        .iter()
        .enumerate()
        .flat_map(|(i, stream)| {
            stream
                .processors
                .iter()
                .enumerate()
                .filter_map(move |(j, processor)| match processor {
                    ProcessorConfig::Wasm(wasm) => Some((
                        format!("delivery_streams[{i}].processors[{j}].module"),
                        stream,
                        wasm,
                    )),
                    _ => None,
                })
        })
        .collect();
    let errors: Vec<ConfigError> = std::thread::scope(|scope| {
        let loading: Vec<_> = plugins
            .iter()
            .map(|(key, stream, wasm)| {
                let cache = cache.as_path();
                let load =
                    scope.spawn(move || Plugin::load(wasm, &stream.name, Some(cache)).map(|_| ()));
                (key, load)
            })
            .collect();
        loading
            .into_iter()
            .filter_map(|(key, load)| {
                let outcome = load.join().unwrap_or(Err(LoadError::Panicked));
                outcome
                    .err()
                    .map(|e| ConfigError::new(key.clone(), e.to_string()))
            })
            .collect()
    });
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Removes compiled plugins that `config` does not use from the cache, but for
/// a bounded amount of the most recently used ([`compile_cache::EXTRA_BYTES`]).
/// Run after a start or reload has loaded every plugin.
pub fn prune_compile_cache(config: &Config) {
    let dir = cache_dir(&config.spool.dir);
    let mut plugins = config
        .delivery_streams
        .iter()
        .flat_map(StreamConfig::plugins)
        .peekable();
    // Without plugins nothing is kept, and no engine is started to name files.
    let keep: HashSet<String> = match plugins.peek() {
        None => HashSet::new(),
        Some(_) => {
            let Ok(runtime) = engine::Runtime::get() else {
                return;
            };
            plugins
                .filter_map(|p| std::fs::read(&p.module).ok())
                .map(|bytes| compile_cache::name(&runtime.engine, &bytes))
                .collect()
        }
    };
    match compile_cache::prune(&dir, &keep, compile_cache::EXTRA_BYTES) {
        Ok(pruned) if pruned.files > 0 => tracing::info!(
            dir = %dir.display(), files = pruned.files, bytes = pruned.bytes,
            "compiled plugins no stream uses removed from the cache"
        ),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot prune the plugin compile cache")
        }
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
