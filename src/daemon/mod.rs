//! Running the daemon: start the streams and their sources, serve the API, reload
//! the configuration on SIGHUP, and on SIGTERM or Ctrl-C stop intake, deliver
//! every buffer and return.

mod reload;
mod signals;
mod sources;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

use crate::api::{self, Verifier};
use crate::config::Config;
use crate::pipeline::{Retiring, Streams};
use crate::swap::Swap;
use crate::tls::ServerTls;
use reload::{Plan, plugin_digest};
use signals::{Signal, Signals};
use sources::Sources;

/// How often `STATUS=` tells systemd the streams' backlog.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// Runs until a shutdown signal (or the end of standard input for a stream that
/// reads it), then flushes. A second signal during the flush exits at once.
/// `path` is the file the configuration was loaded from (read again on SIGHUP).
pub async fn run(path: Option<PathBuf>, config: Config) -> anyhow::Result<()> {
    // From the start: recovering large spools must not look like a hang.
    crate::systemd::spawn_watchdog();
    let mut signals = Signals::install().context("cannot install signal handlers")?;
    let metrics = crate::telemetry::install();
    let open_files = crate::descriptors::ensure(config.delivery_streams.len())?;
    tracing::debug!(open_files, "open-file limit");
    let tls = match &config.server.tls {
        Some(files) => Some(Arc::new(ServerTls::load(files).context("server.tls")?)),
        None => None,
    };
    let auth = Verifier::new(&config.server.auth, &config.server.region)
        .map_err(|e| anyhow::anyhow!("server.auth: {e}"))?;
    let auth = Arc::new(Swap::new(auth));
    // Listen first: `/health` answers at once, `/ready` and the streams' requests
    // once each stream is running (plugins compiling or a large spool recovering
    // take seconds).
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let mut streams = Streams::new(&config, crate::disk::os());
    let app = api::router(
        streams.table(),
        streams.starting(),
        auth.clone(),
        config.server.clone(),
        metrics,
    );
    let (stop_listener, listener_stopped) = oneshot::channel::<()>();
    let server = config.server.clone();
    let serving_tls = tls.clone();
    let listening = tokio::spawn(async move {
        crate::listener::serve(listener, app, &server, serving_tls, async {
            let _ = listener_stopped.await;
        })
        .await;
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %addr, scheme, "listening; starting the delivery streams");
    streams.start_all(&config.delivery_streams).await?;
    let input_ended = Arc::new(Notify::new());
    let mut daemon = Daemon {
        addr,
        path,
        plugins: config
            .delivery_streams
            .iter()
            .map(|s| (s.name.clone(), plugin_digest(s)))
            .collect(),
        config,
        streams,
        sources: Sources::new(input_ended.clone()),
        auth,
        tls,
    };
    for s in daemon.streams.iter() {
        log_running(s);
        daemon.sources.start(s)?;
    }
    tracing::info!(listen = %addr, scheme, streams = daemon.streams.iter().count(), "sluice is accepting records");
    crate::systemd::ready(&daemon.status());
    daemon.prune_compile_cache();

    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    loop {
        tokio::select! {
            signal = signals.next() => match signal {
                Signal::Shutdown => break,
                Signal::Reload => daemon.reload().await,
            },
            () = input_ended.notified() => break,
            _ = status_tick.tick() => crate::systemd::status(&daemon.status()),
        }
    }

    tracing::info!("stopping intake, delivering buffered records");
    crate::systemd::stopping("stopping intake, delivering buffered records");
    let _ = stop_listener.send(());
    let _ = listening.await;
    // Sources stop first, so nothing they read is left between them and the spool.
    daemon.sources.stop_all().await;
    let seconds = daemon.config.server.shutdown_timeout_seconds;
    let left = tokio::select! {
        left = daemon.streams.shutdown(Duration::from_secs(seconds)) => left,
        () = signals.shutdown() => {
            anyhow::bail!("second shutdown signal: exiting before every buffer was delivered");
        }
    };
    if left == 0 {
        tracing::info!("all buffers delivered, exiting");
    } else {
        tracing::warn!(
            records = left,
            timeout_seconds = seconds,
            "shutdown timeout reached, exiting with records left in the spool for the next start"
        );
    }
    Ok(())
}

/// The running daemon's parts that a reload changes.
struct Daemon {
    addr: std::net::SocketAddr,
    path: Option<PathBuf>,
    /// The configuration running now (its server and spool sections as at start,
    /// but for `server.auth`).
    config: Config,
    /// The plugin files each stream runs, digested when it started.
    plugins: BTreeMap<String, String>,
    streams: Streams,
    sources: Sources,
    auth: Arc<Swap<Verifier>>,
    tls: Option<Arc<ServerTls>>,
}

impl Daemon {
    /// The `STATUS=` line: streams and their backlog.
    fn status(&self) -> String {
        format!(
            "taking records on {} for {} delivery streams, {} records waiting for delivery",
            self.addr,
            self.streams.iter().count(),
            self.streams.backlog()
        )
    }

    /// Reads the configuration file again and applies it (SIGHUP). A file that
    /// does not load, validate or start is refused as a whole, with `sluice
    /// check`'s messages, and the running configuration stays.
    async fn reload(&mut self) {
        crate::systemd::reloading();
        let file = self
            .path
            .as_ref()
            .map_or("the embedded default".into(), |p| p.display().to_string());
        tracing::info!(config = %file, "SIGHUP: reloading the configuration");
        if let Some(tls) = &self.tls {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate and key read again"),
                Err(e) => tracing::error!(error = %e,
                    "cannot read the TLS certificate again, still serving the one loaded before"),
            }
        }
        match self.apply().await {
            Ok(()) => {}
            Err(e) => tracing::error!(
                "configuration reload refused, the running configuration stays:\n{e}"
            ),
        }
        crate::systemd::ready(&self.status());
    }

    async fn apply(&mut self) -> Result<(), String> {
        let new = crate::config::load(self.path.as_deref()).map_err(|e| e.to_string())?;
        let plan = Plan::new(&self.config, &self.plugins, &new)?;
        let auth = Verifier::new(&new.server.auth, &new.server.region)
            .map_err(|e| format!("server.auth: {e}"))?;
        // Added streams keep files open too: the limit must cover them all.
        crate::descriptors::ensure(new.delivery_streams.len()).map_err(|e| e.to_string())?;
        for key in &plan.needs_restart {
            tracing::warn!(key = %key, "a reload does not apply this setting: it takes effect at the next start");
        }
        // Everything that can fail but the spools is built before any stream is
        // touched: a plugin that does not load refuses the reload as a whole.
        let mut digests: BTreeMap<String, String> = plan
            .added
            .iter()
            .chain(&plan.changed)
            .map(|s| (s.name.clone(), plugin_digest(s)))
            .collect();
        // Side by side: each stream's plugins load (or compile) at once.
        let prepared = futures::future::try_join_all(
            plan.added
                .iter()
                .chain(&plan.changed)
                .map(|stream| self.streams.prepare(stream)),
        )
        .await
        .map_err(|e| e.to_string())?;
        self.auth.store(auth);
        self.config.server.auth = new.server.auth.clone();
        if plan.is_empty() {
            tracing::info!("configuration reloaded: no delivery stream changed");
            self.config.delivery_streams = new.delivery_streams;
            return Ok(());
        }

        let mut retiring: Vec<(Retiring, bool)> = Vec::new();
        for (name, removed) in plan
            .removed
            .iter()
            .map(|n| (n, true))
            .chain(plan.changed.iter().map(|s| (&s.name, false)))
        {
            self.sources.stop(name).await;
            if let Some(r) = self.streams.take(name, removed) {
                retiring.push((r, removed));
            }
        }
        let timeout = Duration::from_secs(self.config.server.shutdown_timeout_seconds);
        let drained =
            futures::future::join_all(retiring.into_iter().map(|(r, removed)| async move {
                let name = r.name().to_string();
                (name, removed, r.drain(timeout).await)
            }))
            .await;
        for (name, removed, left) in drained {
            match (removed, left) {
                (true, 0) => {
                    tracing::info!(stream = %name, "delivery stream removed: all its records were delivered")
                }
                (true, left) => tracing::warn!(stream = %name, records = left,
                    "delivery stream removed: records left in its spool, delivered when a configuration with it starts"),
                (false, 0) => {}
                (false, left) => tracing::warn!(stream = %name, records = left,
                    "records left in the spool of a changed stream, delivered under its new settings"),
            }
            self.plugins.remove(&name);
        }

        let mut failed = Vec::new();
        for p in prepared {
            let name = p.name().to_string();
            match self.streams.launch(p) {
                Ok(handle) => {
                    log_running(&handle);
                    if let Some(digest) = digests.remove(&name) {
                        self.plugins.insert(name, digest);
                    }
                    if let Err(e) = self.sources.start(&handle) {
                        tracing::error!(stream = %handle.name(), error = %e, "the stream's source cannot start");
                    }
                }
                Err(e) => {
                    // Unlisted, and left out of the running configuration: the
                    // next reload tries it again as a new stream.
                    tracing::error!(error = %e, "a reloaded delivery stream cannot start");
                    self.streams.unlist(&name);
                    failed.push(name);
                }
            }
        }
        tracing::info!(
            added = plan.added.len(),
            removed = plan.removed.len(),
            changed = plan.changed.len(),
            failed = failed.len(),
            "configuration reloaded"
        );
        self.config.delivery_streams = new.delivery_streams;
        self.config
            .delivery_streams
            .retain(|s| !failed.contains(&s.name));
        self.prune_compile_cache();
        Ok(())
    }

    /// Prunes the plugin compile cache to what the running configuration uses
    /// (and a bounded amount more), off the async threads: it reads every module.
    fn prune_compile_cache(&self) {
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || crate::transform::prune_compile_cache(&config));
    }
}

fn log_running(s: &crate::pipeline::StreamHandle) {
    let c = s.config();
    tracing::info!(
        stream = %c.name, source = c.source.kind().type_name(), destination = c.destination.describe(),
        compression = c.compression.firehose_name(), size_mb = c.buffering.size_mb,
        interval_seconds = c.buffering.interval_seconds, version = s.version(),
        "delivery stream running"
    );
}
