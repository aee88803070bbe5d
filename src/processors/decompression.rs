//! Firehose's `Decompression` processor: a gzip record (every member of a
//! concatenated stream) becomes its inflated bytes. What is not gzip, or
//! inflates past the cap, is refused with its data as received, under Firehose's
//! `decompression-failed` error output type.

use std::io::Read as _;

use bytes::Bytes;
use serde::Deserialize;

use super::settings::ProcessorKind;
use super::unpacking::{Refused, Unpacker};
use crate::config::{ConfigError, StreamConfig};

/// `{ type = "decompression" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecompressionProcessor {
    /// Firehose's `CompressionFormat`; `gzip` is the only one (as in Firehose).
    #[serde(default)]
    pub format: DecompressionFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecompressionFormat {
    #[default]
    Gzip,
}

impl ProcessorKind for DecompressionProcessor {
    fn firehose_type(&self) -> &'static str {
        "Decompression"
    }

    fn type_name(&self) -> &'static str {
        "decompression"
    }

    fn stage(&self) -> u8 {
        0
    }

    fn check(
        &self,
        _s: &StreamConfig,
        _key: &dyn Fn(&str) -> String,
        _errors: &mut Vec<ConfigError>,
    ) {
    }

    fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![("CompressionFormat", "GZIP".to_string())]
    }
}

/// Firehose's error output type for records that did not decompress.
pub const DECOMPRESSION_FAILED: &str = "decompression-failed";
/// The error code of such records.
pub const FAILED: &str = "Decompression.Failed";

/// Inflates gzip records.
pub struct Decompression;

impl Unpacker for Decompression {
    fn firehose_type(&self) -> &'static str {
        "Decompression"
    }

    fn unpack(&self, data: Bytes, cap: usize, out: &mut Vec<Bytes>) -> Result<(), Refused> {
        let refused = |message: String| Refused {
            output_type: DECOMPRESSION_FAILED,
            code: FAILED,
            message,
        };
        let mut inflated = Vec::new();
        // One byte past the cap tells a record at the cap from one over it.
        let read = flate2::read::MultiGzDecoder::new(&data[..])
            .take(cap as u64 + 1)
            .read_to_end(&mut inflated);
        match read {
            Err(e) => Err(refused(format!("the record is not gzip data: {e}"))),
            Ok(n) if n > cap => Err(refused(format!(
                "the record inflates past the cap of {cap} bytes (server.max_decoded_body_mb)"
            ))),
            Ok(_) => {
                out.push(Bytes::from(inflated));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn concatenated_members_inflate_whole() {
        let mut data = gzip(b"hello ");
        data.extend(gzip(b"world"));
        let mut out = Vec::new();
        Decompression
            .unpack(Bytes::from(data), 100, &mut out)
            .unwrap();
        assert_eq!(out, [Bytes::from_static(b"hello world")]);
    }

    #[test]
    fn exactly_the_cap_passes_one_byte_more_does_not() {
        let mut out = Vec::new();
        Decompression
            .unpack(Bytes::from(gzip(&[7; 100])), 100, &mut out)
            .unwrap();
        assert_eq!(out[0].len(), 100);
        let err = Decompression
            .unpack(Bytes::from(gzip(&[7; 101])), 100, &mut out)
            .unwrap_err();
        assert_eq!(err.output_type, DECOMPRESSION_FAILED);
        assert!(err.message.contains("cap of 100 bytes"), "{}", err.message);
    }

    #[test]
    fn data_that_is_not_gzip_is_refused() {
        for data in [&b"plain"[..], b"", &gzip(b"cut short")[..12]] {
            let err = Decompression
                .unpack(Bytes::copy_from_slice(data), 100, &mut Vec::new())
                .unwrap_err();
            assert_eq!(err.code, FAILED);
            assert!(
                err.message.starts_with("the record is not gzip data"),
                "{}",
                err.message
            );
        }
    }
}
