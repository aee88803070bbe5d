//! Group commit: one task per stream appends every waiting request in one write
//! and one `fdatasync`, then answers them all. While it syncs, new requests queue
//! up and share the next sync, so the cost of durability is paid per group, not per
//! request.

use std::io;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::segment;
use super::{AppendError, Position, Shared};
use crate::disk::DiskFile;
use crate::records::Records;

/// Stored bytes gathered into one group at most; a larger backlog of requests
/// takes several groups (and syncs). One request larger than this is a group alone.
const GROUP_BYTES: u64 = 16 * 1024 * 1024;
/// Frames are made and written this much at a time, so a group of millions of
/// tiny records never exists as frames in memory all at once.
const PIECE_BYTES: usize = 4 * 1024 * 1024;

pub(super) enum Message {
    Append {
        records: Records,
        /// The records' stored size, reserved against the spool's limit.
        bytes: u64,
        /// Synced whatever the durability: a source's checkpoint follows it.
        durable: bool,
        reply: oneshot::Sender<Result<(), AppendError>>,
    },
    /// Stop after what came before: the stream is shutting down.
    Close,
    /// Every record below `watermark` is delivered: if that is all the current
    /// segment holds, empty it for reuse.
    Recycle { watermark: u64 },
}

pub(super) struct Writer {
    pub shared: Arc<Shared>,
    pub file: Arc<dyn DiskFile>,
    /// The current segment's first sequence number.
    pub base: u64,
    pub len: u64,
    pub next_seq: u64,
    pub segment_bytes: u64,
    pub sync: bool,
}

type Reply = (oneshot::Sender<Result<(), AppendError>>, u64);

impl Writer {
    /// Runs until `Close` or until every sender is gone. Writes happen on the
    /// blocking pool, one group at a time; requests arriving meanwhile form the next.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Message>) {
        // Frames are made here a piece at a time; the buffer is kept for the next group.
        let mut out = Vec::new();
        let mut replies: Vec<Reply> = Vec::new();
        let mut closing = false;
        while !closing {
            let Some(first) = rx.recv().await else {
                break;
            };
            replies.clear();
            let mut group: Vec<Records> = Vec::new();
            let (mut gathered, mut seq) = (0, self.next_seq);
            let mut durable = self.sync;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Append {
                        records,
                        bytes,
                        durable: sync,
                        reply,
                    } => {
                        durable |= sync;
                        seq += records.len() as u64;
                        gathered += bytes;
                        group.push(records);
                        replies.push((reply, bytes));
                    }
                    Message::Close => closing = true,
                    Message::Recycle { watermark } => self.recycle(watermark),
                }
                if !closing && gathered < GROUP_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            if replies.is_empty() {
                continue;
            }
            let written = tokio::task::spawn_blocking(move || {
                let result = self.write(&group, gathered, durable, &mut out);
                // The records' memory goes back before the producers are answered.
                drop(group);
                (self, out, result)
            })
            .await;
            let result;
            (self, out, result) = match written {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!(error = %e, "the spool writer failed; the stream takes no more records");
                    return;
                }
            };
            match result {
                Ok(()) => {
                    self.next_seq = seq;
                    self.shared.committed.send_replace(self.position(false));
                    self.shared.report_backlog();
                    for (reply, _) in replies.drain(..) {
                        let _ = reply.send(Ok(()));
                    }
                }
                Err(e) => {
                    let error = AppendError::from_io(&e);
                    tracing::warn!(stream = %self.shared.stream, error = %e, records = seq - self.next_seq, "cannot write to the spool, refusing the records");
                    for (reply, _) in replies.drain(..) {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        }
        self.shared.committed.send_replace(self.position(true));
        // Requests that came after `Close` are answered by dropping their senders.
    }

    fn position(&self, closed: bool) -> Position {
        Position {
            segment: self.base,
            len: self.len,
            next_seq: self.next_seq,
            closed,
        }
    }

    /// Appends the group's records (`bytes` of frames) to the current segment,
    /// starting a new one first when it is full, making and writing the frames a
    /// piece at a time. On failure nothing of the group remains in the file.
    fn write(
        &mut self,
        group: &[Records],
        bytes: u64,
        durable: bool,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        if self.len > segment::HEADER_LEN && self.len + bytes > self.segment_bytes {
            self.roll()?;
        }
        out.clear();
        let mut at = self.len;
        let mut seq = self.next_seq;
        let flush = |out: &mut Vec<u8>, at: &mut u64| -> io::Result<()> {
            self.file.write_all_at(out, *at)?;
            *at += out.len() as u64;
            out.clear();
            Ok(())
        };
        let mut result = Ok(());
        'group: for records in group {
            for record in records.iter() {
                super::frame::encode_record(out, seq, record);
                seq += 1;
                if out.len() >= PIECE_BYTES {
                    result = flush(out, &mut at);
                    if result.is_err() {
                        break 'group;
                    }
                }
            }
        }
        if result.is_ok() && !out.is_empty() {
            result = flush(out, &mut at);
        }
        if result.is_ok() && durable {
            result = self.file.sync();
        }
        match result {
            Ok(()) => {
                let written = at - self.len;
                self.len = at;
                self.shared.grow_segment(self.base, written);
                Ok(())
            }
            Err(e) => {
                // Cut off what was written, so the next write follows sound frames.
                if let Err(cut) = self.file.set_len(self.len) {
                    tracing::error!(stream = %self.shared.stream, error = %cut, "cannot cut a failed write off the spool segment");
                }
                Err(e)
            }
        }
    }

    /// Empties the current segment once all its records are delivered, and renames it
    /// after the next sequence number. Neither needs free space, so a spool that
    /// filled its disk frees it as soon as its records are delivered, where a new
    /// segment could not even be created.
    fn recycle(&mut self, watermark: u64) {
        if watermark < self.next_seq || self.len <= segment::HEADER_LEN {
            return;
        }
        let (from, to) = (
            segment::path(&self.shared.dir, self.base),
            segment::path(&self.shared.dir, self.next_seq),
        );
        let disk = &self.shared.disk;
        let result = disk
            .rename(&from, &to)
            .and_then(|()| self.file.set_len(segment::HEADER_LEN))
            .and_then(|()| self.file.sync())
            .and_then(|()| disk.sync_dir(&self.shared.dir));
        match result {
            Ok(()) => {
                self.shared
                    .replace_segment(self.base, self.next_seq, segment::HEADER_LEN);
                self.base = self.next_seq;
                self.len = segment::HEADER_LEN;
                self.shared.committed.send_replace(self.position(false));
            }
            Err(e) => {
                tracing::warn!(stream = %self.shared.stream, error = %e, "cannot empty the delivered spool segment, will try again");
                let exists = |p: &std::path::Path| disk.exists(p).unwrap_or(false);
                if exists(&to) && !exists(&from) {
                    // Renamed but not emptied: keep using it under its new name.
                    self.shared
                        .replace_segment(self.base, self.next_seq, self.len);
                    self.base = self.next_seq;
                    self.shared.committed.send_replace(self.position(false));
                }
            }
        }
    }

    /// Starts a new segment named after the next sequence number. The current one is
    /// already synced (every write is, in fsync mode).
    fn roll(&mut self) -> io::Result<()> {
        if !self.sync {
            // A durable append later syncs only the new segment: what this one
            // holds must be on disk by then.
            self.file.sync()?;
        }
        let file = segment::create(self.shared.disk.as_ref(), &self.shared.dir, self.next_seq)?;
        self.shared.add_segment(self.next_seq, segment::HEADER_LEN);
        self.file = file;
        self.base = self.next_seq;
        self.len = segment::HEADER_LEN;
        Ok(())
    }
}
