//! The cache of compiled plugins (`<spool.dir>/plugin-cache/`): one file per
//! component and engine, named after both, so a restart maps a plugin back in
//! instead of compiling it for seconds. Pruned after each start and reload to what
//! the configuration uses plus a bounded amount of recently used others (a plugin
//! rebuilt five times would otherwise leave five compiled copies, ~45 MB each for
//! a Python runtime).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// What the cache keeps beyond the configured plugins' files, most recently used
/// first: room for a rollback to the plugins of the configuration before.
pub const EXTRA_BYTES: u64 = 128 * 1024 * 1024;

/// A half-written file older than this was left by a process that died.
const STALE_TMP: Duration = Duration::from_secs(3600);

const SUFFIX: &str = ".cwasm";

/// The file name of `bytes` compiled by `engine`: the SHA-256 of the component and
/// of the engine's settings (a wasmtime upgrade or another configuration gets a
/// name of its own).
pub fn name(engine: &Engine, bytes: &[u8]) -> String {
    let mut settings = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let mut digest = Sha256::new();
    digest.update(bytes);
    digest.update(settings.finish().to_le_bytes());
    format!("{}{SUFFIX}", hex::encode(digest.finalize()))
}

/// Marks a cached file as used now, which is what pruning keeps by.
pub fn used(file: &Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(file) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Writes the compiled component next to its final name and renames it, so a
/// crash leaves either nothing or a whole file.
pub fn store(component: &Component, file: &Path) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let serialized = component.serialize()?;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serialized)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

/// What a pruning removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub files: usize,
    pub bytes: u64,
}

/// Removes from `dir` every compiled file not named in `keep`, but for the most
/// recently used ones that fit together in `extra_bytes`, and half-written files
/// left by a process that died.
pub fn prune(dir: &Path, keep: &HashSet<String>, extra_bytes: u64) -> std::io::Result<Pruned> {
    let mut others = Vec::new();
    let mut pruned = Pruned::default();
    let now = SystemTime::now();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let modified = meta.modified().unwrap_or(now);
        if name.ends_with(SUFFIX) {
            if !keep.contains(&name) {
                others.push((modified, meta.len(), entry.path()));
            }
        } else if name.contains(".tmp")
            && now.duration_since(modified).unwrap_or_default() > STALE_TMP
            && std::fs::remove_file(entry.path()).is_ok()
        {
            pruned.files += 1;
            pruned.bytes += meta.len();
        }
    }
    others.sort_by_key(|o| std::cmp::Reverse(o.0));
    // Newest first, until one does not fit: it and all older ones go.
    let mut kept = 0u64;
    let mut full = false;
    for (_, len, path) in others {
        full = full || kept + len > extra_bytes;
        if !full {
            kept += len;
        } else if std::fs::remove_file(&path).is_ok() {
            pruned.files += 1;
            pruned.bytes += len;
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, len: usize, age_s: u64) {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn keeps_what_is_configured_and_the_newest_others_that_fit() {
        let dir = tempfile::tempdir().unwrap();
        file(dir.path(), "in-use.cwasm", 500, 9000);
        file(dir.path(), "newest.cwasm", 100, 10);
        file(dir.path(), "newer.cwasm", 100, 20);
        file(dir.path(), "older.cwasm", 100, 30);
        file(dir.path(), "oldest.cwasm", 10, 40);
        file(dir.path(), "x.tmp123", 50, 7200);
        file(dir.path(), "y.tmp456", 50, 5);
        let keep = HashSet::from(["in-use.cwasm".to_string()]);
        let pruned = prune(dir.path(), &keep, 250).unwrap();
        // newest and newer fit in 250 bytes; older does not, and the smaller
        // oldest one after it does not get its place: recency decides. The fresh
        // half-written file may be another process's compile in progress.
        assert_eq!(
            names(dir.path()),
            ["in-use.cwasm", "newer.cwasm", "newest.cwasm", "y.tmp456"]
        );
        assert_eq!(
            pruned,
            Pruned {
                files: 3,
                bytes: 160
            }
        );
    }

    #[test]
    fn a_used_file_counts_as_new() {
        let dir = tempfile::tempdir().unwrap();
        file(dir.path(), "a.cwasm", 100, 100);
        file(dir.path(), "b.cwasm", 100, 50);
        used(&dir.path().join("a.cwasm"));
        prune(dir.path(), &HashSet::new(), 150).unwrap();
        assert_eq!(names(dir.path()), ["a.cwasm"]);
    }
}
