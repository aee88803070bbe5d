//! The WebAssembly engine shared by all plugins, the clock that stops runaway calls,
//! and the cache of compiled plugins.
//!
//! Compiling a component is the slow part of loading one (seconds for a Python or
//! JavaScript runtime); the compiled artifact is stored under a name derived from the
//! component's bytes and the engine's settings, so a restart only maps it back in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use super::bindings::Transformer;
use super::compile_cache;
use super::host::HostState;

/// How often the epoch advances: the granularity of call timeouts.
pub const TICK: Duration = Duration::from_millis(10);

/// The engine and the linker with the host's imports (WASI 0.2 and `log`).
pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<HostState>,
}

/// How a component was obtained, for the log and for `sluice transform test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    Compiled,
    Cache,
}

/// A compiled component.
pub struct Loaded {
    pub component: Component,
    pub from: LoadedFrom,
    pub took: Duration,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} does not match the sluice:transform world: {reason}")]
    Mismatch { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Init { path: PathBuf, reason: String },
    #[error("loading the plugin panicked (a bug in sluice; see the log)")]
    Panicked,
}

impl Runtime {
    /// The process's runtime. Its epoch clock runs on a thread of its own for the
    /// life of the process.
    pub fn get() -> Result<&'static Runtime, String> {
        static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
        RUNTIME
            .get_or_init(|| Runtime::new().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn new() -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        wasmtime_wasi_http::add_only_http_to_linker_sync(&mut linker)?;
        Transformer::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })?;
        Ok(Self { engine, linker })
    }

    /// Compiles the component at `path`, or maps in its compiled form from
    /// `cache_dir` when it was compiled before with the same engine settings.
    pub fn load(&self, path: &Path, cache_dir: Option<&Path>) -> Result<Loaded, LoadError> {
        let started = Instant::now();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cached = cache_dir.map(|dir| dir.join(compile_cache::name(&self.engine, &bytes)));
        if let Some(file) = cached.as_deref().filter(|f| f.exists()) {
            // SAFETY: the file was written by `Component::serialize` in a folder the
            // daemon owns, under a name that includes the hash of the engine's
            // settings; wasmtime still checks its header and version and refuses a
            // mismatch, which falls through to compiling again.
            match unsafe { Component::deserialize_file(&self.engine, file) } {
                Ok(component) => {
                    compile_cache::used(file);
                    return Ok(Loaded {
                        component,
                        from: LoadedFrom::Cache,
                        took: started.elapsed(),
                    });
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "cached compiled plugin is unusable, compiling again");
                }
            }
        }
        let component =
            Component::from_binary(&self.engine, &bytes).map_err(|e| LoadError::Invalid {
                path: path.to_path_buf(),
                reason: format!("{e:#}"),
            })?;
        if let Some(file) = cached
            && let Err(e) = compile_cache::store(&component, &file)
        {
            tracing::warn!(file = %file.display(), error = %e, "cannot cache the compiled plugin; it will be compiled again at the next start");
        }
        Ok(Loaded {
            component,
            from: LoadedFrom::Compiled,
            took: started.elapsed(),
        })
    }
}
