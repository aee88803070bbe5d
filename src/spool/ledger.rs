//! The ledger: which spooled records belong to which object, and which are delivered.
//!
//! A buffer is *sealed* before its object is written: the ledger records the batch's
//! sequence numbers and its object key, durably. After a crash the same records are
//! delivered again under the same key with the same bytes, so a store that overwrites
//! by key (S3, a local folder) ends up with one object, not two. Records sealed in no
//! batch are buffered anew. *Delivered* entries free the records; everything below
//! the *watermark* (the first number not yet delivered) is delivered.
//!
//! The ledger lives in two files allocated in full when created (`ledger-0`,
//! `ledger-1`), so it can always be written, even on a full disk: deliveries free
//! space only by writing to it. Entries are appended to one file; when it fills, the
//! live state is written to the other and it becomes the current one. Each file
//! starts with a generation number that is mixed into every entry's CRC, so entries
//! left over from an older generation never read as current.
//!
//! The live state grows with the records that sealed batches hold in scattered
//! ranges (one partition's batch among hundreds is a range per record). When it
//! takes more than half a file, both files grow to four times the state, so a
//! seal never fails for the size of its batch. Recording a delivery moves a
//! sealed batch's records to the written sets, compressed bitmaps of at most a
//! bit a record (`seq_bitmap.rs`), so the state stays about the size the seal
//! made it, within the files as they are, a full disk or not.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ranges::RangeSet;
use super::seq_bitmap::SeqBitmap;
use crate::disk::{Disk, DiskFile, Mode};
use crate::encode::{Codec, Compression};
use crate::output::Output;

const MAGIC: &[u8; 8] = b"SLLEDGR\x01";
/// Magic and generation.
const HEADER_LEN: u64 = 16;
/// Each file's least size. A seal entry of a batch of consecutive records is
/// about 100 bytes plus its key, so this holds thousands of seals between two
/// compactions, while the live state is a few seals per delivery in flight.
const MIN_FILE_BYTES: u64 = 1024 * 1024;

/// Compact when the current file of `file_bytes` is this full.
fn compact_at(file_bytes: u64) -> u64 {
    file_bytes / 4 * 3
}

/// A sealed batch: its records, the key its object is written under and what the
/// object holds. Several batches may hold the same records (a backup copy, or the
/// error output of a batch that could not be delivered): a record counts as
/// delivered once no pending batch holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub batch: u64,
    pub key: String,
    pub seqs: RangeSet,
    pub output: Output,
    /// How the object's body is encoded, so a rebuild after a restart with an
    /// edited config still writes what the key's extension says. `None` in
    /// ledgers from before, and for a name this version does not know.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known_codec"
    )]
    pub codec: Option<Codec>,
}

/// A seal's codec, or `None` when it names a compression this version does not
/// know (the batch is then encoded as the stream says now).
fn known_codec<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Codec>, D::Error> {
    let written = Option::<(String, u32)>::deserialize(deserializer)?;
    Ok(written.and_then(|(name, level)| {
        Some(Codec {
            compression: Compression::try_from(name).ok()?,
            level,
        })
    }))
}

/// Which copy of its records a delivered batch wrote. With a source backup a
/// record owes two: its primary copy (the destination, or the error output, or
/// nothing when a plugin dropped it) and its backup copy. It is released only when
/// both are written, whichever comes first; a restart writes only the missing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Copy {
    Primary,
    Backup,
}

impl Copy {
    /// The copy a batch of this kind writes: a backup batch the backup copy,
    /// every other (data, error output) the primary one.
    pub fn of(output: &Output) -> Self {
        match output {
            Output::Backup => Self::Backup,
            _ => Self::Primary,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Entry {
    /// Every record below this number is delivered.
    Watermark(u64),
    Sealed(Seal),
    /// A batch's records are written; `batch` 0 is no batch (records gone, and
    /// sets carried over by compaction in ledgers written before `Written`).
    /// `copy` is `None` for every copy (and in ledgers written before copies
    /// were told apart).
    Delivered {
        batch: u64,
        seqs: RangeSet,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copy: Option<Copy>,
    },
    /// A set carried over by compaction: records above the watermark with
    /// every copy written (`copy` `None`) or just the one named. Net of
    /// pending batches already.
    Written {
        seqs: SeqBitmap,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copy: Option<Copy>,
    },
    /// How much of its retry duration a pending batch has used, so that a restart
    /// does not give it a new one (a daemon restarted more often than the retry
    /// duration would otherwise retry an undeliverable batch forever).
    Retrying {
        batch: u64,
        spent_ms: u64,
    },
}

/// The ledger of one stream's spool.
pub struct Ledger {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    file: Arc<dyn DiskFile>,
    current: usize,
    generation: u64,
    offset: u64,
    /// The size both files are allocated to (at least [`MIN_FILE_BYTES`]).
    file_bytes: u64,
    sync: bool,
    watermark: u64,
    /// Delivered records above the watermark (every copy they owe).
    delivered: SeqBitmap,
    /// Whether records owe a backup copy besides their primary one.
    backup: bool,
    /// Records above the watermark with only their primary copy written.
    primary_done: SeqBitmap,
    /// Records above the watermark with only their backup copy written.
    backup_done: SeqBitmap,
    /// Sealed, not yet delivered batches, by batch id.
    pending: BTreeMap<u64, Seal>,
    /// Retry time used by pending batches whose delivery is failing, by batch id.
    retry_spent: BTreeMap<u64, u64>,
    last_batch: u64,
}

fn file_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("ledger-{i}"))
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`. With `sync`, every entry is on disk
    /// before the call that wrote it returns. With `backup`, records owe a backup
    /// copy too; without, a record whose primary copy is written is delivered.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path, sync: bool, backup: bool) -> io::Result<Self> {
        let mut best: Option<(usize, u64, Vec<Entry>, u64)> = None;
        let mut file_bytes = MIN_FILE_BYTES;
        for i in 0..2 {
            let path = file_path(dir, i);
            if !disk.exists(&path)? {
                allocate(disk.as_ref(), &path, MIN_FILE_BYTES)?;
                continue;
            }
            let raw = disk.read(&path)?;
            file_bytes = file_bytes.max(raw.len() as u64);
            if let Some((generation, entries, end)) = read_entries(&raw)
                && best.as_ref().is_none_or(|b| generation > b.1)
            {
                best = Some((i, generation, entries, end));
            }
        }
        let (current, generation, entries, offset) = best.unwrap_or((0, 0, Vec::new(), 0));
        let file = disk.open(&file_path(dir, current), Mode::ReadWrite)?;
        if file.size()? < file_bytes {
            // The other file had grown: appends here may reach as far.
            file.allocate(file_bytes)?;
        }
        let mut ledger = Self {
            disk,
            dir: dir.to_path_buf(),
            file,
            current,
            generation,
            offset,
            file_bytes,
            sync,
            watermark: 0,
            delivered: SeqBitmap::new(),
            backup,
            primary_done: SeqBitmap::new(),
            backup_done: SeqBitmap::new(),
            pending: BTreeMap::new(),
            retry_spent: BTreeMap::new(),
            last_batch: 0,
        };
        for entry in entries {
            ledger.apply(entry);
        }
        if offset == 0 {
            // A new ledger: give it a generation on disk.
            ledger.rewrite()?;
        }
        Ok(ledger)
    }

    /// Every record below this number is delivered.
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    /// Delivered records at or above the watermark.
    pub fn delivered(&self) -> &SeqBitmap {
        &self.delivered
    }

    /// Records above the watermark whose primary copy alone is written.
    pub fn primary_done(&self) -> &SeqBitmap {
        &self.primary_done
    }

    /// Records above the watermark whose backup copy alone is written.
    pub fn backup_done(&self) -> &SeqBitmap {
        &self.backup_done
    }

    /// Batches sealed and not delivered.
    pub fn pending(&self) -> impl Iterator<Item = &Seal> {
        self.pending.values()
    }

    /// The retry time a pending batch has used, in milliseconds (0 if none).
    pub fn retry_spent_ms(&self, batch: u64) -> u64 {
        self.retry_spent.get(&batch).copied().unwrap_or(0)
    }

    /// Records how much retry time a pending batch has used.
    pub fn retrying(&mut self, batch: u64, spent_ms: u64) -> io::Result<()> {
        self.append(Entry::Retrying { batch, spent_ms })
    }

    /// The largest batch id seen; new batches take larger ones.
    pub fn last_batch(&self) -> u64 {
        self.last_batch
    }

    /// Records a sealed batch; returns once it is durable.
    pub fn seal(&mut self, seal: Seal) -> io::Result<()> {
        self.append(Entry::Sealed(seal))
    }

    /// Records that a batch wrote `copy` of its records. Returns the new watermark.
    pub fn mark_delivered(&mut self, batch: u64, seqs: RangeSet, copy: Copy) -> io::Result<u64> {
        let copy = self.backup.then_some(copy);
        self.append(Entry::Delivered { batch, seqs, copy })?;
        Ok(self.watermark)
    }

    /// Records that `seqs` no longer exist (a machine crash lost them, or lost
    /// the entries saying they were delivered): they count as delivered, so the
    /// watermark passes them.
    pub fn gone(&mut self, seqs: RangeSet) -> io::Result<()> {
        // Batch 0 is no batch: the records are released whoever holds them.
        self.append(Entry::Delivered {
            batch: 0,
            seqs,
            copy: None,
        })
    }

    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Watermark(w) => {
                self.watermark = self.watermark.max(w);
                self.delivered.remove_below(self.watermark);
            }
            Entry::Sealed(seal) => {
                self.last_batch = self.last_batch.max(seal.batch);
                self.pending.insert(seal.batch, seal);
            }
            Entry::Retrying { batch, spent_ms } => {
                if self.pending.contains_key(&batch) {
                    self.retry_spent.insert(batch, spent_ms);
                }
            }
            Entry::Delivered {
                batch,
                mut seqs,
                copy,
            } => {
                self.pending.remove(&batch);
                self.retry_spent.remove(&batch);
                if batch != 0 {
                    for other in self.pending.values() {
                        // Another batch writing the same copy holds them still.
                        if copy.is_none_or(|c| c == Copy::of(&other.output)) {
                            seqs.subtract(&other.seqs);
                        }
                    }
                }
                self.written(SeqBitmap::from(&seqs), copy);
            }
            Entry::Written { seqs, copy } => self.written(seqs, copy),
        }
    }

    /// Records that `copy` of `seqs` is written (every copy when `None`), and
    /// moves the watermark past what is now wholly delivered.
    fn written(&mut self, seqs: SeqBitmap, copy: Option<Copy>) {
        let copy = copy.filter(|_| self.backup);
        let done = match copy {
            None => seqs,
            Some(Copy::Primary) => both(&mut self.backup_done, &mut self.primary_done, seqs),
            Some(Copy::Backup) => both(&mut self.primary_done, &mut self.backup_done, seqs),
        };
        self.primary_done.subtract(&done);
        self.backup_done.subtract(&done);
        self.delivered.union_with(&done);
        self.watermark = self.delivered.first_gap_from(self.watermark);
        self.delivered.remove_below(self.watermark);
        self.primary_done.remove_below(self.watermark);
        self.backup_done.remove_below(self.watermark);
    }

    fn append(&mut self, entry: Entry) -> io::Result<()> {
        let frame = encode(self.generation, &entry)?;
        if self.offset + frame.len() as u64 > compact_at(self.file_bytes) {
            self.apply(entry);
            return self.rewrite();
        }
        self.file.write_all_at(&frame, self.offset)?;
        if self.sync {
            self.file.sync()?;
        }
        self.offset += frame.len() as u64;
        self.apply(entry);
        Ok(())
    }

    /// Writes the live state, under the next generation, to the other file and
    /// makes it the current one. The old file stays intact until the new one is
    /// durable, so a crash in between leaves one or the other.
    fn rewrite(&mut self) -> io::Result<()> {
        let next = 1 - self.current;
        let generation = self.generation + 1;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&generation.to_le_bytes());
        let mut state = vec![Entry::Watermark(self.watermark)];
        for (seqs, copy) in [
            (&self.delivered, None),
            (&self.primary_done, Some(Copy::Primary)),
            (&self.backup_done, Some(Copy::Backup)),
        ] {
            if !seqs.is_empty() {
                state.push(Entry::Written {
                    seqs: seqs.clone(),
                    copy,
                });
            }
        }
        state.extend(self.pending.values().cloned().map(Entry::Sealed));
        state.extend(
            self.retry_spent
                .iter()
                .map(|(&batch, &spent_ms)| Entry::Retrying { batch, spent_ms }),
        );
        for entry in &state {
            out.extend_from_slice(&encode(generation, entry)?);
        }
        let state = out.len() as u64;
        let file_bytes = if state > self.file_bytes / 2 {
            let grown = (state * 4).next_power_of_two();
            tracing::info!(dir = %self.dir.display(), state_bytes = state, sealed_batches = self.pending.len(),
                from_bytes = self.file_bytes, to_bytes = grown, "the spool ledger grows");
            grown
        } else {
            self.file_bytes
        };
        let file = self
            .disk
            .open(&file_path(&self.dir, next), Mode::ReadWrite)?;
        let mut file_bytes = file_bytes;
        let size = file.size()?;
        if size < file_bytes
            && let Err(e) = file.allocate(file_bytes)
        {
            // A full disk: the state may still fit the file as it is.
            if state > size.max(self.file_bytes) {
                return Err(e);
            }
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot grow the spool ledger, keeping its size");
            file_bytes = self.file_bytes;
        }
        file.write_all_at(&out, 0)?;
        file.sync()?;
        self.file = file;
        self.current = next;
        self.generation = generation;
        self.offset = state;
        self.file_bytes = file_bytes;
        Ok(())
    }
}

/// Records one copy of `seqs` as written: those whose other copy is written
/// already (in `other_done`) are now wholly delivered and returned; the rest are
/// added to `this_done`.
fn both(other_done: &mut SeqBitmap, this_done: &mut SeqBitmap, mut seqs: SeqBitmap) -> SeqBitmap {
    let complete = seqs.intersection(other_done);
    seqs.subtract(&complete);
    this_done.union_with(&seqs);
    complete
}

/// Creates a ledger file with all its space allocated, so writing it never fails for
/// want of space.
fn allocate(disk: &dyn Disk, path: &Path, bytes: u64) -> io::Result<()> {
    let file = disk.open(path, Mode::Create)?;
    file.allocate(bytes)?;
    file.sync()?;
    if let Some(dir) = path.parent() {
        disk.sync_dir(dir)?;
    }
    Ok(())
}

/// `len: u32 | crc: u32 | JSON`, the CRC over the generation, the length and the JSON.
fn encode(generation: u64, entry: &Entry) -> io::Result<Vec<u8>> {
    let body = serde_json::to_vec(entry)?;
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(generation, len, &body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn checksum(generation: u64, len: u32, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&generation.to_le_bytes());
    h.update(&len.to_le_bytes());
    h.update(body);
    h.finalize()
}

/// The generation, the sound entries of a ledger file, and where they end. Reading
/// stops at the first entry that does not check (the end, or a torn write).
fn read_entries(raw: &[u8]) -> Option<(u64, Vec<Entry>, u64)> {
    if raw.len() < HEADER_LEN as usize || &raw[..8] != MAGIC {
        return None;
    }
    let generation = u64::from_le_bytes(raw[8..16].try_into().ok()?);
    let mut at = HEADER_LEN as usize;
    let mut entries = Vec::new();
    while at + 8 <= raw.len() {
        let len = u32::from_le_bytes(raw[at..at + 4].try_into().ok()?);
        let crc = u32::from_le_bytes(raw[at + 4..at + 8].try_into().ok()?);
        let end = at + 8 + len as usize;
        if len == 0 || end > raw.len() || checksum(generation, len, &raw[at + 8..end]) != crc {
            break;
        }
        let Ok(entry) = serde_json::from_slice(&raw[at + 8..end]) else {
            break;
        };
        entries.push(entry);
        at = end;
    }
    Some((generation, entries, at as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(batch: u64, seqs: std::ops::Range<u64>) -> Seal {
        Seal {
            batch,
            key: format!("key-{batch}"),
            seqs: vec![(seqs.start, seqs.end)].into(),
            output: Output::Data,
            codec: None,
        }
    }

    /// A record held by two batches (data and backup) is delivered once both are.
    #[test]
    fn shared_records_wait_for_every_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(crate::disk::os(), dir.path(), false, false).unwrap();
        l.seal(seal(1, 0..10)).unwrap();
        let mut backup = seal(2, 0..10);
        backup.output = Output::Backup;
        l.seal(backup.clone()).unwrap();
        assert_eq!(
            l.mark_delivered(1, seal(1, 0..10).seqs, Copy::Primary)
                .unwrap(),
            0
        );
        assert_eq!(l.mark_delivered(2, backup.seqs, Copy::Backup).unwrap(), 10);
    }

    /// Regression (seams issue, case 9): with a source backup, a record whose
    /// destination copy is written while its backup copy still sits in an open
    /// buffer (sealed in no batch) stays in the spool, across a restart, until the
    /// backup copy is written too; and the restart knows which copy is missing.
    #[test]
    fn a_record_is_released_only_when_its_primary_and_backup_copies_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(crate::disk::os(), dir.path(), true, true).unwrap();
        l.seal(seal(1, 0..10)).unwrap();
        assert_eq!(
            l.mark_delivered(1, seal(1, 0..10).seqs, Copy::Primary)
                .unwrap(),
            0
        );
        // Records 10..15 were dropped by a plugin: their primary copy is nothing.
        l.mark_delivered(2, vec![(10, 15)].into(), Copy::Primary)
            .unwrap();
        drop(l);
        let mut l = Ledger::open(crate::disk::os(), dir.path(), true, true).unwrap();
        assert_eq!(l.watermark(), 0, "the backup copies are not written yet");
        assert_eq!(l.primary_done(), &SeqBitmap::from(&vec![(0, 15)].into()));
        assert!(l.backup_done().is_empty());
        let mut backup = seal(3, 0..12);
        backup.output = Output::Backup;
        l.seal(backup.clone()).unwrap();
        assert_eq!(l.mark_delivered(3, backup.seqs, Copy::Backup).unwrap(), 12);
        assert_eq!(l.primary_done(), &SeqBitmap::from(&vec![(12, 15)].into()));
        // Backup first, then the primary copy: released the same way.
        l.mark_delivered(4, vec![(15, 20)].into(), Copy::Backup)
            .unwrap();
        assert_eq!(l.watermark(), 12);
        l.mark_delivered(5, vec![(12, 20)].into(), Copy::Backup)
            .unwrap();
        assert_eq!(l.watermark(), 15);
        l.mark_delivered(6, vec![(15, 20)].into(), Copy::Primary)
            .unwrap();
        assert_eq!(l.watermark(), 20);
        assert!(l.primary_done().is_empty() && l.backup_done().is_empty());
        // Without a backup (turned off since), a primary copy is the whole delivery.
        drop(l);
        let mut l = Ledger::open(crate::disk::os(), dir.path(), true, false).unwrap();
        l.mark_delivered(7, vec![(20, 30)].into(), Copy::Primary)
            .unwrap();
        assert_eq!(l.watermark(), 30);
    }

    /// Ledgers written before the written sets were bitmaps carried them across
    /// a compaction as `Delivered` entries of batch 0: they still read, one
    /// copy's set included.
    #[test]
    fn written_sets_of_older_ledgers_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(crate::disk::os(), dir.path(), true, true).unwrap();
        for (seqs, copy) in [
            (vec![(10, 20), (30, 31)], None),
            (vec![(40, 45)], Some(Copy::Primary)),
            (vec![(50, 52)], Some(Copy::Backup)),
        ] {
            l.append(Entry::Delivered {
                batch: 0,
                seqs: seqs.into(),
                copy,
            })
            .unwrap();
        }
        drop(l);
        let l = Ledger::open(crate::disk::os(), dir.path(), true, true).unwrap();
        let members = |set: &SeqBitmap| (0..60).filter(|&n| set.contains(n)).collect::<Vec<_>>();
        let mut delivered: Vec<u64> = (10..20).collect();
        delivered.push(30);
        assert_eq!(members(l.delivered()), delivered);
        assert_eq!(members(l.primary_done()), (40..45).collect::<Vec<_>>());
        assert_eq!(members(l.backup_done()), (50..52).collect::<Vec<_>>());
        assert_eq!(l.watermark(), 0);
    }

    #[test]
    fn state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(crate::disk::os(), dir.path(), true, false).unwrap();
        l.seal(seal(1, 0..10)).unwrap();
        l.seal(seal(2, 10..20)).unwrap();
        l.seal(seal(3, 20..30)).unwrap();
        // Out of order: 3 first leaves the watermark at 0.
        assert_eq!(
            l.mark_delivered(3, seal(3, 20..30).seqs, Copy::Primary)
                .unwrap(),
            0
        );
        assert_eq!(
            l.mark_delivered(1, seal(1, 0..10).seqs, Copy::Primary)
                .unwrap(),
            10
        );
        drop(l);
        let l = Ledger::open(crate::disk::os(), dir.path(), true, false).unwrap();
        assert_eq!(l.watermark(), 10);
        assert_eq!(
            l.pending().cloned().collect::<Vec<_>>(),
            vec![seal(2, 10..20)]
        );
        assert!(l.delivered().contains(25) && !l.delivered().contains(15));
        assert_eq!(l.last_batch(), 3);
    }

    /// Regression (seams issue, case 10): the retry time a failing batch used is
    /// kept across restarts, and forgotten once the batch is delivered.
    #[test]
    fn retry_clocks_survive_reopening_until_the_batch_is_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(crate::disk::os(), dir.path(), true, false).unwrap();
        l.seal(seal(1, 0..10)).unwrap();
        l.seal(seal(2, 10..20)).unwrap();
        l.retrying(1, 1_000).unwrap();
        l.retrying(1, 61_000).unwrap();
        l.retrying(2, 5).unwrap();
        l.retrying(7, 5).unwrap(); // no such batch: ignored
        drop(l);
        let mut l = Ledger::open(crate::disk::os(), dir.path(), true, false).unwrap();
        assert_eq!((l.retry_spent_ms(1), l.retry_spent_ms(2)), (61_000, 5));
        assert_eq!(l.retry_spent_ms(7), 0);
        l.mark_delivered(1, seal(1, 0..10).seqs, Copy::Primary)
            .unwrap();
        drop(l);
        let l = Ledger::open(crate::disk::os(), dir.path(), true, false).unwrap();
        assert_eq!((l.retry_spent_ms(1), l.retry_spent_ms(2)), (0, 5));
    }

    #[test]
    fn compaction_switches_files_and_keeps_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(crate::disk::os(), dir.path(), false, true).unwrap();
        let long_key = "k".repeat(300);
        let mut n = 0;
        // Enough entries to fill the file several times over.
        while n < 20_000 {
            let mut s = seal(n + 1, n * 10..n * 10 + 10);
            s.key = long_key.clone();
            l.seal(s.clone()).unwrap();
            if n % 50 != 0 {
                l.mark_delivered(n + 1, s.seqs, Copy::Primary).unwrap();
            } else {
                l.retrying(n + 1, n).unwrap();
            }
            n += 1;
        }
        let generation = l.generation;
        assert!(generation > 2, "never compacted");
        let (pending, watermark) = (l.pending.clone(), l.watermark);
        let spent = l.retry_spent.clone();
        // With a backup owed, the primary copies alone are written: carried over.
        let primary_done = l.primary_done.clone();
        assert!(!primary_done.is_empty());
        assert_eq!(spent.len(), pending.len());
        drop(l);
        let l = Ledger::open(crate::disk::os(), dir.path(), false, true).unwrap();
        assert_eq!(l.generation, generation);
        assert_eq!(l.pending, pending);
        assert_eq!(l.watermark, watermark);
        assert_eq!(l.retry_spent, spent, "retry clocks survive compaction");
        assert_eq!(l.primary_done, primary_done);
    }

    /// Regression (wedges issue): a 128 MiB batch of 100-byte records of one
    /// partition among 500 holds 1,342,177 one-record ranges. Its seal did not
    /// fit the ledger's 1 MiB file, so every seal failed (`Spool.SealFailed`)
    /// and nothing was delivered. Now the files grow; four such batches in
    /// flight seal, one is delivered, and a restart finds the rest as sealed.
    #[test]
    fn batches_of_a_million_scattered_records_seal_and_read_back() {
        const PARTITIONS: u64 = 500;
        let records = 128 * 1024 * 1024 / 100;
        let scattered = |p: u64| -> RangeSet {
            (0..records)
                .map(|i| (i * PARTITIONS + p, i * PARTITIONS + p + 1))
                .collect::<Vec<_>>()
                .into()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(crate::disk::os(), dir.path(), false, false).unwrap();
        let seals: Vec<Seal> = (0..4)
            .map(|p| Seal {
                batch: p + 1,
                key: format!("tenant={p}/key-{p}"),
                seqs: scattered(p),
                output: Output::Data,
                codec: Some(Codec::new(Compression::Gzip, Some(5))),
            })
            .collect();
        assert_eq!(seals[0].seqs.range_count() as u64, records);
        for seal in &seals {
            l.seal(seal.clone()).unwrap();
        }
        // Record 0 is partition 0's: delivered; record 1 is not.
        assert_eq!(
            l.mark_delivered(1, seals[0].seqs.clone(), Copy::Primary)
                .unwrap(),
            1
        );
        // Small seals and deliveries after the large ones, past a compaction.
        for b in 5..2_000u64 {
            let at = records * PARTITIONS + b * 10;
            l.seal(seal(b, at..at + 10)).unwrap();
            l.mark_delivered(b, seal(b, at..at + 10).seqs, Copy::Primary)
                .unwrap();
        }
        assert!(l.file_bytes > MIN_FILE_BYTES, "the files did not grow");
        drop(l);
        let l = Ledger::open(crate::disk::os(), dir.path(), false, false).unwrap();
        assert_eq!(
            l.pending().cloned().collect::<Vec<_>>(),
            seals[1..].to_vec()
        );
        assert_eq!(l.watermark(), 1);
        assert!(
            l.delivered().contains(PARTITIONS * 7) && !l.delivered().contains(PARTITIONS * 7 + 1)
        );
        assert_eq!(l.last_batch(), 1_999);
    }

    #[test]
    fn a_torn_entry_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(crate::disk::os(), dir.path(), true, false).unwrap();
        l.seal(seal(1, 0..5)).unwrap();
        let (file, offset) = (file_path(dir.path(), l.current), l.offset);
        drop(l);
        // Half an entry where the next would go.
        let half = &encode(1, &Entry::Sealed(seal(2, 5..9))).unwrap()[..20];
        crate::disk::Os
            .open(&file, Mode::ReadWrite)
            .unwrap()
            .write_all_at(half, offset)
            .unwrap();
        let l = Ledger::open(crate::disk::os(), dir.path(), true, false).unwrap();
        assert_eq!(l.pending().count(), 1);
        assert_eq!(l.last_batch(), 1);
    }
}
