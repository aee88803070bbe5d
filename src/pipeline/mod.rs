//! Per-stream wiring: the ingest handle that sources call, the task that buffers and
//! seals, and the delivery of sealed batches. One stream's slowness never blocks
//! another: each has its own task, backlog limit and delivery slots.

mod buffer;
mod deliver;
mod ingest;
mod runner;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use buffer::{Buffer, SealedBatch};
pub use ingest::{IngestError, StreamHandle};

use crate::config::{Config, DestinationConfig, StreamConfig};
use crate::keys::KeyLayout;
use crate::sinks::object_store::ObjectStoreSink;
use crate::sinks::{Sink, SinkError};

/// The running delivery streams, by name (sorted, as `ListDeliveryStreams` answers).
pub struct Streams {
    handles: BTreeMap<String, StreamHandle>,
    tasks: JoinSet<()>,
    shutdown: watch::Sender<bool>,
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("delivery stream `{stream}`: destination {message}")]
    Destination { stream: String, message: String },
}

impl Streams {
    /// Starts every configured stream's task.
    pub fn start(config: &Config) -> Result<Self, StartError> {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut handles = BTreeMap::new();
        let mut tasks = JoinSet::new();
        for stream in &config.delivery_streams {
            let sink = build_sink(stream).map_err(|e| StartError::Destination {
                stream: stream.name.clone(),
                message: e.to_string(),
            })?;
            let layout = KeyLayout::new(
                stream.destination.prefix(),
                stream.destination.error_output_prefix(),
            )
            .map_err(|(_, e)| StartError::Destination {
                stream: stream.name.clone(),
                message: e.to_string(),
            })?;
            let max_backlog = config.spool.max_size_mb.saturating_mul(1024 * 1024);
            let (handle, rx) = StreamHandle::new(stream.clone(), max_backlog);
            let deliverer = deliver::Deliverer::new(stream, layout, sink, handle.backlog());
            let runner = runner::Runner::new(stream, rx, deliverer);
            tasks.spawn(runner.run(shutdown_rx.clone()));
            handles.insert(stream.name.clone(), handle);
        }
        Ok(Self {
            handles,
            tasks,
            shutdown,
        })
    }

    /// The stream named `name`, if configured.
    pub fn get(&self, name: &str) -> Option<&StreamHandle> {
        self.handles.get(name)
    }

    /// All streams, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &StreamHandle> {
        self.handles.values()
    }

    /// A cheap, shareable view for request handlers.
    pub fn handles(&self) -> Arc<BTreeMap<String, StreamHandle>> {
        Arc::new(self.handles.clone())
    }

    /// Stops intake, delivers every buffer and waits for all deliveries to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for handle in self.handles.values() {
            handle.close();
        }
        while let Some(result) = self.tasks.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "stream task failed");
            }
        }
    }
}

fn build_sink(stream: &StreamConfig) -> Result<Arc<dyn Sink>, SinkError> {
    match &stream.destination {
        DestinationConfig::Local(local) => Ok(Arc::new(ObjectStoreSink::local(&local.path)?)),
    }
}
