//! The version number in a stream's object names (`<stream>-<version>-...`): 1
//! for a new stream, one more each time its delivery settings change (as Firehose
//! counts `UpdateDestination` calls), whether by a reload or across a restart.
//! It is kept in the stream's spool folder with a digest of the settings it was
//! given for, so a restart on the same settings keeps it.

use std::io;

use serde::{Deserialize, Serialize};

use crate::sources::state_file::StateFile;

/// The file's name in the spool folder.
pub const FILE: &str = "destination-version.json";

#[derive(Serialize, Deserialize)]
struct Kept {
    version: u64,
    /// [`crate::config::StreamConfig::delivery_digest`] of the settings.
    settings: String,
}

/// The version for settings whose digest is `digest`, stored before it is used.
pub fn settle(file: &StateFile, digest: &str) -> io::Result<u64> {
    let version = match file.load::<Kept>()? {
        Some(kept) if kept.settings == digest => return Ok(kept.version),
        Some(kept) => kept.version + 1,
        None => 1,
    };
    file.store(&Kept {
        version,
        settings: digest.to_string(),
    })?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_goes_up_only_when_the_settings_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = || StateFile::new(crate::disk::os(), dir.path(), FILE);
        assert_eq!(settle(&file(), "a").unwrap(), 1);
        assert_eq!(settle(&file(), "a").unwrap(), 1);
        assert_eq!(settle(&file(), "b").unwrap(), 2);
        assert_eq!(settle(&file(), "b").unwrap(), 2);
        // Back to the first settings is one more change, as in Firehose.
        assert_eq!(settle(&file(), "a").unwrap(), 3);
    }
}
