//! The acknowledgement point: a source hands records to a stream and, once this
//! returns `Ok`, the producer is told they are accepted.
//!
//! The backlog (accepted, not yet delivered bytes) is bounded per stream by
//! `spool.max_size_mb`; past it, puts fail fast so producers back off, and nothing
//! already accepted is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::config::StreamConfig;
use crate::record::Record;

/// Why a stream did not take records; both map to `ServiceUnavailableException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("the stream's backlog is full")]
    BacklogFull,
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// Bytes accepted and not yet delivered, shared by ingest and delivery.
#[derive(Debug, Default)]
pub struct Backlog {
    bytes: AtomicU64,
    max: u64,
}

impl Backlog {
    /// Called when a batch is delivered: its bytes no longer count.
    pub fn release(&self, bytes: u64) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    fn try_reserve(&self, bytes: u64) -> bool {
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                // An empty backlog always takes one batch, so an oversized batch
                // cannot be refused forever.
                (current == 0 || current + bytes <= self.max).then_some(current + bytes)
            })
            .is_ok()
    }
}

/// A delivery stream as sources see it: its config and where to put records.
#[derive(Clone)]
pub struct StreamHandle {
    config: Arc<StreamConfig>,
    tx: mpsc::UnboundedSender<Vec<Record>>,
    backlog: Arc<Backlog>,
    closed: Arc<AtomicBool>,
}

impl StreamHandle {
    pub(super) fn new(
        config: StreamConfig,
        max_backlog: u64,
    ) -> (Self, mpsc::UnboundedReceiver<Vec<Record>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Self {
            config: Arc::new(config),
            tx,
            backlog: Arc::new(Backlog {
                bytes: AtomicU64::new(0),
                max: max_backlog,
            }),
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
            return Err(IngestError::BacklogFull);
        }
        self.tx.send(records).map_err(|_| {
            self.backlog.release(bytes);
            IngestError::ShuttingDown
        })
    }
}
