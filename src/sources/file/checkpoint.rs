//! Where the file source is in each file, kept in the stream's spool folder.
//!
//! Exactness across a crash comes from writing an *intent* before each spool
//! append: which file, the offset the batch starts at, and the spool sequence
//! number its first record gets. After a crash, the spool tells how many of those
//! records it holds; the source reads the file again from the intent's offset and
//! skips that many. So nothing is lost, and nothing already spooled is read twice.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The checkpoint file's name in the spool folder.
const FILE_NAME: &str = "file-source.json";

/// A file's identity: device and inode, plus a fingerprint of its first bytes so a
/// reused inode is not taken for the file it replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// How many leading bytes the fingerprint covers (the file may have been
    /// shorter than the usual length when first seen).
    pub fingerprint_len: u64,
    /// CRC-32 of those bytes.
    pub fingerprint: u32,
}

/// How far a file has been handed to the spool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub id: FileId,
    /// The path it was last seen at (after a rotation while stopped, the file is
    /// looked for in this folder by its identity).
    pub path: PathBuf,
    /// The offset just past the last record in the spool.
    pub offset: u64,
}

/// A batch being appended to the spool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub id: FileId,
    /// The offset the batch starts at.
    pub from: u64,
    /// The spool sequence number of the batch's first record.
    pub first_seq: u64,
}

/// The whole checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub files: Vec<Position>,
    pub intent: Option<Intent>,
}

/// The checkpoint file of one stream.
pub struct CheckpointFile {
    path: PathBuf,
    dir: PathBuf,
}

impl CheckpointFile {
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            dir: dir.to_path_buf(),
        }
    }

    /// The stored checkpoint; `None` when there is none (the source's first start).
    pub fn load(&self) -> io::Result<Option<Checkpoint>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the checkpoint durably: a new file, synced, renamed over the old one,
    /// and the folder synced.
    pub fn store(&self, checkpoint: &Checkpoint) -> io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(checkpoint).map_err(io::Error::other)?)?;
        file.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_checkpoint_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path());
        assert_eq!(file.load().unwrap(), None);
        let id = FileId {
            dev: 1,
            ino: 2,
            fingerprint_len: 3,
            fingerprint: 4,
        };
        let checkpoint = Checkpoint {
            files: vec![Position {
                id,
                path: "/var/log/a.log".into(),
                offset: 42,
            }],
            intent: Some(Intent {
                id,
                from: 42,
                first_seq: 7,
            }),
        };
        file.store(&checkpoint).unwrap();
        assert_eq!(file.load().unwrap(), Some(checkpoint));
    }
}
