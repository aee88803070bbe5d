//! What a plugin instance can reach on the host: WASI 0.2 with nothing granted by
//! default (no directories, network, environment or stdio; clocks and random, which
//! language runtimes need), `wasi:http` with every request refused unless the
//! processor grants `network` and the request's host is in `allowed_hosts`, the
//! `log` import, and its memory limit.

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{DirPerms, FilePerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::{HttpResult, WasiHttpCtx, WasiHttpView};

use super::WasmProcessor;
use super::bindings::TransformerImports;
use super::log_stream::{LogStream, LogTags, Tail};

/// The state of one instance's store.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    /// Hosts `wasi:http` requests may go to; empty unless `network` is granted.
    allowed_hosts: Vec<String>,
    table: ResourceTable,
    pub limits: StoreLimits,
    /// The last lines the instance wrote to stderr (not kept with `inherit_stdio`).
    pub stderr: Tail,
    tags: LogTags,
}

impl HostState {
    /// A fresh state with the grants and limits of `config`.
    pub fn new(config: &WasmProcessor, tags: LogTags) -> anyhow::Result<Self> {
        let mut wasi = WasiCtxBuilder::new();
        let stderr = Tail::default();
        if config.inherit_stdio {
            wasi.inherit_stdout().inherit_stderr();
        } else {
            wasi.stdout(LogStream::stdout(tags.clone()));
            wasi.stderr(LogStream::stderr(tags.clone(), stderr.clone()));
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
            http: WasiHttpCtx::new(),
            allowed_hosts: if config.network {
                config
                    .allowed_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect()
            } else {
                Vec::new()
            },
            table: ResourceTable::new(),
            // A memory that cannot grow traps rather than making the plugin's
            // allocator fail in its own (language-specific) way.
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .trap_on_grow_failure(true)
                .build(),
            stderr,
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

impl WasiHttpView for HostState {
    fn ctx(&mut self) -> &mut WasiHttpCtx {
        &mut self.http
    }

    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// Sends a request only to a granted host; any other gets
    /// `HTTP-request-denied`, which the plugin sees as a failed `fetch`.
    fn send_request(
        &mut self,
        request: http::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let authority = request.uri().authority();
        let host = authority.map(|a| a.host().to_ascii_lowercase());
        let host_port = authority.map(|a| a.as_str().to_ascii_lowercase());
        let allowed = self
            .allowed_hosts
            .iter()
            .any(|h| Some(h) == host.as_ref() || Some(h) == host_port.as_ref());
        if !allowed {
            let (stream, plugin) = (&*self.tags.stream, &*self.tags.plugin);
            tracing::warn!(stream, plugin, uri = %request.uri(),
                "refused the plugin's HTTP request: grant it with network = true and the host in allowed_hosts");
            return Err(ErrorCode::HttpRequestDenied.into());
        }
        Ok(wasmtime_wasi_http::types::default_send_request(
            request, config,
        ))
    }
}

/// The `types` interface declares no functions.
impl super::bindings::sluice::transform::types::Host for HostState {}

impl TransformerImports for HostState {
    fn log(&mut self, level: u8, message: String) {
        let (stream, plugin) = (&*self.tags.stream, &*self.tags.plugin);
        if level == 0 {
            // An error logged during a call says why it failed as well as stderr
            // does (a Rust plugin without WASI logs its panic so).
            self.stderr.push(&message);
        }
        match level {
            0 => tracing::error!(stream, plugin, "{message}"),
            1 => tracing::warn!(stream, plugin, "{message}"),
            2 => tracing::info!(stream, plugin, "{message}"),
            3 => tracing::debug!(stream, plugin, "{message}"),
            _ => tracing::trace!(stream, plugin, "{message}"),
        }
    }
}
