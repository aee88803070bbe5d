//! Per-stream wiring: the ingest handle that sources call (it appends to the
//! stream's spool), the task that reads the spool, buffers and seals, and the
//! delivery of sealed batches. One stream's slowness never blocks another: each has
//! its own spool, task and delivery slots.

mod buffer;
mod deliver;
mod error_lines;
mod ingest;
mod marks;
#[cfg(test)]
mod power_cut_tests;
mod recovery;
mod retry_clock;
mod routing;
mod runner;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::task::JoinSet;

pub use buffer::{Buffer, SealedBatch};
pub use ingest::{IngestError, StreamHandle};

use crate::config::{
    Config, DestinationConfig, FormatConfig, HttpContentEncoding, ObjectDestination, ServerConfig,
    StreamConfig,
};
use crate::disk::Disk;
use crate::keys::{KeyLayout, parse_backup_prefix};
use crate::output::{DELIVERY_FAILED, HTTP_ENDPOINT_FAILED};
use crate::processors::Processing;
use crate::sinks::http::HttpSink;
use crate::sinks::object_store::ObjectStoreSink;
use crate::sinks::{Sink, SinkError};
use crate::spool::{OpenError, Spool};
use deliver::Sinks;

/// Loads a stream's plugins on a blocking thread, with compiled components cached
/// beside the spools so a restart does not compile them again.
async fn load_plugins(
    stream: &StreamConfig,
    spool_dir: &std::path::Path,
) -> Result<Vec<crate::transform::Chain>, StartError> {
    let (config, cache) = (stream.clone(), spool_dir.join("plugin-cache"));
    tokio::task::spawn_blocking(move || crate::transform::load_chains(&config, Some(&cache)))
        .await
        .map_err(|e| StartError::Destination {
            stream: stream.name.clone(),
            message: format!("loading plugins failed: {e}"),
        })?
        .map_err(|source| StartError::Plugin {
            stream: stream.name.clone(),
            source,
        })
}

/// The running delivery streams, by name (sorted, as `ListDeliveryStreams` answers).
pub struct Streams {
    handles: BTreeMap<String, StreamHandle>,
    tasks: JoinSet<()>,
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("delivery stream `{stream}`: destination {message}")]
    Destination { stream: String, message: String },
    #[error("delivery stream `{stream}`: {source}")]
    Spool { stream: String, source: OpenError },
    #[error("delivery stream `{stream}`: plugin {source}")]
    Plugin {
        stream: String,
        source: crate::transform::LoadError,
    },
}

impl Streams {
    /// Opens every configured stream's spool and starts its task, which first
    /// delivers what the spool held from before.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        Self::start_on(config, crate::disk::os()).await
    }

    /// `start`, with the spools (and the sources' checkpoints) on `disk`.
    pub async fn start_on(config: &Config, disk: Arc<dyn Disk>) -> Result<Self, StartError> {
        let mut handles = BTreeMap::new();
        let mut tasks = JoinSet::new();
        for stream in &config.delivery_streams {
            let sinks =
                build_sinks(stream, &config.server).map_err(|e| StartError::Destination {
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
            let opened = Spool::open(
                &stream.name,
                &config.spool,
                stream.destination.layout().backup_prefix.is_some(),
                disk.clone(),
            )
            .map_err(|source| StartError::Spool {
                stream: stream.name.clone(),
                source,
            })?;
            let handle = StreamHandle::new(
                stream.clone(),
                opened.spool.clone(),
                config.server.max_decoded_body_bytes(),
            );
            let backup = stream
                .destination
                .layout()
                .backup_prefix
                .map(parse_backup_prefix)
                .transpose()
                .map_err(|e| StartError::Destination {
                    stream: stream.name.clone(),
                    message: e.to_string(),
                })?;
            let parquet = match &stream.format {
                FormatConfig::Raw => None,
                FormatConfig::Parquet(format) => {
                    Some(Arc::new(format.encoder().map_err(|message| {
                        StartError::Destination {
                            stream: stream.name.clone(),
                            message,
                        }
                    })?))
                }
            };
            let deliverer = deliver::Deliverer::new(
                stream,
                layout,
                backup,
                sinks,
                opened.spool.clone(),
                parquet,
            );
            let chains = load_plugins(stream, &config.spool.dir).await?;
            let processing =
                Processing::new(stream, chains).map_err(|message| StartError::Destination {
                    stream: stream.name.clone(),
                    message,
                })?;
            let routing = processing
                .map(|p| routing::Routing::new(&stream.name, p, deliverer.partition_check()));
            let runner = runner::Runner::new(
                stream,
                opened.reader,
                opened.recovery,
                deliverer,
                opened.spool,
                routing,
            );
            tasks.spawn(runner.run());
            handles.insert(stream.name.clone(), handle);
        }
        Ok(Self { handles, tasks })
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

    /// Stops intake and delivers every buffer, for at most `timeout`. Returns the
    /// records left undelivered: when the time runs out the streams' tasks are
    /// stopped where they are, and what they held stays in the spool (sealed
    /// batches under their keys), delivered after the next start.
    pub async fn shutdown(mut self, timeout: std::time::Duration) -> u64 {
        for handle in self.handles.values() {
            handle.close();
        }
        let drained = tokio::time::timeout(timeout, async {
            while let Some(result) = self.tasks.join_next().await {
                if let Err(e) = result {
                    tracing::error!(error = %e, "stream task failed");
                }
            }
        })
        .await;
        if drained.is_err() {
            // Dropping a runner drops its delivery tasks: nothing more is written.
            self.tasks.shutdown().await;
        }
        let mut left = 0;
        for handle in self.handles.values() {
            let backlog = handle.backlog();
            if backlog > 0 {
                tracing::warn!(stream = %handle.name(), records = backlog,
                    "records left in the spool at shutdown, delivered after the next start");
            }
            left += backlog;
        }
        left
    }
}

fn build_sinks(stream: &StreamConfig, server: &ServerConfig) -> Result<Sinks, SinkError> {
    let objects = |d: &ObjectDestination| -> Result<Arc<dyn Sink>, SinkError> {
        Ok(match d {
            ObjectDestination::Local(local) => Arc::new(ObjectStoreSink::local(&local.path)?),
            ObjectDestination::S3(s3) => Arc::new(crate::sinks::s3::sink(s3)?),
        })
    };
    let object_sinks = |sink: Arc<dyn Sink>| Sinks {
        destination: sink.clone(),
        objects: sink,
        http: None,
        failed_output_type: DELIVERY_FAILED,
    };
    Ok(match &stream.destination {
        DestinationConfig::Local(local) => {
            object_sinks(Arc::new(ObjectStoreSink::local(&local.path)?))
        }
        DestinationConfig::S3(s3) => object_sinks(Arc::new(crate::sinks::s3::sink(s3)?)),
        DestinationConfig::Http(http) => Sinks {
            destination: Arc::new(HttpSink::new(http, &server.stream_arn(&stream.name))?),
            objects: objects(&http.error_destination)?,
            http: Some(match http.content_encoding {
                HttpContentEncoding::None => None,
                HttpContentEncoding::Gzip => Some(
                    stream
                        .compression_level
                        .unwrap_or(crate::encode::Compression::Gzip.default_level()),
                ),
            }),
            failed_output_type: HTTP_ENDPOINT_FAILED,
        },
    })
}
