//! Tailing log files into a delivery stream, as a sidecar does: glob patterns, new
//! files picked up while running, rotation by rename and by copy-truncate, and
//! checkpoints that make a restart resume exactly where the spool ends.
//!
//! Files are polled (`poll_interval_ms`): a poll reads every tracked file to its
//! end, in batches that each become one spool append. A file that no longer
//! matches the patterns (renamed away, deleted) is read through its open handle
//! until it has been quiet for [`DONE_AFTER`], then its last unfinished line is
//! handed over and it is forgotten.

mod checkpoint;
mod config;
mod tracked;

pub use config::{FileSource, StartAt};

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use checkpoint::{Checkpoint, FILE_NAME, Intent, Position};
use tracked::{LineRules, Tracked, identify, is_same};

use crate::pipeline::StreamHandle;
use crate::record::{Record, now_ms};
use crate::sources::lines::{Cut, Multiline};
use crate::sources::state_file::StateFile;
use crate::sources::{Handover, hand_to_spool};

/// A file that left the patterns is done once it has been quiet this long: a
/// writer that rotated it may still be finishing its last lines.
pub const DONE_AFTER: Duration = Duration::from_secs(2);
/// A batch (one spool append) holds at most this many records...
const BATCH_RECORDS: usize = 8192;
/// ...and about this many bytes, as a `PutRecordBatch`.
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Why the file source could not start.
#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    #[error("delivery stream `{stream}`: bad file source pattern: {message}")]
    Config { stream: String, message: String },
    #[error("delivery stream `{stream}`: cannot read the file source checkpoint: {source}")]
    Checkpoint {
        stream: String,
        source: std::io::Error,
    },
}

/// A stream's file source.
pub struct FileTail {
    stream: StreamHandle,
    patterns: Vec<String>,
    rules: LineRules,
    poll: Duration,
    store: StateFile,
    files: Vec<Tracked>,
    /// Read files present at the first start from their end.
    from_end_at_first_scan: bool,
}

/// What happened to a hand-over.
enum Handed {
    Done,
    Stopping,
}

impl FileTail {
    /// Loads the checkpoint and finds the files it names (also when they were
    /// rotated away while the daemon was stopped).
    pub fn open(stream: StreamHandle, config: &FileSource) -> Result<Self, FileSourceError> {
        let name = stream.name().to_string();
        for pattern in &config.paths {
            glob::Pattern::new(pattern).map_err(|e| FileSourceError::Config {
                stream: name.clone(),
                message: format!("`{pattern}`: {e}"),
            })?;
        }
        let multiline = config
            .multiline
            .as_ref()
            .map(Multiline::new)
            .transpose()
            .map_err(|message| FileSourceError::Config {
                stream: name.clone(),
                message,
            })?;
        let store = stream.state_file(FILE_NAME);
        let checkpoint = store.load().map_err(|source| FileSourceError::Checkpoint {
            stream: name.clone(),
            source,
        })?;
        let mut tail = Self {
            from_end_at_first_scan: checkpoint.is_none() && config.start_at == StartAt::End,
            stream,
            patterns: config.paths.clone(),
            rules: LineRules {
                delimiter: config.delimiter.clone(),
                multiline,
            },
            poll: Duration::from_millis(config.poll_interval_ms.max(10)),
            store,
            files: Vec::new(),
        };
        if let Some(checkpoint) = checkpoint {
            tail.resume(checkpoint);
        }
        Ok(tail)
    }

    /// Tails until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        tracing::info!(stream = %self.stream.name(), patterns = ?self.patterns, files = self.files.len(), "file source running");
        loop {
            self.scan();
            self.from_end_at_first_scan = false;
            if let Handed::Stopping = self.read_all(&mut stop).await {
                break;
            }
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep(self.poll) => {}
            }
            if *stop.borrow() {
                break;
            }
        }
        tracing::info!(stream = %self.stream.name(), "file source stopped");
    }

    /// Re-opens the files of a checkpoint: at their path if it still holds them,
    /// else by identity among their folder's files (rotated while stopped).
    fn resume(&mut self, checkpoint: Checkpoint) {
        let spooled_since_intent = checkpoint
            .intent
            .as_ref()
            .map(|i| self.stream.next_seq().saturating_sub(i.first_seq));
        for position in checkpoint.files {
            let Some((path, file)) = find(&position) else {
                tracing::warn!(stream = %self.stream.name(), path = %position.path.display(),
                    "a checkpointed file is gone; lines it got after the last stop are lost");
                continue;
            };
            let (offset, skip) = match (&checkpoint.intent, spooled_since_intent) {
                (Some(intent), Some(count)) if intent.id == position.id => (intent.from, count),
                _ => (position.offset, 0),
            };
            self.files.push(Tracked::new(
                &path,
                file,
                position.id,
                offset,
                skip,
                &self.rules,
            ));
        }
        if let (Some(intent), Some(count)) = (&checkpoint.intent, spooled_since_intent)
            && !self.files.iter().any(|f| f.id == intent.id)
        {
            // A file first seen in the batch that was being appended.
            let position = Position {
                id: intent.id,
                path: PathBuf::new(),
                offset: intent.from,
            };
            if let Some((path, file)) = self.matching_paths().into_iter().find_map(|p| {
                let file = File::open(&p).ok()?;
                is_same(&file, &position.id).ok()?.then_some((p, file))
            }) {
                self.files.push(Tracked::new(
                    &path,
                    file,
                    intent.id,
                    intent.from,
                    count,
                    &self.rules,
                ));
            }
        }
    }

    fn matching_paths(&self) -> BTreeSet<PathBuf> {
        self.patterns
            .iter()
            .filter_map(|p| glob::glob(p).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    }

    /// Finds files that match now, and notes the tracked ones that no longer do.
    fn scan(&mut self) {
        for f in &mut self.files {
            f.matched = false;
        }
        for path in self.matching_paths() {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if let Some(f) = self
                .files
                .iter_mut()
                .find(|f| f.id.dev == meta.dev() && f.id.ino == meta.ino())
            {
                f.matched = true;
                f.path = path;
                continue;
            }
            let opened = File::open(&path).and_then(|file| Ok((identify(&file)?, file)));
            let (id, file) = match opened {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(stream = %self.stream.name(), path = %path.display(), error = %e, "cannot open a matching file, will retry");
                    continue;
                }
            };
            let offset = if self.from_end_at_first_scan {
                meta.len()
            } else {
                0
            };
            tracing::info!(stream = %self.stream.name(), path = %path.display(), offset, "tailing a new file");
            self.files
                .push(Tracked::new(&path, file, id, offset, 0, &self.rules));
        }
    }

    /// Reads every file to its end, handing batches to the spool; forgets files
    /// that are done.
    async fn read_all(&mut self, stop: &mut watch::Receiver<bool>) -> Handed {
        let mut i = 0;
        while i < self.files.len() {
            match self.files[i].truncated() {
                Ok(true) => {
                    tracing::info!(stream = %self.stream.name(), path = %self.files[i].path.display(), "file truncated (copy-truncate rotation), reading it from the start");
                    let held = self.files[i].restart_at_zero();
                    if let Handed::Stopping = self.hand_over(i, held, Some(0), stop).await {
                        return Handed::Stopping;
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(stream = %self.stream.name(), path = %self.files[i].path.display(), error = %e, "cannot stat a tailed file")
                }
            }
            loop {
                let batch = match self.files[i].next_batch(BATCH_RECORDS, BATCH_BYTES) {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::warn!(stream = %self.stream.name(), path = %self.files[i].path.display(), error = %e, "cannot read a tailed file, will retry");
                        break;
                    }
                };
                if batch.is_empty() {
                    break;
                }
                if let Handed::Stopping = self.hand_over(i, batch, None, stop).await {
                    return Handed::Stopping;
                }
            }
            let f = &self.files[i];
            if !f.matched && f.idle_since.is_some_and(|t| t.elapsed() >= DONE_AFTER) {
                let held = self.files[i].finish();
                if let Handed::Stopping = self.hand_over(i, held, None, stop).await {
                    return Handed::Stopping;
                }
                let done = self.files.remove(i);
                tracing::info!(stream = %self.stream.name(), path = %done.path.display(), "finished a file that was rotated away or deleted");
                self.save(None);
                continue;
            }
            i += 1;
        }
        Handed::Done
    }

    /// Appends records of file `i` to the spool, behind an intent in the checkpoint;
    /// waits while the spool is full. `committed_after` overrides the position the
    /// file is at once they are in (after a truncation: 0).
    async fn hand_over(
        &mut self,
        i: usize,
        cuts: Vec<Cut>,
        committed_after: Option<u64>,
        stop: &mut watch::Receiver<bool>,
    ) -> Handed {
        let Some(end) = cuts.last().map(|c| c.end) else {
            if let Some(offset) = committed_after {
                self.files[i].committed = offset;
                self.save(None);
            }
            return Handed::Done;
        };
        let intent = Intent {
            id: self.files[i].id,
            from: self.files[i].committed,
            first_seq: self.stream.next_seq(),
        };
        self.save(Some(intent));
        let arrival = now_ms();
        let records: Vec<Record> = cuts
            .into_iter()
            .map(|c| Record::new(c.data, arrival))
            .collect();
        let mut skip = self.files[i].skip;
        let handed = hand_to_spool(
            &self.stream,
            records,
            Handover::Checkpointed,
            stop,
            self.poll,
            &mut skip,
        )
        .await;
        self.files[i].skip = skip;
        if !handed {
            return Handed::Stopping;
        }
        self.files[i].committed = committed_after.unwrap_or(end);
        self.save(None);
        Handed::Done
    }

    /// Stores the positions of all files, with `intent` if a batch is on its way.
    /// A failed write is logged: the previous checkpoint (and, through the intent
    /// protocol, the spool) still tells where to resume, at worst with repeats.
    fn save(&self, intent: Option<Intent>) {
        let checkpoint = Checkpoint {
            files: self
                .files
                .iter()
                .map(|f| Position {
                    id: f.id,
                    path: f.path.clone(),
                    offset: f.committed,
                })
                .collect(),
            intent,
        };
        if let Err(e) = tokio::task::block_in_place(|| self.store.store(&checkpoint)) {
            tracing::error!(stream = %self.stream.name(), error = %e, "cannot write the file source checkpoint");
        }
    }
}

/// The file a checkpoint position names: at its path, or by identity in its folder.
fn find(position: &Position) -> Option<(PathBuf, File)> {
    let same = |path: &Path| {
        let file = File::open(path).ok()?;
        is_same(&file, &position.id).ok()?.then_some(file)
    };
    if let Some(file) = same(&position.path) {
        return Some((position.path.clone(), file));
    }
    let dir = position.path.parent()?;
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.ino() == position.id.ino)
        })
        .find_map(|e| same(&e.path()).map(|file| (e.path(), file)))
}

impl crate::sources::Source for FileTail {
    fn run(
        self: Box<Self>,
        stop: watch::Receiver<bool>,
    ) -> futures::future::BoxFuture<'static, ()> {
        Box::pin((*self).run(stop))
    }
}
