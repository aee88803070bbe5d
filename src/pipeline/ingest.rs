//! The acknowledgement point: a source hands records to a stream and, once this
//! returns `Ok`, the producer is told they are accepted.
//!
//! Two limits protect the daemon, and nothing already accepted is ever dropped:
//! - the backlog (accepted, not yet delivered bytes) is bounded per stream by
//!   `spool.max_size_mb`; past it, puts fail fast so producers back off;
//! - records waiting for the stream's task are bounded in memory (`QUEUE_BYTES`): a
//!   put waits for room, up to `QUEUE_WAIT`, so fast producers are slowed down to the
//!   delivery rate instead of filling RAM.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::config::StreamConfig;
use crate::record::Record;
use crate::telemetry;

/// Why a stream did not take records; both map to `ServiceUnavailableException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("the stream's backlog is full")]
    BacklogFull,
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// Record bytes that may wait in memory for a stream's task.
const QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// How long a put waits for room in the queue before `ServiceUnavailableException`.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Records on their way to the stream's task, holding their room in the queue.
pub struct QueuedBatch {
    pub records: Vec<Record>,
    _room: OwnedSemaphorePermit,
}

/// Bytes accepted and not yet delivered, shared by ingest and delivery.
#[derive(Debug)]
pub struct Backlog {
    stream: String,
    bytes: AtomicU64,
    max: u64,
}

impl Backlog {
    /// Called when a batch is delivered: its bytes no longer count.
    pub fn release(&self, bytes: u64) {
        let before = self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        telemetry::backlog(&self.stream, before.saturating_sub(bytes));
    }

    fn try_reserve(&self, bytes: u64) -> bool {
        let reserved = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                // An empty backlog always takes one batch, so an oversized batch
                // cannot be refused forever.
                (current == 0 || current + bytes <= self.max).then_some(current + bytes)
            });
        if let Ok(before) = reserved {
            telemetry::backlog(&self.stream, before + bytes);
        }
        reserved.is_ok()
    }
}

/// A delivery stream as sources see it: its config and where to put records.
#[derive(Clone)]
pub struct StreamHandle {
    config: Arc<StreamConfig>,
    tx: mpsc::UnboundedSender<QueuedBatch>,
    backlog: Arc<Backlog>,
    queue: Arc<Semaphore>,
    closed: Arc<AtomicBool>,
}

impl StreamHandle {
    pub(super) fn new(
        config: StreamConfig,
        max_backlog: u64,
    ) -> (Self, mpsc::UnboundedReceiver<QueuedBatch>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog {
            stream: config.name.clone(),
            bytes: AtomicU64::new(0),
            max: max_backlog,
        });
        let handle = Self {
            config: Arc::new(config),
            tx,
            backlog,
            queue: Arc::new(Semaphore::new(QUEUE_BYTES)),
            closed: Arc::new(AtomicBool::new(false)),
        };
        (handle, rx)
    }

    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub(super) fn backlog(&self) -> Arc<Backlog> {
        self.backlog.clone()
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Accepts `records` for delivery. On `Ok`, they are the stream's to deliver.
    pub async fn ingest(&self, records: Vec<Record>) -> Result<(), IngestError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(IngestError::ShuttingDown);
        }
        let bytes: u64 = records.iter().map(|r| r.data.len() as u64).sum();
        if !self.backlog.try_reserve(bytes) {
            telemetry::throttled(self.name(), records.len());
            return Err(IngestError::BacklogFull);
        }
        // A batch larger than the whole queue waits for it to be empty.
        let room = u32::try_from(bytes.min(QUEUE_BYTES as u64)).unwrap_or(u32::MAX);
        let permit =
            tokio::time::timeout(QUEUE_WAIT, self.queue.clone().acquire_many_owned(room)).await;
        let Ok(Ok(room)) = permit else {
            self.backlog.release(bytes);
            telemetry::throttled(self.name(), records.len());
            return Err(IngestError::BacklogFull);
        };
        telemetry::ingested(self.name(), records.len(), bytes);
        let batch = QueuedBatch {
            records,
            _room: room,
        };
        self.tx.send(batch).map_err(|_| {
            self.backlog.release(bytes);
            IngestError::ShuttingDown
        })
    }
}
