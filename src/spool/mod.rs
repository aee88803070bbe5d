//! The durable spool: where a stream's records wait, on disk, from acknowledgement
//! until delivery.
//!
//! - Appends go through one writer task per stream that commits groups of
//!   requests with one write and one `fdatasync` (`writer`); a put is answered only
//!   once its records are durable.
//! - Records are CRC-framed (`frame`) in append-only segment files (`segment`).
//! - The stream's runner reads records back behind the writer (`reader`), so a
//!   backlog lives on disk, not in memory.
//! - The ledger (`ledger`) records each sealed batch's records and object key before
//!   its object is written, and which records are delivered; segments whose records
//!   are all delivered are deleted.
//! - On start, a torn write at the end is cut off, and everything not delivered is
//!   read again: sealed batches go to the same keys, the rest is buffered anew.
//!
//! The spool knows nothing of sinks or encodings: it stores records and batch keys.

mod frame;
mod ledger;
mod ranges;
mod reader;
mod segment;
mod seq_bitmap;
mod shared;
mod writer;

use std::any::Any;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use shared::{Position, Shared};

use tokio::sync::{mpsc, oneshot, watch};

pub use ledger::{Copy, Seal};
pub use ranges::RangeSet;
pub use reader::{Damage, Item, Reader};
pub use seq_bitmap::SeqBitmap;

use crate::config::{Durability, SpoolConfig};
use crate::disk::{Disk, DiskFile};
use crate::record::Record;
use crate::records::Records;
use crate::telemetry;

/// Why records were not taken. Each one means the producer should retry later
/// (`ServiceUnavailableException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("the spool is full (spool.max_size_mb)")]
    Full,
    #[error("the spool's disk is full")]
    NoSpace,
    #[error("cannot write the spool: {0}")]
    Io(String),
    #[error("the stream is shutting down")]
    ShuttingDown,
}

impl AppendError {
    fn from_io(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => Self::NoSpace,
            _ => Self::Io(e.to_string()),
        }
    }
}

/// Why a spool could not be opened; the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("spool {0} is in use by another sluice process")]
    Locked(PathBuf),
    #[error(transparent)]
    Segment(#[from] segment::SegmentError),
}

/// What was not delivered when the spool was opened.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Batches sealed before the last stop and not delivered: they are delivered
    /// again, under the same keys, as soon as their records are read.
    pub pending: Vec<Seal>,
    /// Records above the watermark that are already delivered.
    pub delivered: SeqBitmap,
    /// Records whose primary copy alone is written (their backup copy is owed).
    pub primary_done: SeqBitmap,
    /// Records whose backup copy alone is written (their primary copy is owed).
    pub backup_done: SeqBitmap,
    /// The retry time each pending batch had used, in milliseconds, by batch id.
    pub retry_spent_ms: BTreeMap<u64, u64>,
    /// Records from here on are in no batch sealed before the stop.
    pub horizon: u64,
}

/// A stream's spool, shared by its ingest handle and its runner.
pub struct Spool {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<writer::Message>,
    /// `None` once the spool is retired: nothing more is written to it.
    ledger: Arc<Mutex<Option<ledger::Ledger>>>,
    last_batch: AtomicU64,
    closed: AtomicBool,
    /// The task that appends, awaited when the spool is retired.
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Holds the folder's lock until the spool is retired.
    lock: Mutex<Option<Box<dyn Any + Send + Sync>>>,
}

/// An opened spool, with the reader for its runner and what it must recover.
pub struct Opened {
    pub spool: Arc<Spool>,
    pub reader: Reader,
    pub recovery: Recovery,
}

impl Spool {
    /// Opens (or creates) the spool of `stream` under `config.dir`, cutting off a torn
    /// write, and starts its writer task (so it is called inside the runtime).
    /// With `backup`, each record owes a backup copy besides its primary one.
    /// Every file it keeps is on `disk`.
    pub fn open(
        stream: &str,
        config: &SpoolConfig,
        backup: bool,
        disk: Arc<dyn Disk>,
    ) -> Result<Opened, OpenError> {
        let dir = config.dir.join(stream);
        let io_err = |source| OpenError::Io {
            path: dir.clone(),
            source,
        };
        disk.create_dir_all(&dir).map_err(io_err)?;
        let lock = lock(disk.as_ref(), &dir)?;
        let sync = config.durability == Durability::Fsync;
        let mut ledger = ledger::Ledger::open(disk.clone(), &dir, sync, backup).map_err(io_err)?;
        let watermark = ledger.watermark();
        let mut segments = segment::list(disk.as_ref(), &dir).map_err(io_err)?;
        // No new record may take a number the ledger already knows.
        let horizon = ledger
            .pending()
            .map(|s| s.seqs.end())
            .fold(watermark.max(ledger.delivered().end()), u64::max)
            .max(ledger.primary_done().end())
            .max(ledger.backup_done().end());
        let first_segment = segments.keys().next().copied();
        let Appending {
            base,
            file,
            len,
            next_seq,
            missing,
        } = appending_segment(disk.as_ref(), stream, &dir, &mut segments, horizon)?;
        let gone = gone_records(watermark, first_segment, missing);
        if !gone.is_empty() {
            // Only a machine crash with `durability = "buffered"` gets here: the
            // ledger lost entries or the last segment lost records. Counting them
            // as delivered keeps the watermark moving, so the spool never holds
            // on to records that no longer exist.
            ledger.gone(gone).map_err(io_err)?;
        }
        let watermark = ledger.watermark();
        let size: u64 = segments.values().sum();
        let (committed, _) = watch::channel(Position {
            segment: base,
            len,
            next_seq,
            closed: false,
        });
        let shared = Arc::new(Shared {
            disk,
            dir: dir.clone(),
            stream: stream.to_string(),
            segments: Mutex::new(segments),
            size: AtomicU64::new(size),
            max: config.max_size_mb.saturating_mul(1024 * 1024),
            appending: AtomicU64::new(0),
            watermark: AtomicU64::new(watermark),
            delivered_above: AtomicU64::new(ledger.delivered().len()),
            committed,
        });
        telemetry::spool_bytes(stream, size);
        // Finish deletions a stop interrupted.
        shared.delete_below(watermark);
        shared.report_backlog();
        let first_segment = shared.segments().keys().next().copied().unwrap_or(base);
        let recovery = Recovery {
            retry_spent_ms: ledger
                .pending()
                .map(|s| (s.batch, ledger.retry_spent_ms(s.batch)))
                .filter(|&(_, ms)| ms > 0)
                .collect(),
            pending: ledger.pending().cloned().collect(),
            delivered: ledger.delivered().clone(),
            primary_done: ledger.primary_done().clone(),
            backup_done: ledger.backup_done().clone(),
            horizon,
        };
        tracing::info!(
            stream, dir = %dir.display(), bytes = shared.size.load(Ordering::Acquire), undelivered_records = next_seq.saturating_sub(watermark + recovery.delivered.len()),
            sealed_batches = recovery.pending.len(), durability = ?config.durability, "spool opened"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = writer::Writer {
            shared: shared.clone(),
            file,
            base,
            len,
            next_seq,
            segment_bytes: config.segment_bytes(),
            sync,
        };
        let writer = tokio::spawn(writer.run(rx));
        let reader = Reader::new(shared.clone(), first_segment, watermark);
        let spool = Arc::new(Self {
            shared,
            tx,
            last_batch: AtomicU64::new(ledger.last_batch()),
            ledger: Arc::new(Mutex::new(Some(ledger))),
            closed: AtomicBool::new(false),
            writer: Mutex::new(Some(writer)),
            lock: Mutex::new(Some(lock)),
        });
        Ok(Opened {
            spool,
            reader,
            recovery,
        })
    }

    /// Stores `records`; on `Ok` they are durable (or, in buffered mode, written).
    pub async fn append(&self, records: impl Into<Records>) -> Result<(), AppendError> {
        self.append_with(records.into(), false).await
    }

    /// Stores `records` and syncs them whatever the durability: a source writes
    /// its checkpoint (always synced) after this, and a checkpoint must never be
    /// more durable than the records it covers.
    pub async fn append_durable(&self, records: impl Into<Records>) -> Result<(), AppendError> {
        self.append_with(records.into(), true).await
    }

    async fn append_with(&self, records: Records, durable: bool) -> Result<(), AppendError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(AppendError::ShuttingDown);
        }
        let bytes = frame::records_len(&records);
        if !self.shared.try_reserve(bytes) {
            return Err(AppendError::Full);
        }
        let (reply, answer) = oneshot::channel();
        let sent = self.tx.send(writer::Message::Append {
            records,
            bytes,
            durable,
            reply,
        });
        let result = match sent {
            Ok(()) => answer.await.unwrap_or(Err(AppendError::ShuttingDown)),
            Err(_) => Err(AppendError::ShuttingDown),
        };
        self.shared
            .finish_append(if result.is_ok() { 0 } else { bytes });
        result
    }

    /// The sequence number the next record appended will get, when the caller is
    /// the only appender and waits for each append (a source's checkpoints rely on
    /// it: after a crash, the records appended since a checkpoint are counted by it).
    pub fn next_seq(&self) -> u64 {
        self.shared.committed.borrow().next_seq
    }

    /// Records accepted and not yet delivered (nor written to the error output).
    pub fn backlog(&self) -> u64 {
        self.shared.backlog()
    }

    /// Whether the spool holds three quarters of `spool.max_size_mb` or more:
    /// past it, a stream whose open buffers hold its oldest records seals them
    /// early rather than let puts be refused until their interval ends.
    pub fn nearly_full(&self) -> bool {
        let size = self.shared.size.load(Ordering::Acquire);
        size >= self.shared.max / 4 * 3
    }

    /// The disk the spool's files are on.
    pub fn disk(&self) -> Arc<dyn Disk> {
        self.shared.disk.clone()
    }

    /// The spool's folder (`<spool.dir>/<stream>`), locked by this process.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Stops taking records; the reader sees the end once it has read what came before.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(writer::Message::Close);
        }
    }

    /// Closes the spool for good and gives its folder up, so that a reload can
    /// open it again under a changed config: waits for the appends in flight,
    /// lets a ledger write under way finish and refuses any after it, then
    /// releases the lock. Call it once the stream's runner has ended (a runner
    /// stopped mid-delivery leaves its batch sealed, for the next opening).
    pub async fn retire(&self) {
        self.close();
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        let ledger = self.ledger.clone();
        let _ = tokio::task::spawn_blocking(move || lock_ledger(&ledger).take()).await;
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// A new batch id, larger than any in the ledger.
    pub fn next_batch_id(&self) -> u64 {
        self.last_batch.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Records a sealed batch durably: from now on its records belong to its key.
    pub async fn seal(&self, seal: Seal) -> io::Result<()> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || open_ledger(&mut lock_ledger(&ledger))?.seal(seal))
            .await
            .map_err(io::Error::other)?
    }

    /// Records how much of its retry duration a pending batch has used, so that a
    /// restart continues its clock instead of starting a new one.
    pub async fn retrying(&self, batch: u64, spent: std::time::Duration) -> io::Result<()> {
        let ledger = self.ledger.clone();
        let spent_ms = u64::try_from(spent.as_millis()).unwrap_or(u64::MAX);
        tokio::task::spawn_blocking(move || {
            open_ledger(&mut lock_ledger(&ledger))?.retrying(batch, spent_ms)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Reads the records `seqs` back from disk (they must not be delivered yet).
    pub async fn fetch(&self, seqs: RangeSet) -> io::Result<Vec<Record>> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || reader::fetch(&shared, &seqs))
            .await
            .map_err(io::Error::other)?
    }

    /// Records that a batch wrote `copy` of its records, and deletes the segments
    /// that are then wholly delivered.
    pub async fn delivered(&self, batch: u64, seqs: RangeSet, copy: Copy) -> io::Result<()> {
        let (ledger, shared) = (self.ledger.clone(), self.shared.clone());
        let watermark = tokio::task::spawn_blocking(move || {
            let watermark = {
                let mut guard = lock_ledger(&ledger);
                let ledger = open_ledger(&mut guard)?;
                let watermark = ledger.mark_delivered(batch, seqs, copy)?;
                // Stored under the ledger's lock, so they never go back in time.
                shared.watermark.store(watermark, Ordering::Release);
                let above = ledger.delivered().len();
                shared.delivered_above.store(above, Ordering::Release);
                watermark
            };
            shared.report_backlog();
            shared.delete_below(watermark);
            Ok::<_, io::Error>(watermark)
        })
        .await
        .map_err(io::Error::other)??;
        if watermark >= self.shared.committed.borrow().next_seq {
            // Everything is delivered: the current segment can be emptied.
            let _ = self.tx.send(writer::Message::Recycle { watermark });
        }
        Ok(())
    }
}

/// The segment appends go to, and where in it.
struct Appending {
    base: u64,
    file: Arc<dyn DiskFile>,
    len: u64,
    next_seq: u64,
    /// Records the ledger knows that the last segment lost.
    missing: Option<std::ops::Range<u64>>,
}

/// The undelivered records (at or above `watermark`) that are in no segment:
/// below the first segment, those delivered before the stop whose delivery
/// the ledger lost (segments are deleted only once delivered), and `missing`.
fn gone_records(
    watermark: u64,
    first_segment: Option<u64>,
    missing: Option<std::ops::Range<u64>>,
) -> RangeSet {
    let mut gone = RangeSet::new();
    if let Some(first) = first_segment.filter(|&f| f > watermark) {
        gone.insert(watermark..first);
    }
    if let Some(missing) = missing {
        gone.insert(missing);
    }
    gone
}

/// Opens the last segment for appending, cutting off a torn write, or starts one
/// when there is none or when it lacks records the ledger knows (`horizon`).
fn appending_segment(
    disk: &dyn Disk,
    stream: &str,
    dir: &Path,
    segments: &mut BTreeMap<u64, u64>,
    horizon: u64,
) -> Result<Appending, OpenError> {
    let mut missing = None;
    if let Some(&last) = segments.keys().next_back() {
        let tail = segment::open_tail(disk, dir, last)?;
        if tail.truncated > 0 {
            tracing::warn!(
                stream,
                segment = last,
                bytes = tail.truncated,
                "cut a torn write off the end of the spool (unacknowledged, unless durability is buffered and the machine crashed)"
            );
        }
        segments.insert(last, tail.len);
        if tail.next_seq >= horizon {
            return Ok(Appending {
                base: last,
                file: tail.file,
                len: tail.len,
                next_seq: tail.next_seq,
                missing: None,
            });
        }
        // Records the ledger knows are gone: only a machine crash with
        // `durability = "buffered"` can do that. Number new records after them.
        tracing::error!(
            stream,
            missing_from = tail.next_seq,
            missing_to = horizon,
            "records sealed for delivery are missing from the spool (lost in a machine crash?)"
        );
        missing = Some(tail.next_seq..horizon);
    }
    let file = segment::create(disk, dir, horizon).map_err(|source| OpenError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    segments.insert(horizon, segment::HEADER_LEN);
    Ok(Appending {
        base: horizon,
        file,
        len: segment::HEADER_LEN,
        next_seq: horizon,
        missing,
    })
}

fn lock_ledger(ledger: &Mutex<Option<ledger::Ledger>>) -> MutexGuard<'_, Option<ledger::Ledger>> {
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ledger, unless the spool was retired.
fn open_ledger(ledger: &mut Option<ledger::Ledger>) -> io::Result<&mut ledger::Ledger> {
    ledger
        .as_mut()
        .ok_or_else(|| io::Error::other("the spool was retired by a reload"))
}

/// Takes an exclusive lock on the spool folder, so two daemons never share it.
fn lock(disk: &dyn Disk, dir: &Path) -> Result<Box<dyn Any + Send + Sync>, OpenError> {
    let path = dir.join("lock");
    disk.lock(&path)
        .map_err(|source| OpenError::Io { path, source })?
        .ok_or_else(|| OpenError::Locked(dir.to_path_buf()))
}

#[cfg(test)]
mod tests;
