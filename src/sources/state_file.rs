//! A source's checkpoint file in its stream's spool folder, replaced atomically
//! and durably: a crash leaves the old checkpoint or the new one, never a mix.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::disk::{Disk, Mode};

/// One JSON checkpoint file, on the disk of the spool it follows.
pub struct StateFile {
    disk: Arc<dyn Disk>,
    path: PathBuf,
    dir: PathBuf,
}

impl StateFile {
    pub fn new(disk: Arc<dyn Disk>, dir: &Path, name: &str) -> Self {
        Self {
            disk,
            path: dir.join(name),
            dir: dir.to_path_buf(),
        }
    }

    /// The stored state; `None` when there is none yet (the source's first start).
    pub fn load<T: DeserializeOwned>(&self) -> io::Result<Option<T>> {
        match self.disk.read(&self.path) {
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

    /// Replaces the state: a new file, synced, renamed over the old one, and the
    /// folder synced.
    pub fn store<T: Serialize>(&self, state: &T) -> io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let file = self.disk.open(&tmp, Mode::Create)?;
        file.write_all_at(&serde_json::to_vec(state).map_err(io::Error::other)?, 0)?;
        file.sync()?;
        self.disk.rename(&tmp, &self.path)?;
        self.disk.sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_state_loads_back_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(crate::disk::os(), dir.path(), "s.json");
        assert_eq!(file.load::<Vec<u32>>().unwrap(), None);
        file.store(&vec![1u32, 2, 3]).unwrap();
        assert_eq!(file.load::<Vec<u32>>().unwrap(), Some(vec![1, 2, 3]));
        std::fs::write(dir.path().join("s.json"), b"{broken").unwrap();
        assert!(file.load::<Vec<u32>>().is_err());
    }
}
