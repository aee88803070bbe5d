//! What a stream's writer, reader and ledger share: the segments on disk, the
//! spool's size against its limit, and the writer's committed position.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::segment;
use crate::disk::Disk;
use crate::telemetry;

/// What the writer has made durable (or, in buffered mode, written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The segment being appended to.
    pub(super) segment: u64,
    /// Its committed length.
    pub(super) len: u64,
    /// The sequence number the next record will get.
    pub(super) next_seq: u64,
    /// The writer has stopped: nothing more will come.
    pub(super) closed: bool,
}

/// What the writer, the reader and the ledger share.
pub(super) struct Shared {
    pub(super) disk: Arc<dyn Disk>,
    pub(super) dir: PathBuf,
    pub(super) stream: String,
    /// Segments on disk: first sequence number → bytes.
    pub(super) segments: Mutex<BTreeMap<u64, u64>>,
    /// Bytes on disk plus bytes reserved by appends under way.
    pub(super) size: AtomicU64,
    pub(super) max: u64,
    /// Appends under way (reserved, not yet written or refused).
    pub(super) appending: AtomicU64,
    /// The first undelivered sequence number, as the ledger last said.
    pub(super) watermark: AtomicU64,
    /// Delivered records above the watermark, as the ledger last said.
    pub(super) delivered_above: AtomicU64,
    pub(super) committed: watch::Sender<Position>,
}

impl Shared {
    pub(super) fn segments(&self) -> MutexGuard<'_, BTreeMap<u64, u64>> {
        self.segments.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn segment_after(&self, base: u64) -> Option<u64> {
        self.segments().range(base + 1..).next().map(|(&b, _)| b)
    }

    /// Reserves room for an append. A spool with nothing undelivered takes any
    /// append, so a batch larger than the limit is not refused forever.
    pub(super) fn try_reserve(&self, bytes: u64) -> bool {
        let nothing_undelivered = || {
            self.appending.load(Ordering::Acquire) == 0
                && self.watermark.load(Ordering::Acquire) >= self.committed.borrow().next_seq
        };
        let reserved = self
            .size
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (current + bytes <= self.max || nothing_undelivered()).then_some(current + bytes)
            });
        match reserved {
            Ok(before) => {
                self.appending.fetch_add(1, Ordering::AcqRel);
                telemetry::spool_bytes(&self.stream, before + bytes);
                true
            }
            Err(_) => false,
        }
    }

    /// An append is over; if it failed, its reserved room is given back.
    pub(super) fn finish_append(&self, refused_bytes: u64) {
        if refused_bytes > 0 {
            self.release(refused_bytes);
        }
        self.appending.fetch_sub(1, Ordering::AcqRel);
    }

    pub(super) fn release(&self, bytes: u64) {
        let before = self.size.fetch_sub(bytes, Ordering::AcqRel);
        telemetry::spool_bytes(&self.stream, before.saturating_sub(bytes));
    }

    pub(super) fn add_segment(&self, base: u64, bytes: u64) {
        self.segments().insert(base, bytes);
        let before = self.size.fetch_add(bytes, Ordering::AcqRel);
        telemetry::spool_bytes(&self.stream, before + bytes);
    }

    /// A segment renamed (and possibly emptied) for reuse.
    pub(super) fn replace_segment(&self, old: u64, new: u64, bytes: u64) {
        let before = {
            let mut segments = self.segments();
            let before = segments.remove(&old).unwrap_or(bytes);
            segments.insert(new, bytes);
            before
        };
        if before > bytes {
            self.release(before - bytes);
        }
    }

    /// Counts written bytes (already reserved) against their segment.
    pub(super) fn grow_segment(&self, base: u64, bytes: u64) {
        *self.segments().entry(base).or_default() += bytes;
    }

    /// Publishes how many records are accepted and not delivered.
    pub(super) fn report_backlog(&self) {
        telemetry::backlog_records(&self.stream, self.backlog());
    }

    /// Records accepted and not yet delivered.
    pub(super) fn backlog(&self) -> u64 {
        let next = self.committed.borrow().next_seq;
        let delivered =
            self.watermark.load(Ordering::Acquire) + self.delivered_above.load(Ordering::Acquire);
        next.saturating_sub(delivered)
    }

    /// Deletes the segments whose records all lie below `watermark`. The segment
    /// being appended to always stays: it tells the next start where numbering is.
    pub(super) fn delete_below(&self, watermark: u64) {
        // Choosing, deleting and uncounting happen under one lock: deliveries finish
        // concurrently, and a segment must be uncounted exactly once.
        let mut segments = self.segments();
        let bases: Vec<u64> = segments.keys().copied().collect();
        let doomed = bases.windows(2).filter(|w| w[1] <= watermark).map(|w| w[0]);
        let mut freed = 0;
        for base in doomed {
            match self.disk.remove(&segment::path(&self.dir, base)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(stream = %self.stream, error = %e, segment = base, "cannot delete a delivered spool segment, will try again");
                    break;
                }
            }
            freed += segments.remove(&base).unwrap_or(0);
        }
        drop(segments);
        if freed == 0 {
            return;
        }
        self.release(freed);
        if let Err(e) = self.disk.sync_dir(&self.dir) {
            tracing::warn!(stream = %self.stream, error = %e, "cannot sync the spool folder");
        }
    }
}
