//! What a plugin instance can reach on the host: WASI 0.2 with nothing granted by
//! default (no directories, network, environment or stdio; clocks and random, which
//! language runtimes need), the `log` import, and its memory limit.

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{DirPerms, FilePerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::TransformerImports;
use super::log_stream::{LogStream, LogTags};
use crate::config::WasmProcessor;

/// The state of one instance's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limits: StoreLimits,
    tags: LogTags,
}

impl HostState {
    /// A fresh state with the grants and limits of `config`.
    pub fn new(config: &WasmProcessor, tags: LogTags) -> anyhow::Result<Self> {
        let mut wasi = WasiCtxBuilder::new();
        if config.inherit_stdio {
            wasi.inherit_stdout().inherit_stderr();
        } else {
            wasi.stdout(LogStream::new(tags.clone(), "stdout"));
            wasi.stderr(LogStream::new(tags.clone(), "stderr"));
        }
        for name in &config.env {
            if let Ok(value) = std::env::var(name) {
                wasi.env(name, value);
            }
        }
        for (guest, host) in &config.read_dirs {
            wasi.preopened_dir(host, guest, DirPerms::READ, FilePerms::READ)?;
        }
        if config.network {
            wasi.inherit_network().allow_ip_name_lookup(true);
        }
        let memory =
            usize::try_from(config.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        Ok(Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            // A memory that cannot grow traps rather than making the plugin's
            // allocator fail in its own (language-specific) way.
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .trap_on_grow_failure(true)
                .build(),
            tags,
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The `types` interface declares no functions.
impl super::bindings::sluice::transform::types::Host for HostState {}

impl TransformerImports for HostState {
    fn log(&mut self, level: u8, message: String) {
        let (stream, plugin) = (&*self.tags.stream, &*self.tags.plugin);
        match level {
            0 => tracing::error!(stream, plugin, "{message}"),
            1 => tracing::warn!(stream, plugin, "{message}"),
            2 => tracing::info!(stream, plugin, "{message}"),
            3 => tracing::debug!(stream, plugin, "{message}"),
            _ => tracing::trace!(stream, plugin, "{message}"),
        }
    }
}
