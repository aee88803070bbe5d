//! A simulated disk for tests: every write stays volatile until its file is synced,
//! every creation, rename and removal until its folder is synced, and a power cut
//! (`cut`) throws away whatever was volatile, optionally keeping a torn part of an
//! unsynced append. Handles opened before a cut fail from then on, so the work of a
//! "crashed" daemon that is still winding down cannot touch the disk after it.
//! A capacity makes writes fail with `ENOSPC`, as a full disk does.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Disk, DiskFile, Mode};

#[derive(Default)]
struct Inode {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// Bumped at each cut; handles of an older generation are dead.
    generation: u64,
    inodes: BTreeMap<u64, Inode>,
    names: BTreeMap<PathBuf, u64>,
    synced_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeMap<PathBuf, u64>,
    next_inode: u64,
    capacity: Option<u64>,
    /// Counters, for tests to show what they exercised.
    cuts: u64,
    torn_bytes_kept: u64,
    volatile_bytes_lost: u64,
}

impl State {
    fn used(&self) -> u64 {
        self.inodes.values().map(|i| i.data.len() as u64).sum()
    }
}

/// What power cuts did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutStats {
    pub cuts: u64,
    /// Unsynced bytes thrown away.
    pub lost_bytes: u64,
    /// Unsynced bytes of appends kept, torn, by a cut.
    pub torn_bytes: u64,
}

/// The simulated disk; clones share it.
#[derive(Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

fn dead() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

impl SimDisk {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes writes that would grow the disk's content past `bytes` fail with
    /// `ENOSPC`; `None` lifts the limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state().capacity = bytes;
    }

    /// Bytes the disk holds now.
    pub fn used(&self) -> u64 {
        self.state().used()
    }

    /// A power cut: every unsynced write, creation, rename and removal is lost.
    /// With `tear`, a file that only grew since its last sync keeps a part of the
    /// unsynced bytes, chosen by `seed` (a write the disk had begun).
    pub fn cut(&self, tear: bool, seed: u64) {
        let mut s = self.state();
        s.generation += 1;
        s.cuts += 1;
        s.locks.clear();
        s.names = s.synced_names.clone();
        let live: BTreeSet<u64> = s.names.values().copied().collect();
        let mut lost: u64 = s
            .inodes
            .iter()
            .filter(|(n, _)| !live.contains(n))
            .map(|(_, i)| i.data.len() as u64)
            .sum();
        s.inodes.retain(|n, _| live.contains(n));
        let mut rng = seed | 1;
        let mut torn = 0;
        for inode in s.inodes.values_mut() {
            let keep = if tear
                && inode.data.len() > inode.synced.len()
                && inode.data.starts_with(&inode.synced)
            {
                // xorshift: enough to vary the tear per file.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng % (inode.data.len() - inode.synced.len() + 1) as u64) as usize
            } else {
                0
            };
            let extra = inode.data.len().saturating_sub(inode.synced.len());
            lost += (extra - keep.min(extra)) as u64;
            torn += keep as u64;
            let mut data = inode.synced.clone();
            data.extend_from_slice(&inode.data[inode.synced.len()..inode.synced.len() + keep]);
            inode.data = data;
        }
        s.volatile_bytes_lost += lost;
        s.torn_bytes_kept += torn;
    }

    pub fn stats(&self) -> CutStats {
        let s = self.state();
        CutStats {
            cuts: s.cuts,
            lost_bytes: s.volatile_bytes_lost,
            torn_bytes: s.torn_bytes_kept,
        }
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state();
        for d in dir.ancestors() {
            s.dirs.insert(d.to_path_buf());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>> {
        let s = self.state();
        if !s.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(s.names
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .filter_map(|(p, n)| {
                let name = p.file_name()?.to_str()?.to_string();
                Some((name, s.inodes.get(n).map_or(0, |i| i.data.len() as u64)))
            })
            .collect())
    }

    fn open(&self, path: &Path, mode: Mode) -> io::Result<Arc<dyn DiskFile>> {
        let mut s = self.state();
        let inode = match (s.names.get(path).copied(), mode) {
            (Some(n), Mode::Create) => {
                if let Some(i) = s.inodes.get_mut(&n) {
                    i.data.clear();
                }
                n
            }
            (Some(n), _) => n,
            (None, Mode::Create) => {
                if !path.parent().is_some_and(|d| s.dirs.contains(d)) {
                    return Err(not_found(path));
                }
                s.next_inode += 1;
                let n = s.next_inode;
                s.inodes.insert(n, Inode::default());
                s.names.insert(path.to_path_buf(), n);
                n
            }
            (None, _) => return Err(not_found(path)),
        };
        Ok(Arc::new(SimFile {
            disk: self.clone(),
            inode,
            generation: s.generation,
            writable: mode != Mode::Read,
        }))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let s = self.state();
        Ok(s.names.contains_key(path) || s.dirs.contains(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state();
        let n = s.names.remove(from).ok_or_else(|| not_found(from))?;
        s.names.insert(to.to_path_buf(), n);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.names.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state();
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        s.synced_names.retain(|p, _| !in_dir(p));
        let now: Vec<(PathBuf, u64)> = s
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        s.synced_names.extend(now);
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>> {
        let mut s = self.state();
        let generation = s.generation;
        if s.locks.get(path) == Some(&generation) {
            return Ok(None);
        }
        s.locks.insert(path.to_path_buf(), generation);
        Ok(Some(Box::new(SimLock {
            disk: self.clone(),
            path: path.to_path_buf(),
            generation,
        })))
    }
}

struct SimLock {
    disk: SimDisk,
    path: PathBuf,
    generation: u64,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut s = self.disk.state();
        if s.locks.get(&self.path) == Some(&self.generation) {
            s.locks.remove(&self.path);
        }
    }
}

struct SimFile {
    disk: SimDisk,
    inode: u64,
    generation: u64,
    writable: bool,
}

impl SimFile {
    /// The disk's state, if this handle is of the current generation.
    fn live(&self) -> io::Result<MutexGuard<'_, State>> {
        let s = self.disk.state();
        if s.generation != self.generation || !s.inodes.contains_key(&self.inode) {
            return Err(dead());
        }
        Ok(s)
    }

    fn resize(&self, s: &mut State, len: usize) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let current = s.inodes.get(&self.inode).map_or(0, |i| i.data.len());
        if len > current
            && let Some(cap) = s.capacity
            && s.used() + (len - current) as u64 > cap
        {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        if let Some(i) = s.inodes.get_mut(&self.inode) {
            i.data.resize(len, 0);
        }
        Ok(())
    }
}

impl DiskFile for SimFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let s = self.live()?;
        let data = &s.inodes[&self.inode].data;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let end = start.saturating_add(buf.len());
        if end > data.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&data[start..end]);
        Ok(())
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let mut s = self.live()?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let end = start + data.len();
        let len = s.inodes[&self.inode].data.len();
        if end > len {
            self.resize(&mut s, end)?;
        } else if !self.writable {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        if let Some(i) = s.inodes.get_mut(&self.inode) {
            i.data[start..end].copy_from_slice(data);
        }
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.live()?.inodes[&self.inode].data.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.live()?;
        self.resize(&mut s, usize::try_from(len).map_err(io::Error::other)?)
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let mut s = self.live()?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        if len > s.inodes[&self.inode].data.len() {
            self.resize(&mut s, len)?;
        }
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut s = self.live()?;
        if let Some(i) = s.inodes.get_mut(&self.inode) {
            i.synced = i.data.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_keeps_what_was_synced_and_nothing_else() {
        let disk = SimDisk::new();
        let dir = Path::new("/d");
        disk.create_dir_all(dir).unwrap();
        let a = disk.open(&dir.join("a"), Mode::Create).unwrap();
        a.write_all_at(b"synced", 0).unwrap();
        a.sync().unwrap();
        disk.sync_dir(dir).unwrap();
        a.write_all_at(b" and not", 6).unwrap();
        let b = disk.open(&dir.join("b"), Mode::Create).unwrap();
        b.write_all_at(b"never in its folder", 0).unwrap();
        b.sync().unwrap();
        disk.cut(false, 1);
        assert_eq!(disk.read(&dir.join("a")).unwrap(), b"synced");
        assert!(!disk.exists(&dir.join("b")).unwrap());
        assert!(a.size().is_err(), "a handle from before the cut is dead");
        assert_eq!(disk.stats().lost_bytes, 8 + 19);
    }

    #[test]
    fn a_torn_cut_keeps_a_prefix_of_an_append() {
        let disk = SimDisk::new();
        let dir = Path::new("/d");
        disk.create_dir_all(dir).unwrap();
        for seed in 0..20 {
            let f = disk.open(&dir.join("f"), Mode::Create).unwrap();
            f.write_all_at(b"head", 0).unwrap();
            f.sync().unwrap();
            disk.sync_dir(dir).unwrap();
            f.write_all_at(b"0123456789", 4).unwrap();
            disk.cut(true, seed);
            let got = disk.read(&dir.join("f")).unwrap();
            assert!(got.starts_with(b"head") && b"head0123456789".starts_with(&got));
        }
        assert!(disk.stats().torn_bytes > 0);
    }

    #[test]
    fn renames_and_removals_wait_for_their_folder() {
        let disk = SimDisk::new();
        let dir = Path::new("/d");
        disk.create_dir_all(dir).unwrap();
        let f = disk.open(&dir.join("old"), Mode::Create).unwrap();
        f.write_all_at(b"x", 0).unwrap();
        f.sync().unwrap();
        disk.sync_dir(dir).unwrap();
        disk.rename(&dir.join("old"), &dir.join("new")).unwrap();
        disk.cut(false, 1);
        assert!(disk.exists(&dir.join("old")).unwrap());
        disk.remove(&dir.join("old")).unwrap();
        disk.sync_dir(dir).unwrap();
        disk.cut(false, 1);
        assert!(!disk.exists(&dir.join("old")).unwrap());
    }

    #[test]
    fn a_full_disk_refuses_growth() {
        let disk = SimDisk::new();
        let dir = Path::new("/d");
        disk.create_dir_all(dir).unwrap();
        disk.set_capacity(Some(10));
        let f = disk.open(&dir.join("f"), Mode::Create).unwrap();
        f.write_all_at(b"0123456789", 0).unwrap();
        let e = f.write_all_at(b"!", 10).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        f.write_all_at(b"overwrite", 0).unwrap();
    }
}
