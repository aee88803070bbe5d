//! Segment files: a stream's spool is a run of append-only files, each named after
//! the sequence number of its first record (`00000000000000001234.seg`), so their
//! order and the records each holds follow from the names.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::frame::{self, Parsed};
use crate::disk::{self, Disk, DiskFile, Mode};

/// Every segment starts with these bytes; the last one is the format version.
pub const MAGIC: &[u8; 8] = b"SLSPOOL\x01";
pub const HEADER_LEN: u64 = MAGIC.len() as u64;
/// No frame is larger: the largest record Firehose accepts, with room to spare.
pub const MAX_FRAME_LEN: usize = 2 * 1024 * 1024;
const EXTENSION: &str = "seg";

pub fn path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.{EXTENSION}"))
}

/// The segments in `dir`, by first sequence number, with their sizes.
pub fn list(disk: &dyn Disk, dir: &Path) -> io::Result<BTreeMap<u64, u64>> {
    let mut out = BTreeMap::new();
    for (name, len) in disk.list(dir)? {
        let Some(base) = name
            .strip_suffix(&format!(".{EXTENSION}"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.insert(base, len);
    }
    Ok(out)
}

/// Why a segment cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path}: not a spool segment of this version of Sluice (it starts with {found:?}); move the spool aside to start afresh"
    )]
    Format { path: PathBuf, found: Vec<u8> },
}

/// The state of the last segment at start-up, after a torn write was cut off.
pub struct Tail {
    pub file: Arc<dyn DiskFile>,
    /// Where the next frame goes.
    pub len: u64,
    /// The sequence number after the last sound record (the base if none).
    pub next_seq: u64,
    /// Bytes cut off the end (a write that a crash interrupted).
    pub truncated: u64,
}

/// Opens the last segment for appending. A write that a crash cut short leaves an
/// incomplete or damaged frame at the end with nothing sound after it: that tail
/// was never acknowledged (acknowledgement waits for the whole write), so it is cut
/// off. Damage followed by sound frames is left for the reader to report.
pub fn open_tail(disk: &dyn Disk, dir: &Path, base: u64) -> Result<Tail, SegmentError> {
    let path = path(dir, base);
    let io_err = |source| SegmentError::Io {
        path: path.clone(),
        source,
    };
    let file = disk.open(&path, Mode::ReadWrite).map_err(io_err)?;
    let raw = disk::read_all(file.as_ref()).map_err(io_err)?;
    if raw.len() < MAGIC.len() {
        // Created but its header never written: start it again.
        write_header(file.as_ref()).map_err(io_err)?;
        return Ok(Tail {
            file,
            len: HEADER_LEN,
            next_seq: base,
            truncated: raw.len() as u64,
        });
    }
    if &raw[..MAGIC.len()] != MAGIC {
        return Err(SegmentError::Format {
            path,
            found: raw[..MAGIC.len()].to_vec(),
        });
    }
    let raw = Bytes::from(raw);
    let mut at = MAGIC.len();
    let mut next_seq = base;
    let mut sound_end = at;
    while at < raw.len() {
        match frame::parse(&raw, at, MAX_FRAME_LEN) {
            Parsed::Frame { frame, len } => {
                next_seq = frame.seq + 1;
                at += len;
                sound_end = at;
            }
            Parsed::Damaged {
                claimed_len: Some(len),
            } if matches!(
                frame::parse(&raw, at + len, MAX_FRAME_LEN),
                Parsed::Frame { .. }
            ) =>
            {
                // Damage in the middle: the record it held is counted, the reader reports it.
                next_seq += 1;
                at += len;
            }
            Parsed::Damaged { .. } | Parsed::Incomplete => break,
        }
    }
    let truncated = (raw.len() - sound_end) as u64;
    if truncated > 0 {
        file.set_len(sound_end as u64).map_err(io_err)?;
        file.sync().map_err(io_err)?;
    }
    Ok(Tail {
        file,
        len: sound_end as u64,
        next_seq,
        truncated,
    })
}

/// Creates a new, empty segment (header written and synced, with its folder entry).
/// A file left by an earlier attempt that failed half-way is started again.
pub fn create(disk: &dyn Disk, dir: &Path, base: u64) -> io::Result<Arc<dyn DiskFile>> {
    let file = disk.open(&path(dir, base), Mode::Create)?;
    write_header(file.as_ref())?;
    disk.sync_dir(dir)?;
    Ok(file)
}

fn write_header(file: &dyn DiskFile) -> io::Result<()> {
    file.set_len(0)?;
    file.write_all_at(MAGIC, 0)?;
    file.sync()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn write_segment(dir: &Path, base: u64, frames: &[(u64, &[u8])], tail: &[u8]) -> PathBuf {
        let mut raw = MAGIC.to_vec();
        for (seq, data) in frames {
            frame::encode(&mut raw, *seq, 0, data);
        }
        raw.extend_from_slice(tail);
        let p = path(dir, base);
        std::fs::File::create(&p).unwrap().write_all(&raw).unwrap();
        p
    }

    #[test]
    fn a_torn_write_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut partial = Vec::new();
        frame::encode(&mut partial, 12, 0, b"never acknowledged");
        partial.truncate(partial.len() - 3);
        let p = write_segment(dir.path(), 10, &[(10, b"a"), (11, b"b")], &partial);
        let tail = open_tail(&crate::disk::Os, dir.path(), 10).unwrap();
        assert_eq!(tail.next_seq, 12);
        assert_eq!(tail.truncated, partial.len() as u64);
        assert_eq!(
            std::fs::metadata(p).unwrap().len(),
            HEADER_LEN + 2 * frame::encoded_len(1) as u64
        );
    }

    #[test]
    fn damage_before_sound_frames_is_kept_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_segment(dir.path(), 0, &[(0, b"a"), (1, b"b"), (2, b"c")], b"");
        let mut raw = std::fs::read(&p).unwrap();
        let second = MAGIC.len() + frame::encoded_len(1) + frame::HEADER_LEN;
        raw[second] ^= 1;
        std::fs::write(&p, &raw).unwrap();
        let tail = open_tail(&crate::disk::Os, dir.path(), 0).unwrap();
        assert_eq!((tail.next_seq, tail.truncated), (3, 0));
        assert_eq!(tail.len, raw.len() as u64);
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path(), 0), b"PK\x03\x04 not a spool").unwrap();
        let err = open_tail(&crate::disk::Os, dir.path(), 0).err().unwrap();
        assert!(err.to_string().contains("not a spool segment"), "{err}");
    }

    proptest::proptest! {
        /// Any bytes after the header (torn frames, damage, lengths that claim
        /// more than is there): opening never panics, what is cut off is only a
        /// tail, and the records counted are at least the sound frames before it.
        #[test]
        fn any_tail_opens_and_only_a_tail_is_cut(
            frames in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 0..6),
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            flip in proptest::option::of(0usize..400),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut raw = MAGIC.to_vec();
            for (i, data) in frames.iter().enumerate() {
                frame::encode(&mut raw, 7 + i as u64, 0, data);
            }
            raw.extend_from_slice(&garbage);
            if let Some(at) = flip.filter(|&at| at >= MAGIC.len() && at < raw.len()) {
                raw[at] ^= 0x5a;
            }
            std::fs::write(path(dir.path(), 7), &raw).unwrap();
            let tail = open_tail(&crate::disk::Os, dir.path(), 7).unwrap();
            let kept = std::fs::read(path(dir.path(), 7)).unwrap();
            proptest::prop_assert!(raw.starts_with(&kept), "only a tail is cut");
            proptest::prop_assert_eq!(kept.len() as u64, tail.len);
            proptest::prop_assert_eq!(tail.truncated, (raw.len() - kept.len()) as u64);
            proptest::prop_assert!(tail.next_seq >= 7);
            if flip.is_none() && garbage.is_empty() {
                proptest::prop_assert_eq!(tail.next_seq, 7 + frames.len() as u64);
                proptest::prop_assert_eq!(tail.truncated, 0);
            }
        }
    }
}
