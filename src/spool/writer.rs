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
use crate::record::Record;

/// Bytes gathered into one write at most; a larger backlog of requests takes
/// several writes (and syncs).
const GROUP_BYTES: usize = 16 * 1024 * 1024;

pub(super) enum Message {
    Append {
        records: Vec<Record>,
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
        let mut out = Vec::new();
        let mut replies: Vec<Reply> = Vec::new();
        let mut closing = false;
        while !closing {
            let Some(first) = rx.recv().await else {
                break;
            };
            out.clear();
            replies.clear();
            let mut seq = self.next_seq;
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
                        for r in &records {
                            super::frame::encode_record(&mut out, seq, r);
                            seq += 1;
                        }
                        replies.push((reply, bytes));
                    }
                    Message::Close => closing = true,
                    Message::Recycle { watermark } => self.recycle(watermark),
                }
                if !closing && out.len() < GROUP_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            if replies.is_empty() {
                continue;
            }
            let written = tokio::task::spawn_blocking(move || {
                let result = self.write(&out, durable);
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

    /// Appends `out` to the current segment, starting a new one first when it is
    /// full. On failure nothing of `out` remains in the file.
    fn write(&mut self, out: &[u8], durable: bool) -> io::Result<()> {
        if self.len > segment::HEADER_LEN && self.len + out.len() as u64 > self.segment_bytes {
            self.roll()?;
        }
        let result = self
            .file
            .write_all_at(out, self.len)
            .and_then(|()| if durable { self.file.sync() } else { Ok(()) });
        match result {
            Ok(()) => {
                self.len += out.len() as u64;
                self.shared.grow_segment(self.base, out.len() as u64);
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
