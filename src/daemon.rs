//! Running the daemon: start the streams, serve the API, and on SIGTERM or Ctrl-C stop
//! intake, deliver every buffer and return.

use anyhow::Context;
use tokio::net::TcpListener;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::config::{Config, SourceConfig};
use crate::pipeline::Streams;
use crate::sources::direct_put;
use crate::sources::file::FileTail;
use crate::sources::kinesis::KinesisTail;
use crate::sources::stdin;

/// Runs until a shutdown signal, then flushes. A second signal during the flush
/// exits at once.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // From the start: recovering large spools must not look like a hang.
    crate::systemd::spawn_watchdog();
    let metrics = crate::telemetry::install();
    let open_files = crate::descriptors::ensure(config.delivery_streams.len())?;
    tracing::debug!(open_files, "open-file limit");
    let streams = Streams::start(&config).await?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    for s in streams.iter() {
        let c = s.config();
        let source = c.source.kind();
        let destination = c.destination.describe();
        tracing::info!(
            stream = %c.name, source, destination, compression = c.compression.firehose_name(),
            size_mb = c.buffering.size_mb, interval_seconds = c.buffering.interval_seconds,
            "delivery stream running"
        );
    }
    tracing::info!(listen = %addr, streams = streams.iter().count(), "sluice is accepting records");

    let (stop, stopping) = watch::channel(false);
    let input_ended = Arc::new(Notify::new());
    let mut sources = JoinSet::new();
    for s in streams.iter() {
        match &s.config().source {
            SourceConfig::DirectPut => {}
            SourceConfig::File(file) => {
                let tail = FileTail::open(s.clone(), file)?;
                sources.spawn(tail.run(stopping.clone()));
            }
            SourceConfig::Kinesis(kinesis) => {
                let tail = KinesisTail::open(s.clone(), kinesis)?;
                sources.spawn(tail.run(stopping.clone()));
            }
            SourceConfig::Stdin(stdin) => {
                sources.spawn(stdin::run(
                    s.clone(),
                    stdin.clone(),
                    stopping.clone(),
                    input_ended.clone(),
                ));
            }
        }
    }

    let app = direct_put::router(streams.handles(), config.server.clone(), metrics)
        .map_err(|e| anyhow::anyhow!("server.auth: {e}"))?;
    let ended = input_ended.clone();
    crate::systemd::ready(&format!(
        "taking records on {addr} for {} delivery streams",
        config.delivery_streams.len()
    ));
    crate::listener::serve(listener, app, &config.server, async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = ended.notified() => {}
        }
    })
    .await;

    tracing::info!("stopping intake, delivering buffered records");
    crate::systemd::stopping("stopping intake, delivering buffered records");
    // Sources stop first, so nothing they read is left between them and the spool.
    let _ = stop.send(true);
    while let Some(result) = sources.join_next().await {
        if let Err(e) = result {
            tracing::error!(error = %e, "source task failed");
        }
    }
    let timeout = Duration::from_secs(config.server.shutdown_timeout_seconds);
    let left = tokio::select! {
        left = streams.shutdown(timeout) => left,
        () = shutdown_signal() => {
            anyhow::bail!("second shutdown signal: exiting before every buffer was delivered");
        }
    };
    if left == 0 {
        tracing::info!("all buffers delivered, exiting");
    } else {
        tracing::warn!(
            records = left,
            timeout_seconds = config.server.shutdown_timeout_seconds,
            "shutdown timeout reached, exiting with records left in the spool for the next start"
        );
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
