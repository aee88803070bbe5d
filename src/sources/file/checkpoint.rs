//! Where the file source is in each file, kept in the stream's spool folder.
//!
//! Exactness across a crash comes from writing an *intent* before each spool
//! append: which file, the offset the batch starts at, and the spool sequence
//! number its first record gets. After a crash, the spool tells how many of those
//! records it holds; the source reads the file again from the intent's offset and
//! skips that many. So nothing is lost, and nothing already spooled is read twice.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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

/// The checkpoint file's name in the spool folder.
pub const FILE_NAME: &str = "file-source.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_checkpoint_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file =
            crate::sources::state_file::StateFile::new(crate::disk::os(), dir.path(), FILE_NAME);
        assert_eq!(file.load::<Checkpoint>().unwrap(), None);
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
        assert_eq!(file.load::<Checkpoint>().unwrap(), Some(checkpoint));
    }
}
