//! Reading a stream's spool in order, behind the writer: only what the writer has
//! committed is read, so a half-written group is never seen. A stretch that fails
//! its CRC is reported with the sequence numbers it held, never skipped silently.

use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use super::frame::{self, Parsed};
use super::segment::{self, MAX_FRAME_LEN};
use super::{Position, RangeSet, Shared};
use crate::disk::{DiskFile, Mode};
use crate::record::Record;

/// Bytes read from a segment at once: more than the largest frame, so every frame
/// that starts a read fits in it.
const CHUNK: u64 = 4 * 1024 * 1024;

/// What the spool holds at a position.
#[derive(Debug)]
pub enum Item {
    Record {
        seq: u64,
        record: Record,
    },
    /// Bytes that fail their CRC: the records `seqs` were stored there.
    Damaged(Damage),
}

/// A damaged stretch of a segment, with its raw bytes for the error output.
#[derive(Debug)]
pub struct Damage {
    pub seqs: Range<u64>,
    pub raw: Bytes,
    pub segment: PathBuf,
    pub offset: u64,
}

pub struct Reader {
    shared: Arc<Shared>,
    rx: watch::Receiver<Position>,
    segment: u64,
    file: Option<Arc<dyn DiskFile>>,
    offset: u64,
    /// The sequence number of the next frame.
    expected: u64,
    /// Records below this number are delivered: they are passed over.
    skip_below: u64,
}

impl Reader {
    pub(super) fn new(shared: Arc<Shared>, first_segment: u64, skip_below: u64) -> Self {
        let rx = shared.committed.subscribe();
        Self {
            shared,
            rx,
            segment: first_segment,
            file: None,
            offset: segment::HEADER_LEN,
            expected: first_segment,
            skip_below,
        }
    }

    fn has_unread(&self, pos: &Position) -> bool {
        self.segment != pos.segment || self.offset < pos.len
    }

    /// Whether everything committed so far has been read.
    pub fn caught_up(&self) -> bool {
        !self.has_unread(&self.rx.borrow())
    }

    /// The sequence number of the next record to read.
    pub fn next_seq(&self) -> u64 {
        self.expected
    }

    /// Waits until there is committed data not read yet. Returns `false` once the
    /// stream is closed and everything is read. Safe to cancel.
    pub async fn wait(&mut self) -> bool {
        loop {
            let pos = *self.rx.borrow_and_update();
            if self.has_unread(&pos) {
                return true;
            }
            if pos.closed || self.rx.changed().await.is_err() {
                return self.has_unread(&self.rx.borrow());
            }
        }
    }

    /// Reads committed records, about `CHUNK` bytes at most. Empty when caught up.
    pub async fn read(&mut self) -> io::Result<Vec<Item>> {
        loop {
            let pos = *self.rx.borrow();
            if !self.has_unread(&pos) {
                return Ok(Vec::new());
            }
            let file = match &self.file {
                Some(f) => f.clone(),
                None => {
                    let path = segment::path(&self.shared.dir, self.segment);
                    let f = self.shared.disk.open(&path, Mode::Read)?;
                    self.file = Some(f.clone());
                    f
                }
            };
            let active = self.segment == pos.segment;
            // A segment emptied for reuse (every record in it delivered, so read)
            // is under a new name now, and its file holds new records at offsets
            // this reader has passed: never read on through the old handle.
            let recycled = !active && !self.shared.segments().contains_key(&self.segment);
            let end = if active || recycled {
                pos.len
            } else {
                file.size()?
            };
            if recycled || self.offset >= end {
                // A finished segment, read to its end: on to the next one.
                self.segment = self
                    .shared
                    .segment_after(self.segment)
                    .unwrap_or(pos.segment);
                self.file = None;
                self.offset = segment::HEADER_LEN;
                self.expected = self.expected.max(self.segment);
                continue;
            }
            // Where the records of a damaged stretch at this segment's end stop.
            let next_seq = if active {
                pos.next_seq
            } else {
                self.shared
                    .segment_after(self.segment)
                    .unwrap_or(pos.next_seq)
            };
            let items = self.read_chunk(file, end, next_seq).await?;
            if !items.is_empty() {
                return Ok(items);
            }
        }
    }

    async fn read_chunk(
        &mut self,
        file: Arc<dyn DiskFile>,
        end: u64,
        next_seq: u64,
    ) -> io::Result<Vec<Item>> {
        let (offset, len) = (self.offset, (end - self.offset).min(CHUNK));
        let buf = read_at(file.clone(), offset, len).await?;
        let reached_end = offset + len == end;
        let mut items = Vec::new();
        let mut at = 0usize;
        while at < buf.len() {
            let damaged_len = match frame::parse(&buf, at, MAX_FRAME_LEN) {
                Parsed::Frame { frame, len } => {
                    at += len;
                    if frame.seq < self.expected {
                        // Read before: a segment renamed for reuse but not emptied.
                        continue;
                    }
                    self.expected = frame.seq + 1;
                    if frame.seq >= self.skip_below {
                        items.push(Item::Record {
                            seq: frame.seq,
                            record: frame.into_record(),
                        });
                    }
                    continue;
                }
                Parsed::Incomplete if !reached_end => break,
                Parsed::Damaged {
                    claimed_len: Some(len),
                } if at + len == buf.len()
                    || !matches!(
                        frame::parse(&buf, at + len, MAX_FRAME_LEN),
                        Parsed::Damaged { .. }
                    ) =>
                {
                    // One damaged frame with sound data after it: one record lost.
                    Some(len)
                }
                Parsed::Incomplete | Parsed::Damaged { .. } => None,
            };
            let (raw, seqs) = match damaged_len {
                Some(len) => (buf.slice(at..at + len), self.expected..self.expected + 1),
                None => {
                    // No frame boundary to trust: the rest of the segment is one stretch.
                    let from = offset + at as u64;
                    let rest = read_at(file.clone(), from, end - from).await?;
                    (rest, self.expected..next_seq.max(self.expected + 1))
                }
            };
            let consumed = raw.len();
            if seqs.end > self.skip_below {
                items.push(Item::Damaged(Damage {
                    seqs: seqs.clone(),
                    raw,
                    segment: segment::path(&self.shared.dir, self.segment),
                    offset: offset + at as u64,
                }));
            }
            self.expected = seqs.end;
            if damaged_len.is_none() {
                self.offset = end;
                return Ok(items);
            }
            at += consumed;
        }
        self.offset = offset + at as u64;
        Ok(items)
    }
}

async fn read_at(file: Arc<dyn DiskFile>, offset: u64, len: u64) -> io::Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
        file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    })
    .await
    .map_err(io::Error::other)?
}

/// Reads the records `seqs` back from their segments, in order. Used when a batch
/// could not be delivered and its records become error records: re-reading them is
/// rare, so the raw batch is not kept in memory meanwhile.
pub(super) fn fetch(shared: &Shared, seqs: &RangeSet) -> io::Result<Vec<Record>> {
    let bases: Vec<u64> = shared.segments().keys().copied().collect();
    let (first, end) = match seqs.iter().next() {
        Some(r) => (r.start, seqs.end()),
        None => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    for (i, &base) in bases.iter().enumerate() {
        let next = bases.get(i + 1).copied().unwrap_or(u64::MAX);
        if next <= first || base >= end {
            continue;
        }
        let raw = Bytes::from(shared.disk.read(&segment::path(&shared.dir, base))?);
        let mut at = segment::HEADER_LEN as usize;
        while at < raw.len() {
            match frame::parse(&raw, at, MAX_FRAME_LEN) {
                Parsed::Frame { frame, len } => {
                    if seqs.contains(frame.seq) {
                        out.push(frame.into_record());
                    }
                    at += len;
                }
                // Damage was reported when the records were first read.
                Parsed::Damaged {
                    claimed_len: Some(len),
                } => at += len,
                Parsed::Damaged { claimed_len: None } | Parsed::Incomplete => break,
            }
        }
    }
    Ok(out)
}
