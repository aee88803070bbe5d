//! A buffer in memory and the sealed batch it becomes: records accumulate until a
//! size is reached, then the buffer is sealed into an immutable batch that is
//! encoded and delivered as one object. The runner's open buffers wait on disk
//! (`staged.rs`) and are read back into a [`SealedBatch`]; batches rebuilt after
//! a restart and error batches are built here.

use std::ops::Range;

pub use super::marks::{Marks, RecordMark};
use crate::spool::RangeSet;

/// An open buffer of records for one destination (or its error output).
#[derive(Debug, Default)]
pub struct Buffer {
    data: Vec<u8>,
    records: Marks,
    /// The spool sequence numbers of the records.
    seqs: RangeSet,
    limit: usize,
}

/// A full (or timed-out) buffer. Its content no longer changes, so a retry, or a
/// delivery after a restart, writes the same object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBatch {
    /// The records' bytes, concatenated as Firehose does (no delimiter added).
    pub data: Vec<u8>,
    /// Per record: end offset in `data`, arrival time and spool sequence number.
    pub records: Marks,
    /// The spool records this batch delivers.
    pub seqs: RangeSet,
}

impl SealedBatch {
    /// A batch with no records (a rebuild whose records were all lost).
    pub fn empty() -> Self {
        Self {
            data: Vec::new(),
            records: Marks::default(),
            seqs: RangeSet::new(),
        }
    }

    /// The arrival time of the oldest record: object keys are named after it.
    pub fn first_arrival_ms(&self) -> i64 {
        self.records.first_arrival_ms()
    }

    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Each record's bytes and arrival time, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], i64)> {
        self.marked().map(|(data, mark)| (data, mark.arrival_ms))
    }

    /// Each record's end, arrival time and sequence number, for tests to compare.
    #[cfg(test)]
    pub fn mark_tuples(&self) -> Vec<(usize, i64, u64)> {
        self.records
            .iter()
            .map(|m| (m.end, m.arrival_ms, m.seq))
            .collect()
    }

    /// Each record's bytes with its mark, in order.
    /// Each record as the error lines of whole batches read it.
    pub fn error_records(&self) -> impl Iterator<Item = crate::error_output::BatchRecord<'_>> {
        self.marked()
            .map(|(data, mark)| crate::error_output::BatchRecord {
                data,
                seq: mark.seq,
                arrival_ms: mark.arrival_ms,
            })
    }

    pub fn marked(&self) -> impl Iterator<Item = (&[u8], RecordMark)> {
        let starts = std::iter::once(0).chain(self.records.iter().map(|r| r.end));
        starts
            .zip(self.records.iter())
            .map(|(start, mark)| (&self.data[start..mark.end], mark))
    }
}

impl Buffer {
    /// A buffer that seals at `limit` bytes of record data (before compression).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Adds a record that the spool stored as `seqs`. Returns the sealed batch when
    /// this record fills the buffer, or when it would not fit (then it starts the
    /// next buffer): objects stay under the size unless one record alone is larger.
    pub fn push(&mut self, data: &[u8], arrival_ms: i64, seqs: Range<u64>) -> Option<SealedBatch> {
        let mut sealed = None;
        if !self.is_empty() && self.data.len() + data.len() > self.limit {
            sealed = self.seal();
        }
        if self.data.capacity() == 0 {
            // Grow in few steps: most buffers fill up under load.
            self.data.reserve(self.limit.min(8 * 1024 * 1024));
        }
        self.data.extend_from_slice(data);
        self.records.push(RecordMark {
            end: self.data.len(),
            arrival_ms,
            seq: seqs.start,
        });
        self.seqs.insert(seqs);
        if sealed.is_none() && self.data.len() >= self.limit {
            sealed = self.seal();
        }
        sealed
    }

    /// Seals the records the buffer holds.
    pub fn seal(&mut self) -> Option<SealedBatch> {
        if self.is_empty() {
            return None;
        }
        Some(SealedBatch {
            data: std::mem::take(&mut self.data),
            records: std::mem::take(&mut self.records),
            seqs: std::mem::take(&mut self.seqs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(b: &mut Buffer, s: &str, at: i64, seq: u64) -> Option<SealedBatch> {
        b.push(s.as_bytes(), at, seq..seq + 1)
    }

    fn marks(sealed: &SealedBatch) -> Vec<(usize, i64, u64)> {
        sealed.mark_tuples()
    }

    #[test]
    fn seals_when_full_and_before_overflow() {
        let mut b = Buffer::new(10);
        assert!(push(&mut b, "abcd", 5, 0).is_none());
        assert!(push(&mut b, "efgh", 3, 1).is_none());
        // 8 + 4 > 10: the first two are sealed, "ijkl" starts the next buffer.
        let sealed = push(&mut b, "ijkl", 9, 2).unwrap();
        assert_eq!(sealed.data, b"abcdefgh");
        assert_eq!(marks(&sealed), vec![(4, 5, 0), (8, 3, 1)]);
        assert_eq!(sealed.seqs.iter().collect::<Vec<_>>(), vec![0..2]);
        assert_eq!(sealed.first_arrival_ms(), 3);
        let records: Vec<_> = sealed.iter().collect();
        assert_eq!(records, vec![(&b"abcd"[..], 5), (&b"efgh"[..], 3)]);
        // Reaching the limit exactly seals at once.
        let sealed = push(&mut b, "mnopqr", 10, 3).unwrap();
        assert_eq!(sealed.data, b"ijklmnopqr");
        assert_eq!(sealed.seqs.iter().collect::<Vec<_>>(), vec![2..4]);
        assert!(b.is_empty());
    }

    #[test]
    fn an_oversized_record_gets_its_own_batch() {
        let mut b = Buffer::new(4);
        let sealed = push(&mut b, "0123456789", 1, 7).unwrap();
        assert_eq!(sealed.record_count(), 1);
        assert!(b.seal().is_none());
    }
}
