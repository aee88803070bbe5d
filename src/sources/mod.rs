//! Sources turn outside input into records for a delivery stream. They know nothing
//! about buffering or sinks.
//!
//! The contract every source follows:
//! - It is opened from its stream's config and the stream's handle ([`open`];
//!   `kinds` is the one list of source kinds), before the stream takes
//!   records; a config it cannot start with is an error then, not later.
//! - It runs until told to stop ([`Source::run`]) or its input ends, and hands
//!   records to the spool only through [`hand_to_spool`]: unpacked as the
//!   stream says, in pieces, pausing (never dropping) while the spool is full.
//! - It acknowledges or checkpoints only what the spool holds: a checkpoint is
//!   written after the records it covers are durable, and an intent written
//!   before a hand-over lets a restart count what reached the spool, so a kill
//!   -9 at any point neither loses nor repeats a record on one instance (file,
//!   Kinesis). Standard input has nothing to resume from: a pipe's unread bytes
//!   die with the pipe.
//! - Told to stop, it hands over what it has read and returns; nothing is left
//!   between it and the spool.
//!
//! The API's records (direct PUT) are pushed by producers rather than pulled:
//! `direct_put` hands them to the spool and the producer's answer is the
//! acknowledgement, so it has no task to run here.

pub mod direct_put;
pub mod file;
pub mod kafka;
pub mod kinds;
pub mod kinesis;
pub mod lines;
pub mod settings;
pub mod state_file;
pub mod stdin;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Notify, watch};

use crate::pipeline::{IngestError, StreamHandle};
use crate::record::Record;

/// A running source's task (see the module's contract).
pub trait Source: Send {
    /// Reads into the stream until `stop` turns true or the input ends.
    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> BoxFuture<'static, ()>;
}

/// What sources may need of the daemon besides their stream.
#[derive(Clone)]
pub struct Context {
    /// Told when standard input ends (the daemon then stops, its job done).
    pub input_ended: Arc<Notify>,
}

/// Opens the source of `stream`: `None` for a stream fed by the API alone.
pub fn open(stream: &StreamHandle, context: &Context) -> anyhow::Result<Option<Box<dyn Source>>> {
    stream.config().source.kind().open(stream, context)
}

/// Whether a source writes a checkpoint after handing records over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// File and Kinesis sources: the records are synced before the checkpoint
    /// that covers them, whatever `spool.durability` says.
    Checkpointed,
    /// Standard input: nothing to resume from.
    Unchecked,
}

/// A source's records go to the spool in appends of at most this many bytes
/// (after unpacking), so records that unpack into many never exist all at once.
const PIECE_BYTES: usize = 4 * 1024 * 1024;

/// Hands records read by a source (file, stdin, Kinesis) to its stream, after the
/// stream's unpacking processors, waiting `pause` between tries while the spool
/// is full: a source pauses rather than drops. The first `skip` records that
/// come out of unpacking are in the spool already (from before a crash: a
/// source's intent counts spool records) and are not handed over again; `skip`
/// is decreased by those passed over. False when the daemon is stopping (what
/// was not handed over then was not taken).
pub async fn hand_to_spool(
    stream: &StreamHandle,
    records: Vec<Record>,
    handover: Handover,
    stop: &mut watch::Receiver<bool>,
    pause: Duration,
    skip: &mut u64,
) -> bool {
    let mut input = records.into_iter().peekable();
    while input.peek().is_some() {
        // Decompression is CPU work: other tasks move to another thread meanwhile.
        let piece = if stream.unpacking().is_some() {
            tokio::task::block_in_place(|| next_piece(stream, &mut input, skip))
        } else {
            next_piece(stream, &mut input, skip)
        };
        if !piece.is_empty() && !append(stream, piece, handover, stop, pause).await {
            return false;
        }
    }
    true
}

/// What [`offer_to_spool`] achieved.
pub enum Offered {
    /// Every record is in the spool.
    Taken,
    /// The spool is full; what it took is counted.
    Full,
    /// The stream is stopping; what it did not take was not taken.
    Stopping,
}

/// Appends `records` (after the stream's unpacking processors) to the spool,
/// synced, leaving out the first `spooled` records they make, and counts the
/// ones appended in `spooled`; returns at the first refusal instead of waiting,
/// for a source that must go on polling meanwhile (Kafka: its consumer must
/// poll to stay in its group). Offer the same records again later with the
/// same count. Unpacking runs on the calling thread: a source's own.
pub async fn offer_to_spool(
    stream: &StreamHandle,
    records: &[Record],
    spooled: &mut u64,
) -> Offered {
    let mut skip = *spooled;
    let mut input = records.iter().cloned().peekable();
    while input.peek().is_some() {
        let piece = next_piece(stream, &mut input, &mut skip);
        if piece.is_empty() {
            continue;
        }
        let count = piece.len() as u64;
        match stream.ingest_durable(piece).await {
            Ok(()) => *spooled += count,
            Err(IngestError::ShuttingDown) => return Offered::Stopping,
            Err(e) => {
                tracing::debug!(stream = %stream.name(), error = %e, "spool refused the batch");
                return Offered::Full;
            }
        }
    }
    Offered::Taken
}

/// Unpacks records off `input` until they make [`PIECE_BYTES`], leaving out the
/// first `skip` of what they make.
fn next_piece(
    stream: &StreamHandle,
    input: &mut impl Iterator<Item = Record>,
    skip: &mut u64,
) -> Vec<Record> {
    let (mut piece, mut bytes) = (Vec::new(), 0);
    while bytes < PIECE_BYTES
        && let Some(record) = input.next()
    {
        bytes += stream.unpack(record, &mut piece);
        let passed = piece
            .len()
            .min(usize::try_from(*skip).unwrap_or(usize::MAX));
        piece.drain(..passed);
        *skip -= passed as u64;
    }
    piece
}

/// Appends one piece, waiting while the spool is full.
async fn append(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Streams;

    /// After a crash, a source's intent counts the spool records appended since
    /// it: with de-aggregation those are sub-records, not the source's records,
    /// so the ones already spooled are left out by sub-record.
    #[tokio::test(flavor = "multi_thread")]
    async fn records_already_spooled_are_skipped_by_what_they_unpack_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().display();
        let path = dir.path().join("sluice.toml");
        std::fs::write(
            &path,
            format!(
                "[spool]\ndir = \"{root}/spool\"\n[[delivery_streams]]\nname = \"s\"\n\
                 buffering = {{ interval_seconds = 900 }}\n\
                 processors = [{{ type = \"deaggregation\", sub_record_type = \"delimited\", delimiter = \"|\" }}, {{ type = \"append_delimiter\" }}]\n\
                 destination = {{ type = \"local\", path = \"{root}/out\" }}\n"
            ),
        )
        .expect("config written");
        let config = crate::config::load(Some(&path)).expect("config");
        let streams = Streams::start(&config).await.expect("streams");
        let stream = streams.get("s").expect("stream").clone();
        let (_stop, mut stopping) = watch::channel(false);
        let records = ["a|b|c", "d", "e|f"].map(|r| Record::new(r, 1)).to_vec();
        let mut skip = 2;
        let handed = hand_to_spool(
            &stream,
            records,
            Handover::Checkpointed,
            &mut stopping,
            Duration::from_millis(10),
            &mut skip,
        )
        .await;
        assert!(handed);
        assert_eq!(skip, 0);
        assert_eq!(streams.shutdown(Duration::from_secs(10)).await, 0);
        let mut bodies = Vec::new();
        for entry in walk(&dir.path().join("out")) {
            bodies.push(std::fs::read_to_string(entry).expect("object"));
        }
        assert_eq!(bodies, ["c\nd\ne\nf\n"]);
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }
}
