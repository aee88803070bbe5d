//! One file being tailed. It is read through the handle opened when it was found,
//! so a file renamed away (rotation) or deleted is still read to its end.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::checkpoint::FileId;
use crate::sources::lines::{Cut, LineCutter, Multiline};

/// Bytes of a file's start that identify it besides its inode.
const FINGERPRINT_BYTES: u64 = 1024;
/// Bytes read at once.
const READ_CHUNK: usize = 1024 * 1024;

/// How a file's bytes become records.
#[derive(Clone)]
pub struct LineRules {
    pub delimiter: String,
    pub multiline: Option<Multiline>,
}

/// A file being read.
pub struct Tracked {
    pub id: FileId,
    pub path: PathBuf,
    file: File,
    /// The next byte to read.
    read_at: u64,
    /// The offset just past the last record handed to the spool.
    pub committed: u64,
    cutter: LineCutter,
    rules: LineRules,
    /// Records cut and not yet handed over.
    ready: VecDeque<Cut>,
    /// Records at the start that the spool already holds (read again after a
    /// crash), counted as the spool counts them: after the stream's unpacking.
    pub skip: u64,
    /// Whether the file is still at a path the patterns match.
    pub matched: bool,
    /// Since when reading found nothing new.
    pub idle_since: Option<Instant>,
}

/// The identity of the file behind `file`.
pub fn identify(file: &File) -> io::Result<FileId> {
    let meta = file.metadata()?;
    let len = meta.len().min(FINGERPRINT_BYTES);
    Ok(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
        fingerprint_len: len,
        fingerprint: fingerprint(file, len)?,
    })
}

/// Whether `file` is the file `id` was taken of: same inode, same first bytes.
pub fn is_same(file: &File, id: &FileId) -> io::Result<bool> {
    let meta = file.metadata()?;
    Ok(meta.dev() == id.dev
        && meta.ino() == id.ino
        && meta.len() >= id.fingerprint_len
        && fingerprint(file, id.fingerprint_len)? == id.fingerprint)
}

fn fingerprint(file: &File, len: u64) -> io::Result<u32> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0)?;
    Ok(crc32fast::hash(&buf))
}

impl Tracked {
    /// Starts reading `file` (found at `path`) from `offset`; the first `skip`
    /// records it hands over are not appended again.
    pub fn new(
        path: &Path,
        file: File,
        id: FileId,
        offset: u64,
        skip: u64,
        rules: &LineRules,
    ) -> Self {
        Self {
            id,
            path: path.to_path_buf(),
            file,
            read_at: offset,
            committed: offset,
            cutter: LineCutter::new(&rules.delimiter, rules.multiline.clone(), offset),
            rules: rules.clone(),
            ready: VecDeque::new(),
            skip,
            matched: true,
            idle_since: None,
        }
    }

    /// Whether the file was truncated below what was read (copy-truncate rotation).
    pub fn truncated(&self) -> io::Result<bool> {
        Ok(self.file.metadata()?.len() < self.read_at)
    }

    /// After a truncation: reading starts again at 0. Returns what was held (the
    /// unfinished last line before the truncation), as records.
    pub fn restart_at_zero(&mut self) -> Vec<Cut> {
        let held = self.finish();
        self.read_at = 0;
        self.cutter = LineCutter::new(&self.rules.delimiter, self.rules.multiline.clone(), 0);
        held
    }

    /// The next records, at most `max_records` and about `max_bytes`, reading the
    /// file as far as needed. Empty at the end of the file.
    pub fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> io::Result<Vec<Cut>> {
        let mut buf = vec![0u8; READ_CHUNK];
        let ready_bytes = |ready: &VecDeque<Cut>| ready.iter().map(|c| c.data.len()).sum::<usize>();
        while self.ready.len() < max_records && ready_bytes(&self.ready) < max_bytes {
            let n = self.file.read_at(&mut buf, self.read_at)?;
            if n == 0 {
                break;
            }
            self.read_at += n as u64;
            let cuts = self.cutter.push(&buf[..n]);
            self.take(cuts);
        }
        if let Some(expired) = self.cutter.expire(Instant::now()) {
            self.take(vec![expired]);
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(cut) = self.ready.front() {
            if batch.len() >= max_records
                || (!batch.is_empty() && bytes + cut.data.len() > max_bytes)
            {
                break;
            }
            bytes += cut.data.len();
            batch.extend(self.ready.pop_front());
        }
        if batch.is_empty() {
            self.idle_since.get_or_insert_with(Instant::now);
        } else {
            self.idle_since = None;
        }
        Ok(batch)
    }

    /// The file is done (rotated away or deleted, and quiet): what is held becomes
    /// records, an unfinished last line included.
    pub fn finish(&mut self) -> Vec<Cut> {
        let cuts = self.cutter.finish();
        self.take(cuts);
        self.ready.drain(..).collect()
    }

    fn take(&mut self, cuts: Vec<Cut>) {
        self.ready.extend(cuts);
    }
}
