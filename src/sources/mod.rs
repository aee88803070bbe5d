//! Sources turn outside input into records for a delivery stream. They know nothing
//! about buffering or sinks: they call `StreamHandle::ingest` and acknowledge only
//! when it returns `Ok`.

pub mod direct_put;
pub mod file;
pub mod kinesis;
pub mod lines;
pub mod state_file;
pub mod stdin;

use std::time::Duration;

use tokio::sync::watch;

use crate::pipeline::{IngestError, StreamHandle};
use crate::record::Record;

/// Whether a source writes a checkpoint after handing records over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// File and Kinesis sources: the records are synced before the checkpoint
    /// that covers them, whatever `spool.durability` says.
    Checkpointed,
    /// Standard input: nothing to resume from.
    Unchecked,
}

/// Hands records read by a source (file, stdin, Kinesis) to its stream, waiting
/// `pause` between tries while the spool is full: a source pauses rather than
/// drops. False when the daemon is stopping (the records were not taken).
pub async fn hand_to_spool(
    stream: &StreamHandle,
    records: Vec<Record>,
    handover: Handover,
    stop: &mut watch::Receiver<bool>,
    pause: Duration,
) -> bool {
    loop {
        let taken = match handover {
            Handover::Checkpointed => stream.ingest_durable(records.clone()).await,
            Handover::Unchecked => stream.ingest(records.clone()).await,
        };
        match taken {
            Ok(()) => return true,
            Err(IngestError::ShuttingDown) => return false,
            Err(e) => {
                tracing::debug!(stream = %stream.name(), error = %e, "spool refused the batch, waiting");
                tokio::select! {
                    _ = stop.changed() => return false,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}
