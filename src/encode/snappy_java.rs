//! snappy-java's stream format, which Firehose writes for `CompressionFormat: Snappy`.
//!
//! A 16-byte header (magic `0x82 "SNAPPY" 0x00`, int32 BE version 1, int32 BE
//! compatible version 1), then for each 32 KiB of input an int32 BE compressed length
//! and a raw snappy block. This is not snappy's official framing format, which is why
//! it is written here around `snap::raw`.

use super::{EncodeError, snappy_blocks};

const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const VERSION: i32 = 1;
const COMPATIBLE_VERSION: i32 = 1;

pub fn encode(raw: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(16 + raw.len() / 2);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&COMPATIBLE_VERSION.to_be_bytes());
    snappy_blocks(raw, |_, packed| {
        // A block of at most 32 KiB compresses to far less than 2 GiB.
        out.extend_from_slice(&(packed.len() as i32).to_be_bytes());
        out.extend_from_slice(packed);
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the format independently of the encoder, as snappy-java's reader does.
    fn decode(mut body: &[u8]) -> Vec<u8> {
        assert_eq!(&body[..8], &MAGIC);
        assert_eq!(&body[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        body = &body[16..];
        let mut out = Vec::new();
        while !body.is_empty() {
            let n = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
            out.extend(
                snap::raw::Decoder::new()
                    .decompress_vec(&body[4..4 + n])
                    .unwrap(),
            );
            body = &body[4 + n..];
        }
        out
    }

    #[test]
    fn blocks_of_32k_round_trip() {
        let raw: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        assert_eq!(decode(&encode(&raw).unwrap()), raw);
        assert_eq!(encode(&[]).unwrap().len(), 16);
    }
}
