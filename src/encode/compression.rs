//! The object compression formats of Firehose's `CompressionFormat`.

use serde::Deserialize;

/// Object compression, with Sluice's spellings and Firehose's own (`UNCOMPRESSED`,
/// `GZIP`, `ZIP`, `Snappy`, `HADOOP_SNAPPY`). Firehose's enum is case-sensitive, so
/// `SNAPPY` is rejected, as it is by Firehose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zip,
    /// snappy-java's stream format (what Firehose calls `Snappy`).
    Snappy,
    /// Hadoop's block framing of snappy (Firehose's `HADOOP_SNAPPY`).
    HadoopSnappy,
}

impl TryFrom<String> for Compression {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Ok(match name.as_str() {
            "none" | "UNCOMPRESSED" => Self::None,
            "gzip" | "GZIP" => Self::Gzip,
            "zip" | "ZIP" => Self::Zip,
            "snappy" | "Snappy" => Self::Snappy,
            "hadoop_snappy" | "HADOOP_SNAPPY" => Self::HadoopSnappy,
            other => {
                return Err(format!(
                    "unknown compression `{other}` (accepted: none, gzip, zip, snappy, hadoop_snappy, \
                     or Firehose's UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY, which are case-sensitive)"
                ));
            }
        })
    }
}

/// An encoder failure; only resource exhaustion or a bug can cause one, since the
/// input is plain bytes.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode object: {0}")]
pub struct EncodeError(pub(super) String);

impl EncodeError {
    /// A failure of a writer the encoded data goes to.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<std::io::Error> for EncodeError {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

impl Compression {
    /// The highest `compression_level` accepted (zlib's 9); every level from 0
    /// to it encodes, for each format that [`takes_level`](Self::takes_level).
    pub const MAX_LEVEL: u32 = 9;

    /// The deflate level used when `compression_level` is left out: what makes
    /// objects the size zlib's default (level 6, as gzip(1) and Firehose) makes, at
    /// the least CPU. For gzip that is libdeflate's level 5, which on log records
    /// comes within 0.2% of zlib-6's size at 3 to 5 times its speed (libdeflate's
    /// own 6 is 2% smaller and a third slower); zip entries are deflated by zlib-rs,
    /// whose 6 is zlib's 6.
    pub fn default_level(self) -> u32 {
        match self {
            Self::Gzip => 5,
            _ => 6,
        }
    }

    /// Firehose's `CompressionFormat` spelling, as `DescribeDeliveryStream` reports it.
    pub fn firehose_name(self) -> &'static str {
        match self {
            Self::None => "UNCOMPRESSED",
            Self::Gzip => "GZIP",
            Self::Zip => "ZIP",
            Self::Snappy => "Snappy",
            Self::HadoopSnappy => "HADOOP_SNAPPY",
        }
    }

    /// The key suffix Firehose gives objects in this format. Both snappy variants end
    /// in `.snappy`, as Firehose was observed to deliver them.
    pub fn extension(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Zip => ".zip",
            Self::Snappy | Self::HadoopSnappy => ".snappy",
        }
    }

    /// The `Content-Encoding` Firehose sets on objects in this format.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Gzip => Some("gzip"),
            Self::Zip => Some("zip"),
            Self::Snappy => Some("snappy-java"),
            Self::HadoopSnappy => Some("hadoop-snappy"),
        }
    }

    /// Whether `compression_level` means anything for this format.
    pub fn takes_level(self) -> bool {
        matches!(self, Self::Gzip | Self::Zip)
    }

    /// Compresses `raw` into an object body. `entry_name` names the single ZIP entry
    /// (Firehose uses a random UUID; Sluice passes the object's UUID so that encoding
    /// the same batch twice gives the same bytes). Output is deterministic: the gzip
    /// header carries no time and the ZIP entry a fixed one.
    pub fn encode(self, raw: &[u8], level: u32, entry_name: &str) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::None => Ok(raw.to_vec()),
            Self::Gzip => gzip(raw, level),
            Self::Zip => super::zip::encode(raw, level, entry_name),
            Self::Snappy => super::snappy_java::encode(raw),
            Self::HadoopSnappy => super::hadoop_snappy::encode(raw),
        }
    }
}

/// One gzip member of `raw`, by libdeflate at `level` (0 to 9, as zlib's).
pub(crate) fn gzip(raw: &[u8], level: u32) -> Result<Vec<u8>, EncodeError> {
    let level = libdeflater::CompressionLvl::new(level.min(9) as i32)
        .map_err(|e| EncodeError(format!("gzip level {level}: {e:?}")))?;
    let mut compressor = libdeflater::Compressor::new(level);
    // Zeroed by the allocator's fresh pages, of which only what is written is
    // touched: the bound costs no memory beyond the compressed size.
    let mut out = vec![0u8; compressor.gzip_compress_bound(raw.len())];
    let len = compressor
        .gzip_compress(raw, &mut out)
        .map_err(|e| EncodeError(format!("gzip: {e:?}")))?;
    out.truncate(len);
    out.shrink_to_fit();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_round_trips_and_is_deterministic_at_every_level() {
        let raw = b"hello firehose\n".repeat(1000);
        for level in 0..=9 {
            let a = Compression::Gzip.encode(&raw, level, "x").unwrap();
            let b = Compression::Gzip.encode(&raw, level, "x").unwrap();
            assert_eq!(a, b);
            // A plain gzip header: no name, no time (a rebuilt batch is the same object).
            assert_eq!(&a[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0], "level {level}");
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&a[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, raw, "level {level}");
        }
        assert!(Compression::Gzip.encode(b"", 6, "x").is_ok());
    }

    /// Every compression and level that `sluice check` accepts encodes, and
    /// decodes back to the records (the wedges issue: zip at level 0 was
    /// accepted and never encoded). `check` accepts levels 0 to 9 where the
    /// format takes one, and none elsewhere.
    #[test]
    fn every_pair_check_accepts_encodes_and_round_trips() {
        let raw = b"{\"tenant\":\"t-1\",\"message\":\"hello firehose\"}\n".repeat(300);
        let all = [
            Compression::None,
            Compression::Gzip,
            Compression::Zip,
            Compression::Snappy,
            Compression::HadoopSnappy,
        ];
        for compression in all {
            let levels: Vec<u32> = if compression.takes_level() {
                (0..=Compression::MAX_LEVEL).collect()
            } else {
                vec![compression.default_level()]
            };
            for level in levels {
                let body = compression
                    .encode(&raw, level, "3f2c3b7e-0000-4000-8000-000000000003")
                    .unwrap_or_else(|e| panic!("{compression:?} level {level}: {e}"));
                assert_eq!(
                    decode(compression, &body),
                    raw,
                    "{compression:?} level {level}"
                );
            }
        }
    }

    /// What a reader of each format gets back.
    fn decode(compression: Compression, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match compression {
            Compression::None => out = body.to_vec(),
            Compression::Gzip => {
                flate2::read::GzDecoder::new(body)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::Zip => {
                let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap();
                archive.by_index(0).unwrap().read_to_end(&mut out).unwrap();
            }
            // snappy-java: a 16-byte header, then blocks behind their length.
            Compression::Snappy => snappy_blocks(&body[16..], 4, &mut out),
            // Hadoop: each block behind its raw and its compressed length.
            Compression::HadoopSnappy => snappy_blocks(body, 8, &mut out),
        }
        out
    }

    /// Raw snappy blocks, each behind a header of `header` bytes that ends with
    /// the block's length (big-endian).
    fn snappy_blocks(mut body: &[u8], header: usize, out: &mut Vec<u8>) {
        while !body.is_empty() {
            let n = u32::from_be_bytes(body[header - 4..header].try_into().unwrap()) as usize;
            let block = &body[header..header + n];
            out.extend(snap::raw::Decoder::new().decompress_vec(block).unwrap());
            body = &body[header + n..];
        }
    }

    #[test]
    fn firehose_spellings_are_accepted_and_upper_snappy_is_not() {
        #[derive(Deserialize)]
        struct W {
            c: Compression,
        }
        let parse = |s: &str| serde_json::from_str::<W>(&format!("{{\"c\":\"{s}\"}}")).map(|w| w.c);
        assert_eq!(parse("Snappy").unwrap(), Compression::Snappy);
        assert_eq!(parse("HADOOP_SNAPPY").unwrap(), Compression::HadoopSnappy);
        assert_eq!(parse("UNCOMPRESSED").unwrap(), Compression::None);
        assert!(parse("SNAPPY").is_err());
    }
}
