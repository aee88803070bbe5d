//! The spool's disk: every file operation the spool and the sources' checkpoints
//! make, behind one small interface.
//!
//! The daemon uses the machine's file system (`Os`). The tests use a simulated disk
//! (`sim`) that keeps each write in memory until it is synced and throws away what
//! was not at a power cut, the way TigerBeetle and FoundationDB test their storage:
//! that is how the tests see what a machine crash loses, which a kill -9 cannot show.

mod os;
#[cfg(test)]
pub mod sim;

use std::any::Any;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use os::Os;

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// For reading; the file must exist.
    Read,
    /// For reading and writing; the file must exist.
    ReadWrite,
    /// For reading and writing, created or emptied.
    Create,
}

/// A file system as the spool sees it. Creations, renames and removals are
/// durable only once their folder is synced (`sync_dir`).
pub trait Disk: Send + Sync + 'static {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The files directly in `dir`, with their sizes.
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>>;
    fn open(&self, path: &Path, mode: Mode) -> io::Result<Arc<dyn DiskFile>>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals of files in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock named by `path`, held until the returned guard
    /// drops; `None` when another process holds it.
    fn lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>>;

    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open(path, Mode::Read)?;
        read_all(file.as_ref())
    }
}

/// An open file. Writes are durable once `sync` returns.
pub trait DiskFile: Send + Sync {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    fn size(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves `len` bytes, so later writes within them never fail for want of space.
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// Makes every write so far durable, the file's size included.
    fn sync(&self) -> io::Result<()>;
}

/// The whole content of an open file.
pub fn read_all(file: &dyn DiskFile) -> io::Result<Vec<u8>> {
    let len = usize::try_from(file.size()?).map_err(io::Error::other)?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// The disk the daemon runs on.
pub fn os() -> Arc<dyn Disk> {
    Arc::new(Os)
}
