//! The acknowledgement point: a source hands records to a stream and, once this
//! returns `Ok`, the records are in the stream's spool and the producer is told they
//! are accepted. Every refusal means "retry later" and drops nothing accepted.

use std::sync::Arc;

use crate::config::StreamConfig;
use crate::processors::Unpacking;
use crate::record::Record;
use crate::records::Records;
use crate::sources::state_file::StateFile;
use crate::spool::{AppendError, Spool};
use crate::telemetry;

/// Why a stream did not take records; each maps to `ServiceUnavailableException`.
pub type IngestError = AppendError;

/// A delivery stream as sources see it: its config and where to put records.
#[derive(Clone)]
pub struct StreamHandle {
    config: Arc<StreamConfig>,
    spool: Arc<Spool>,
    /// The stream's unpacking processors, which sources run on records before
    /// handing them over.
    unpacking: Option<Arc<Unpacking>>,
    /// The version number in the stream's object names.
    version: u64,
    /// What the stream's source waits for, if anything (a broker that does
    /// not answer): `/ready` says so.
    waiting: Arc<std::sync::Mutex<Option<String>>>,
}

impl StreamHandle {
    pub(super) fn new(
        config: StreamConfig,
        spool: Arc<Spool>,
        unpack_cap: usize,
        version: u64,
    ) -> Self {
        let unpacking = Unpacking::new(&config, unpack_cap).map(Arc::new);
        Self {
            config: Arc::new(config),
            spool,
            unpacking,
            version,
            waiting: Arc::default(),
        }
    }

    /// Notes what the source waits for (`None`: nothing).
    pub fn wait_for(&self, reason: Option<String>) {
        *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) = reason;
    }

    /// What the source waits for, if anything.
    pub fn waiting(&self) -> Option<String> {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The version number in the stream's object names (`VersionId`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The stream's unpacking stage, if it has one: what a source hands over is
    /// what comes out of it (see [`StreamHandle::unpack`]).
    pub fn unpacking(&self) -> Option<&Unpacking> {
        self.unpacking.as_deref()
    }

    /// Appends what `record` becomes in this stream to `out`: its parts after the
    /// unpacking processors (or a refusal), or the record itself. Returns the
    /// bytes appended, parts' overhead included. CPU work for a large record.
    pub fn unpack(&self, record: Record, out: &mut Vec<Record>) -> usize {
        match &self.unpacking {
            Some(unpacking) => unpacking.unpack(record, out),
            None => {
                let size = record.data.len() + crate::processors::unpacking::PART_OVERHEAD;
                out.push(record);
                size
            }
        }
    }

    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The sequence number of the next record this stream's only appender (its
    /// file source) hands over: see `Spool::next_seq`.
    pub fn next_seq(&self) -> u64 {
        self.spool.next_seq()
    }

    /// A checkpoint file of the stream's source, in its spool folder and on its
    /// spool's disk (so a power cut treats both alike).
    pub fn state_file(&self, name: &str) -> StateFile {
        StateFile::new(self.spool.disk(), self.spool.dir(), name)
    }

    /// Records accepted and not yet delivered.
    pub fn backlog(&self) -> u64 {
        self.spool.backlog()
    }

    /// Stops taking records.
    pub(super) fn close(&self) {
        self.spool.close();
    }

    /// Gives the spool up for good, once the runner has ended: see `Spool::retire`.
    pub(super) async fn retire(&self) {
        self.spool.retire().await;
    }

    /// Accepts `records` for delivery. On `Ok`, they are durable in the spool
    /// (under `spool.durability`).
    pub async fn ingest(&self, records: impl Into<Records>) -> Result<(), IngestError> {
        self.ingest_with(records.into(), false).await
    }

    /// Accepts `records` and syncs them to disk whatever `spool.durability`
    /// says, for a source that checkpoints after it.
    pub async fn ingest_durable(&self, records: impl Into<Records>) -> Result<(), IngestError> {
        self.ingest_with(records.into(), true).await
    }

    async fn ingest_with(&self, records: Records, durable: bool) -> Result<(), IngestError> {
        let (count, bytes) = (records.len(), records.data_bytes());
        let appended = if durable {
            self.spool.append_durable(records).await
        } else {
            self.spool.append(records).await
        };
        match appended {
            Ok(()) => {
                telemetry::ingested(self.name(), count, bytes);
                Ok(())
            }
            Err(e) => {
                if e != AppendError::ShuttingDown {
                    telemetry::throttled(self.name(), count);
                }
                Err(e)
            }
        }
    }
}
