//! An open buffer whose records wait on disk, not in memory.
//!
//! With dynamic partitioning a stream has up to 500 open buffers of up to 128 MiB,
//! filled over up to 900 s: held in memory they reached gigabytes, and a daemon
//! killed for memory rebuilt the same buffers from its spool on restart. Here each
//! open buffer appends its records' bytes to one staging file and their marks
//! (length, spool sequence numbers, arrival time) to another, through a small
//! write buffer, so memory per open buffer is that write buffer whatever its size
//! or age. A sealed buffer is a [`StagedBatch`], read back into memory only when a
//! delivery slot takes it ([`StagedBatch::load`]).
//!
//! Staging files are never synced and are removed when the stream starts: after a
//! crash the spool and its ledger rebuild every buffer. When a staging file cannot
//! be written (a full disk, no descriptors left), the buffer keeps what follows in
//! memory and says so: slower to recover from, but nothing is lost.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::buffer::{Marks, RecordMark, SealedBatch};
use crate::disk::{Disk, DiskFile, Mode};
use crate::spool::RangeSet;

/// Bytes a buffer gathers in memory before writing them to its staging file: few
/// enough that 500 open buffers hold 32 MiB, many enough that a write is cheap.
const WRITE_AT: usize = 64 * 1024;

/// The folder of a stream's staging files, beside its spool.
pub struct Staging {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    next_id: AtomicU64,
    stream: String,
    /// Bytes in the staging files (for `/metrics`).
    bytes: AtomicU64,
    /// Which opening of the folder this is: file names carry it, so a runner
    /// being retired by a reload never removes the files of the one that
    /// replaces it.
    instance: u64,
}

/// Openings of staging folders in this process.
static OPENINGS: AtomicU64 = AtomicU64::new(0);

impl Staging {
    /// The staging folder in `spool_dir`, emptied: what an earlier run left is
    /// rebuilt from the spool.
    pub fn open(disk: Arc<dyn Disk>, spool_dir: &Path, stream: &str) -> io::Result<Arc<Self>> {
        let dir = spool_dir.join("buffers");
        disk.create_dir_all(&dir)?;
        for (name, _) in disk.list(&dir)? {
            disk.remove(&dir.join(name))?;
        }
        crate::telemetry::staged_bytes(stream, 0);
        Ok(Arc::new(Self {
            disk,
            dir,
            next_id: AtomicU64::new(0),
            stream: stream.to_string(),
            bytes: AtomicU64::new(0),
            instance: OPENINGS.fetch_add(1, Ordering::Relaxed),
        }))
    }

    /// Counts bytes written to (or, negative, removed from) staging files.
    fn count(&self, delta: i64) {
        let now = if delta >= 0 {
            self.bytes.fetch_add(delta as u64, Ordering::Relaxed) + delta as u64
        } else {
            let gone = delta.unsigned_abs();
            self.bytes
                .fetch_sub(gone, Ordering::Relaxed)
                .saturating_sub(gone)
        };
        crate::telemetry::staged_bytes(&self.stream, now);
    }

    fn path(&self, id: u64, what: &str) -> PathBuf {
        self.dir.join(format!("{}-{id}.{what}", self.instance))
    }

    /// Removes the files of `spills` that were written; a failure is logged
    /// (the folder is emptied at the next start anyway).
    fn remove(&self, spills: [&Spill; 2]) {
        for spill in spills.into_iter().filter(|s| s.file.is_some()) {
            self.count(-(spill.written as i64));
            if let Err(e) = self.disk.remove(&spill.path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %spill.path.display(), error = %e, "cannot remove a staging file");
            }
        }
    }
}

/// One append-only staging file and the bytes bound for it.
struct Spill {
    path: PathBuf,
    /// `None` until the first write.
    file: Option<Arc<dyn DiskFile>>,
    /// Whether writing failed: nothing more is written.
    failed: bool,
    /// Bytes in the file.
    written: u64,
    /// Bytes not in the file yet (everything after a failure).
    pending: Vec<u8>,
}

impl Spill {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            failed: false,
            written: 0,
            pending: Vec::new(),
        }
    }

    /// Writes `bytes` to the file, or keeps them in memory if it cannot be
    /// written.
    fn write(&mut self, staging: &Staging, bytes: &[u8]) {
        if !self.failed {
            match self.append(staging.disk.as_ref(), bytes) {
                Ok(()) => {
                    staging.count(bytes.len() as i64);
                    return;
                }
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e,
                        "cannot write an open buffer to its staging file, keeping the rest of it in memory");
                    self.failed = true;
                }
            }
        }
        self.pending.extend_from_slice(bytes);
    }

    fn append(&mut self, disk: &dyn Disk, bytes: &[u8]) -> io::Result<()> {
        let file = match &self.file {
            Some(file) => file,
            None => self.file.insert(disk.open(&self.path, Mode::Create)?),
        };
        file.write_all_at(bytes, self.written)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Everything written, from the file and from memory.
    fn read(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.written).map_err(io::Error::other)?;
        let mut out = Vec::with_capacity(len + self.pending.len());
        out.resize(len, 0);
        if let Some(file) = &self.file {
            file.read_exact_at(&mut out, 0)?;
        }
        out.extend_from_slice(&self.pending);
        Ok(out)
    }
}

/// An open buffer of one destination (or error output), staged on disk.
pub struct StagedBuffer {
    staging: Arc<Staging>,
    limit: usize,
    data: Spill,
    marks: Spill,
    /// Record bytes not yet handed to `data`: accounted records up to
    /// `accounted`, then bytes written in place that are no records yet.
    tail: Vec<u8>,
    accounted: usize,
    /// Encoded marks not yet handed to `marks`.
    mark_tail: Vec<u8>,
    /// Bytes and count of the records in the buffer.
    bytes: usize,
    records: usize,
    first_arrival_ms: i64,
    /// The lowest spool sequence number among the records.
    oldest_seq: u64,
    /// The previous record's first sequence number and arrival time: marks are
    /// stored as differences from them.
    last_seq: u64,
    last_arrival_ms: i64,
}

/// A sealed buffer, still on disk. Its files go when it is loaded or dropped.
pub struct StagedBatch {
    staging: Arc<Staging>,
    data: Spill,
    marks: Spill,
    records: usize,
    bytes: usize,
    first_arrival_ms: i64,
}

impl StagedBuffer {
    /// A buffer that seals at `limit` bytes of record data (before compression).
    pub fn new(staging: Arc<Staging>, limit: usize) -> Self {
        let id = staging.next_id.fetch_add(1, Ordering::Relaxed);
        Self {
            data: Spill::new(staging.path(id, "data")),
            marks: Spill::new(staging.path(id, "marks")),
            staging,
            limit,
            tail: Vec::new(),
            accounted: 0,
            mark_tail: Vec::new(),
            bytes: 0,
            records: 0,
            first_arrival_ms: i64::MAX,
            oldest_seq: u64::MAX,
            last_seq: 0,
            last_arrival_ms: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The buffer's unwritten bytes, for records to be written into in place (a
    /// plugin's answers are copied straight here). What is appended becomes
    /// records through [`StagedBuffer::push_written`], or is taken back with
    /// [`StagedBuffer::take_written`]; nothing else may be pushed meanwhile.
    pub fn storage(&mut self) -> &mut Vec<u8> {
        &mut self.tail
    }

    /// Makes the next `len` bytes written in place a record, sealing as
    /// [`StagedBuffer::push`] does.
    pub fn push_written(
        &mut self,
        len: usize,
        arrival_ms: i64,
        seqs: Range<u64>,
    ) -> Option<StagedBatch> {
        debug_assert!(
            self.accounted + len <= self.tail.len(),
            "record past the written bytes"
        );
        let len = len.min(self.tail.len() - self.accounted);
        let mut sealed = None;
        if !self.is_empty() && self.bytes + len > self.limit {
            sealed = self.seal();
        }
        self.accounted += len;
        self.mark(len, arrival_ms, seqs);
        if sealed.is_none() && self.bytes >= self.limit {
            sealed = self.seal();
        }
        sealed
    }

    /// Takes back the bytes written in place that are not records.
    pub fn take_written(&mut self) -> Vec<u8> {
        let rest = self.tail.split_off(self.accounted);
        self.write_out();
        rest
    }

    /// Adds a record that the spool stored as `seqs`. Returns the sealed batch when
    /// this record fills the buffer, or when it would not fit (then it starts the
    /// next buffer): objects stay under the size unless one record alone is larger.
    pub fn push(&mut self, data: &[u8], arrival_ms: i64, seqs: Range<u64>) -> Option<StagedBatch> {
        debug_assert_eq!(self.accounted, self.tail.len(), "bytes written in place");
        let mut sealed = None;
        if !self.is_empty() && self.bytes + data.len() > self.limit {
            sealed = self.seal();
        }
        self.tail.extend_from_slice(data);
        self.accounted += data.len();
        self.mark(data.len(), arrival_ms, seqs);
        if sealed.is_none() && self.bytes >= self.limit {
            sealed = self.seal();
        }
        sealed
    }

    /// Accounts for a record of `len` bytes just added to the tail.
    fn mark(&mut self, len: usize, arrival_ms: i64, seqs: Range<u64>) {
        put_varint(&mut self.mark_tail, len as u64);
        put_varint(
            &mut self.mark_tail,
            zigzag(delta(seqs.start, self.last_seq)),
        );
        put_varint(&mut self.mark_tail, seqs.end.saturating_sub(seqs.start));
        put_varint(
            &mut self.mark_tail,
            zigzag(arrival_ms.wrapping_sub(self.last_arrival_ms)),
        );
        self.last_seq = seqs.start;
        self.last_arrival_ms = arrival_ms;
        self.bytes += len;
        self.records += 1;
        self.first_arrival_ms = self.first_arrival_ms.min(arrival_ms);
        self.oldest_seq = self.oldest_seq.min(seqs.start);
        if self.accounted >= WRITE_AT && self.accounted == self.tail.len() {
            self.write_out();
        }
        if self.mark_tail.len() >= WRITE_AT / 4 {
            self.staging_write_marks();
        }
    }

    /// Hands the accounted bytes to the staging file. Bytes written in place
    /// and not accounted yet stay (plugins write a whole batch of answers
    /// before they are accounted one by one).
    fn write_out(&mut self) {
        if self.accounted > 0 {
            self.data.write(&self.staging, &self.tail[..self.accounted]);
            self.tail.drain(..self.accounted);
            self.accounted = 0;
        }
        if self.tail.capacity() > 2 * WRITE_AT && self.tail.is_empty() {
            // After a large in-place write, give the memory back.
            self.tail = Vec::new();
        }
    }

    fn staging_write_marks(&mut self) {
        if !self.mark_tail.is_empty() {
            self.marks.write(&self.staging, &self.mark_tail);
            self.mark_tail.clear();
        }
    }

    /// The lowest spool sequence number of its records (`u64::MAX` when empty):
    /// the buffer holding the lowest holds the spool's oldest segment.
    pub fn oldest_seq(&self) -> u64 {
        self.oldest_seq
    }

    /// Seals the records the buffer holds (interval reached, shutdown). Bytes
    /// written in place beyond them start the next buffer, in new files.
    pub fn seal(&mut self) -> Option<StagedBatch> {
        if self.is_empty() {
            return None;
        }
        let unaccounted = self.tail.split_off(self.accounted);
        self.write_out();
        self.staging_write_marks();
        let id = self.staging.next_id.fetch_add(1, Ordering::Relaxed);
        let data = std::mem::replace(&mut self.data, Spill::new(self.staging.path(id, "data")));
        let marks = std::mem::replace(&mut self.marks, Spill::new(self.staging.path(id, "marks")));
        let batch = StagedBatch {
            staging: self.staging.clone(),
            data,
            marks,
            records: self.records,
            bytes: self.bytes,
            first_arrival_ms: self.first_arrival_ms,
        };
        self.tail = unaccounted;
        self.bytes = 0;
        self.records = 0;
        self.first_arrival_ms = i64::MAX;
        self.oldest_seq = u64::MAX;
        self.last_seq = 0;
        self.last_arrival_ms = 0;
        Some(batch)
    }
}

impl Drop for StagedBuffer {
    fn drop(&mut self) {
        self.staging.remove([&self.data, &self.marks]);
    }
}

impl StagedBatch {
    pub fn record_count(&self) -> usize {
        self.records
    }

    /// Bytes of record data: what loading it takes in memory, about.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The arrival time of the oldest record: object keys are named after it.
    pub fn first_arrival_ms(&self) -> i64 {
        self.first_arrival_ms
    }

    /// Reads the batch into memory (blocking: call it off the async threads).
    /// Its staging files stay until the batch is dropped, so a failed read can
    /// be tried again.
    pub fn load(&self) -> io::Result<SealedBatch> {
        let data = self.data.read()?;
        let raw_marks = self.marks.read()?;
        let mut marks = Marks::default();
        let mut seqs = RangeSet::new();
        let (mut end, mut seq, mut arrival_ms) = (0usize, 0u64, 0i64);
        let mut rest = raw_marks.as_slice();
        let corrupt = |what: &str| {
            io::Error::new(io::ErrorKind::InvalidData, format!("staged marks: {what}"))
        };
        while !rest.is_empty() {
            let fields = (
                take_varint(&mut rest),
                take_varint(&mut rest),
                take_varint(&mut rest),
                take_varint(&mut rest),
            );
            let (Some(len), Some(seq_delta), Some(count), Some(arrival_delta)) = fields else {
                return Err(corrupt("a mark ends early"));
            };
            end += usize::try_from(len).map_err(io::Error::other)?;
            seq = seq.wrapping_add_signed(unzigzag(seq_delta));
            arrival_ms = arrival_ms.wrapping_add(unzigzag(arrival_delta));
            marks.push(RecordMark {
                end,
                arrival_ms,
                seq,
            });
            seqs.insert(seq..seq + count);
        }
        if end != data.len() || marks.len() != self.records {
            return Err(corrupt("the marks do not match the bytes"));
        }
        Ok(SealedBatch {
            data,
            records: marks,
            seqs,
        })
    }
}

impl Drop for StagedBatch {
    fn drop(&mut self) {
        self.staging.remove([&self.data, &self.marks]);
    }
}

/// `a - b` as a signed difference.
fn delta(a: u64, b: u64) -> i64 {
    a.wrapping_sub(b) as i64
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, n: u64) {
    prost::encoding::encode_varint(n, out);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    prost::encoding::decode_varint(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(b: &mut StagedBuffer, s: &str, at: i64, seq: u64) -> Option<StagedBatch> {
        b.push(s.as_bytes(), at, seq..seq + 1)
    }

    fn marks(sealed: &SealedBatch) -> Vec<(usize, i64, u64)> {
        sealed.mark_tuples()
    }

    #[test]
    fn records_written_in_place_seal_as_pushed_ones_do() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = StagedBuffer::new(
            Staging::open(crate::disk::os(), dir.path(), "s").unwrap(),
            10,
        );
        assert!(push(&mut b, "ab", 1, 0).is_none());
        b.storage().extend_from_slice(b"cdefghijklmn");
        assert!(b.push_written(4, 2, 1..2).is_none()); // "cdef"
        // 6 + 5 > 10: "abcdef" is sealed; "ghijk" starts the next buffer, and the
        // bytes after it, written but not records yet, go along.
        let sealed = b.push_written(5, 3, 2..3).unwrap().load().unwrap();
        assert_eq!(sealed.data, b"abcdef");
        assert_eq!(marks(&sealed), vec![(2, 1, 0), (6, 2, 1)]);
        assert_eq!(sealed.seqs.iter().collect::<Vec<_>>(), vec![0..2]);
        assert_eq!(b.take_written(), b"lmn");
        let sealed = b.seal().unwrap().load().unwrap();
        assert_eq!(sealed.data, b"ghijk");
        assert_eq!(marks(&sealed), vec![(5, 3, 2)]);
        // Reaching the limit exactly seals at once, leaving what follows.
        b.storage().extend_from_slice(b"0123456789xy");
        let sealed = b.push_written(10, 4, 3..4).unwrap().load().unwrap();
        assert_eq!(sealed.data, b"0123456789");
        assert!(b.is_empty());
        assert_eq!(b.take_written(), b"xy");
        assert!(b.seal().is_none());
    }

    /// Regression (wedges issue): 500 open buffers of interleaved records held
    /// every byte in memory. Staged, each holds at most its write buffer in
    /// memory; sealed, it reads back byte for byte with every mark (sequence
    /// numbers that go back, a record covering several, arrival times that
    /// differ), and its files go when the batch does.
    #[test]
    fn interleaved_buffers_wait_on_disk_and_read_back_as_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::open(crate::disk::os(), dir.path(), "s").unwrap();
        let mut buffers: Vec<StagedBuffer> = (0..50)
            .map(|_| StagedBuffer::new(staging.clone(), 64 << 20))
            .collect();
        /// Per buffer: its bytes, marks and sequence numbers.
        type Want = (Vec<u8>, Vec<(usize, i64, u64)>, RangeSet);
        let mut want: Vec<Want> = vec![Default::default(); buffers.len()];
        for i in 0..100_000u64 {
            let p = (i * 7 % 50) as usize;
            let record = format!(
                "{{\"tenant\":{p},\"n\":{i},\"pad\":\"{}\"}}",
                "x".repeat((i % 300) as usize)
            );
            // Every 1,000th record goes back in the spool, or covers 3 numbers.
            let seqs = match i % 1000 {
                500 => 10 * i - 5..10 * i - 4,
                1 => 10 * i..10 * i + 3,
                _ => 10 * i..10 * i + 1,
            };
            let arrival = 1_700_000_000_000 + (i / 100) as i64 - (i % 3) as i64;
            assert!(
                buffers[p]
                    .push(record.as_bytes(), arrival, seqs.clone())
                    .is_none()
            );
            let w = &mut want[p];
            w.0.extend_from_slice(record.as_bytes());
            w.1.push((w.0.len(), arrival, seqs.start));
            w.2.insert(seqs);
        }
        for b in &buffers {
            assert!(
                b.tail.capacity() <= 2 * WRITE_AT,
                "{} bytes in memory",
                b.tail.capacity()
            );
            assert!(
                b.mark_tail.capacity() <= WRITE_AT,
                "{} bytes of marks",
                b.mark_tail.capacity()
            );
            assert!(
                b.data.written as usize + WRITE_AT >= b.bytes,
                "data kept in memory"
            );
        }
        let files = |s: &Staging| s.disk.list(&s.dir).unwrap().len();
        assert_eq!(
            files(&staging),
            50,
            "each buffer's data on disk (marks follow at 16 KiB)"
        );
        for (b, (data, marks_want, seqs)) in buffers.iter_mut().zip(want) {
            let staged = b.seal().unwrap();
            assert_eq!(staged.record_count(), marks_want.len());
            assert_eq!(staged.bytes(), data.len());
            let sealed = staged.load().unwrap();
            assert_eq!(sealed.data, data);
            assert_eq!(marks(&sealed), marks_want);
            assert_eq!(sealed.seqs, seqs);
        }
        assert_eq!(files(&staging), 0, "loaded batches leave no files");
        drop(buffers);
        assert!(Staging::open(crate::disk::os(), dir.path(), "s").is_ok());
    }
}
