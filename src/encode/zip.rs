//! Firehose's `ZIP` objects: an archive holding one deflated entry named by a UUID.
//! Level 0 stores the entry uncompressed (method "stored"), as `zip -0` and every
//! zip tool do: deflate has no level 0 in the zip crate, and refusing it at
//! encoding time would leave a batch that no attempt can write.

use std::io::{Cursor, Write};

use zip::{CompressionMethod, DateTime, ZipWriter, write::SimpleFileOptions};

use super::EncodeError;

pub fn encode(raw: &[u8], level: u32, entry_name: &str) -> Result<Vec<u8>, EncodeError> {
    let zip_err = |e: zip::result::ZipError| EncodeError(e.to_string());
    let mut writer = ZipWriter::new(Cursor::new(Vec::with_capacity(raw.len() / 3 + 256)));
    let (method, level) = match level {
        0 => (CompressionMethod::Stored, None),
        level => (CompressionMethod::Deflated, Some(i64::from(level.min(9)))),
    };
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        // A fixed time keeps the bytes of a re-encoded batch identical.
        .last_modified_time(DateTime::default())
        .large_file(raw.len() >= u32::MAX as usize);
    writer.start_file(entry_name, options).map_err(zip_err)?;
    writer.write_all(raw)?;
    Ok(writer.finish().map_err(zip_err)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn one_named_deflated_entry() {
        let raw = b"{\"a\":1}\n".repeat(500);
        let body = encode(&raw, 6, "3f2c3b7e-0000-4000-8000-000000000001").unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(body)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(
            entry.name().unwrap(),
            "3f2c3b7e-0000-4000-8000-000000000001"
        );
        assert_eq!(entry.compression(), CompressionMethod::Deflated);
        let mut out = Vec::new();
        entry.read_to_end(&mut out).unwrap();
        assert_eq!(out, raw);
    }

    /// Regression (wedges issue): `compression_level = 0` passed `sluice check`
    /// and every encoding failed ("Unsupported compression level"), so the batch
    /// was retried forever. Level 0 is a stored entry, as `zip -0` writes.
    #[test]
    fn level_zero_stores_the_entry() {
        let raw = b"{\"a\":1}\n".repeat(500);
        let body = encode(&raw, 0, "3f2c3b7e-0000-4000-8000-000000000002").unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(body)).unwrap();
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.compression(), CompressionMethod::Stored);
        assert_eq!(entry.compressed_size(), raw.len() as u64);
        let mut out = Vec::new();
        entry.read_to_end(&mut out).unwrap();
        assert_eq!(out, raw);
    }
}
