//! Per-stream wiring: the ingest handle that sources call (it appends to the
//! stream's spool), the task that reads the spool, buffers and seals, and the
//! delivery of sealed batches. One stream's slowness never blocks another: each has
//! its own spool, task and delivery slots.

pub(crate) mod buffer;
mod conversion_failures;
mod deliver;
mod ingest;
mod marks;
mod memory;
#[cfg(test)]
mod power_cut_tests;
mod recovery;
mod retry;
mod routing;
mod runner;
mod staged;
mod version;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::task::JoinHandle;

pub use buffer::{Buffer, SealedBatch};
pub use ingest::{IngestError, StreamHandle};

use crate::config::{Config, FormatConfig, ServerConfig, SpoolConfig, StreamConfig};
use crate::disk::Disk;
use crate::keys::{KeyLayout, Prefix, parse_backup_prefix};
use crate::processors::Processing;
use crate::sinks::Sinks;
use crate::sources::state_file::StateFile;
use crate::spool::{OpenError, Spool};
use crate::swap::Swap;

/// Loads a stream's plugins on a blocking thread, with compiled components cached
/// beside the spools so a restart does not compile them again.
async fn load_plugins(
    stream: &StreamConfig,
    spool_dir: &std::path::Path,
) -> Result<Vec<crate::transform::Chain>, StartError> {
    let (config, cache) = (stream.clone(), crate::transform::cache_dir(spool_dir));
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

/// Builds what `stream` needs besides its spool: sinks, key layout, Parquet
/// encoder, processors (plugins loaded, on a blocking thread, from the compile
/// cache under `spool_dir` when they were compiled before).
async fn prepare(
    stream: &StreamConfig,
    server: &ServerConfig,
    spool_dir: &std::path::Path,
) -> Result<Prepared, StartError> {
    let destination = |message: String| StartError::Destination {
        stream: stream.name.clone(),
        message,
    };
    let layout = KeyLayout::new(
        &stream.data_prefix(),
        stream.destination.error_output_prefix(),
    )
    .map_err(|(_, e)| destination(e.to_string()))?;
    let backup = stream
        .destination
        .layout()
        .backup_prefix
        .map(parse_backup_prefix)
        .transpose()
        .map_err(|e| destination(e.to_string()))?;
    let parquet = match &stream.format {
        FormatConfig::Raw => None,
        FormatConfig::Parquet(format) => Some(Arc::new(format.encoder().map_err(destination)?)),
    };
    let converts = parquet.is_some();
    let sinks = stream
        .destination
        .kind()
        .start(stream, server, parquet)
        .map_err(|e| destination(e.to_string()))?;
    let chains = load_plugins(stream, spool_dir).await?;
    let processing = Processing::new(stream, chains).map_err(destination)?;
    Ok(Prepared {
        stream: stream.clone(),
        sinks,
        layout,
        backup,
        converts,
        processing,
    })
}

/// The streams request handlers see, by name (sorted, as `ListDeliveryStreams`
/// answers); a reload replaces the map.
pub type StreamTable = Arc<Swap<BTreeMap<String, StreamHandle>>>;

/// The streams configured at start that are not running yet (loading plugins,
/// recovering their spool): requests for them are refused as retryable, and
/// `/ready` waits for them.
pub type Starting = Arc<Swap<BTreeSet<String>>>;

/// The running delivery streams, by name.
pub struct Streams {
    running: BTreeMap<String, Running>,
    table: StreamTable,
    starting: Starting,
    server: ServerConfig,
    spool: SpoolConfig,
    disk: Arc<dyn Disk>,
    /// `server.delivery_memory_mb`, shared by every stream's deliveries.
    delivery_memory: memory::DeliveryMemory,
}

/// One running stream: the handle sources call and the task that delivers.
struct Running {
    handle: StreamHandle,
    task: JoinHandle<()>,
}

/// A stream being taken out of service (see [`Streams::take`]).
pub struct Retiring(Running);

/// Everything a stream needs but its spool: built first, so that a reload that
/// cannot start a changed stream (a plugin that does not load, say) leaves the
/// running one alone.
pub struct Prepared {
    stream: StreamConfig,
    sinks: Sinks,
    layout: KeyLayout,
    backup: Option<Prefix>,
    /// Whether data batches are converted to Parquet.
    converts: bool,
    processing: Option<Processing>,
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("delivery stream `{stream}`: destination {message}")]
    Destination { stream: String, message: String },
    #[error("delivery stream `{stream}`: {source}")]
    Spool { stream: String, source: OpenError },
    #[error("delivery stream `{stream}`: cannot keep its destination version: {source}")]
    Version {
        stream: String,
        source: std::io::Error,
    },
    #[error(
        "delivery stream `{stream}`: cannot prepare the staging folder of its open buffers: {source}"
    )]
    Staging {
        stream: String,
        source: std::io::Error,
    },
    #[error("delivery stream `{stream}`: plugin {source}")]
    Plugin {
        stream: String,
        source: crate::transform::LoadError,
    },
}

impl Prepared {
    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.stream.name
    }
}

impl Streams {
    /// Opens every configured stream's spool and starts its task, which first
    /// delivers what the spool held from before.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        Self::start_on(config, crate::disk::os()).await
    }

    /// `start`, with the spools (and the sources' checkpoints) on `disk`.
    pub async fn start_on(config: &Config, disk: Arc<dyn Disk>) -> Result<Self, StartError> {
        let mut streams = Self::new(config, disk);
        streams.start_all(&config.delivery_streams).await?;
        Ok(streams)
    }

    /// No stream running yet, every configured one [`Streams::starting`]: the
    /// table request handlers look in can be served while
    /// [`Streams::start_all`] starts them.
    pub fn new(config: &Config, disk: Arc<dyn Disk>) -> Self {
        let names = config.delivery_streams.iter().map(|s| s.name.clone());
        Self {
            running: BTreeMap::new(),
            table: Arc::new(Swap::new(BTreeMap::new())),
            starting: Arc::new(Swap::new(names.collect())),
            server: config.server.clone(),
            spool: config.spool.clone(),
            disk,
            delivery_memory: memory::DeliveryMemory::new(config.server.delivery_memory_mb),
        }
    }

    /// Starts `configs`, preparing them side by side (plugins of several streams
    /// compile at once) and launching each as soon as it is prepared, so a stream
    /// without plugins takes records while another's plugin still compiles. Until
    /// then each is in [`Streams::starting`] (as [`Streams::new`] put it).
    pub async fn start_all(&mut self, configs: &[StreamConfig]) -> Result<(), StartError> {
        let (server, spool_dir) = (self.server.clone(), self.spool.dir.clone());
        let mut preparing: FuturesUnordered<_> = configs
            .iter()
            .map(|stream| prepare(stream, &server, &spool_dir))
            .collect();
        while let Some(prepared) = preparing.next().await {
            self.launch(prepared?)?;
        }
        Ok(())
    }

    /// The streams configured at start that are not running yet.
    pub fn starting(&self) -> Starting {
        self.starting.clone()
    }

    /// Builds what `stream` needs besides its spool: sinks, key layout, Parquet
    /// encoder, processors (plugins loaded, on a blocking thread).
    pub async fn prepare(&self, stream: &StreamConfig) -> Result<Prepared, StartError> {
        prepare(stream, &self.server, &self.spool.dir).await
    }

    /// Opens the stream's spool, settles its version, starts its runner and
    /// publishes its handle (in place of a retired one of the same name).
    pub fn launch(&mut self, p: Prepared) -> Result<StreamHandle, StartError> {
        let name = p.stream.name.clone();
        let backup = p.stream.destination.layout().backup_prefix.is_some();
        let opened =
            Spool::open(&name, &self.spool, backup, self.disk.clone()).map_err(|source| {
                StartError::Spool {
                    stream: name.clone(),
                    source,
                }
            })?;
        let kept = StateFile::new(opened.spool.disk(), opened.spool.dir(), version::FILE);
        let version = version::settle(&kept, &p.stream.delivery_digest()).map_err(|source| {
            StartError::Version {
                stream: name.clone(),
                source,
            }
        })?;
        let handle = StreamHandle::new(
            p.stream.clone(),
            opened.spool.clone(),
            self.server.max_decoded_body_bytes(),
            version,
        );
        let deliverer = deliver::Deliverer::new(
            &p.stream,
            p.layout,
            p.backup,
            p.sinks,
            opened.spool.clone(),
            p.converts,
            version,
        );
        let keys = p.stream.routing();
        let routing = p.processing.map(|processing| {
            let routing = routing::Routing::new(&name, processing, deliverer.partition_check())
                .with_defaults(keys.defaults);
            if keys.inserts_only {
                routing.inserts_only()
            } else {
                routing
            }
        });
        let staging = staged::Staging::open(opened.spool.disk(), opened.spool.dir(), &name)
            .map_err(|source| StartError::Staging {
                stream: name.clone(),
                source,
            })?;
        let runner = runner::Runner::new(
            &p.stream,
            opened,
            deliverer,
            staging,
            self.delivery_memory.clone(),
            routing,
        );
        let task = tokio::spawn(runner.run());
        let mut table = BTreeMap::clone(&self.table.load());
        table.insert(name.clone(), handle.clone());
        self.table.store(table);
        if self.starting.load().contains(&name) {
            let mut starting = BTreeSet::clone(&self.starting.load());
            starting.remove(&name);
            self.starting.store(starting);
        }
        self.running.insert(
            name,
            Running {
                handle: handle.clone(),
                task,
            },
        );
        Ok(handle)
    }

    /// Takes the stream `name` out of service, to be drained with
    /// [`Retiring::drain`]. With `unlist` it is gone from the API at once (a
    /// removed stream); without, requests for it are refused as retryable
    /// (`ServiceUnavailableException`) until a stream of that name is launched
    /// again (a changed one).
    pub fn take(&mut self, name: &str, unlist: bool) -> Option<Retiring> {
        let running = self.running.remove(name)?;
        running.handle.close();
        if unlist {
            self.unlist(name);
        }
        Some(Retiring(running))
    }

    /// Takes the stream `name` out of the API (`ResourceNotFoundException`).
    pub fn unlist(&mut self, name: &str) {
        let mut table = BTreeMap::clone(&self.table.load());
        table.remove(name);
        self.table.store(table);
    }

    /// The stream named `name`, if running.
    pub fn get(&self, name: &str) -> Option<&StreamHandle> {
        self.running.get(name).map(|r| &r.handle)
    }

    /// All running streams, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &StreamHandle> {
        self.running.values().map(|r| &r.handle)
    }

    /// What request handlers look streams up in.
    pub fn table(&self) -> StreamTable {
        self.table.clone()
    }

    /// Records accepted by all streams and not yet delivered.
    pub fn backlog(&self) -> u64 {
        self.iter().map(StreamHandle::backlog).sum()
    }

    /// Stops intake and delivers every buffer, for at most `timeout`. Returns the
    /// records left undelivered: when the time runs out the streams' tasks are
    /// stopped where they are, and what they held stays in the spool (sealed
    /// batches under their keys), delivered after the next start.
    pub async fn shutdown(mut self, timeout: std::time::Duration) -> u64 {
        let names: Vec<String> = self.running.keys().cloned().collect();
        let retiring: Vec<Retiring> = names
            .iter()
            .filter_map(|name| self.take(name, false))
            .collect();
        let left = futures::future::join_all(retiring.into_iter().map(|r| r.drain(timeout))).await;
        for (name, &backlog) in names.iter().zip(&left) {
            if backlog > 0 {
                tracing::warn!(stream = %name, records = backlog,
                    "records left in the spool at shutdown, delivered after the next start");
            }
        }
        left.iter().sum()
    }
}

impl Retiring {
    /// Lets the stream's runner deliver what it holds, for at most `timeout`,
    /// then stops it where it is and gives its spool up (what is left stays in
    /// it, sealed batches under their keys, for the next opening). Returns the
    /// records left undelivered.
    pub async fn drain(self, timeout: std::time::Duration) -> u64 {
        let Running { handle, mut task } = self.0;
        let ended = match tokio::time::timeout(timeout, &mut task).await {
            Ok(ended) => ended,
            Err(_) => {
                // Dropping a runner drops its delivery tasks: nothing more is written.
                task.abort();
                task.await
            }
        };
        if let Err(e) = ended
            && !e.is_cancelled()
        {
            tracing::error!(stream = %handle.name(), error = %e, "stream task failed");
        }
        handle.retire().await;
        handle.backlog()
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        self.0.handle.name()
    }
}
