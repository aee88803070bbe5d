//! Hadoop's `BlockCompressorStream` framing of snappy, which Firehose writes for
//! `CompressionFormat: HADOOP_SNAPPY` and which Athena, Hive and Spark read.
//!
//! Each block of at most 32 KiB input is `[u32 BE uncompressed length]
//! [u32 BE compressed length][raw snappy block]`; there is no file header.

use super::{EncodeError, snappy_blocks};

pub fn encode(raw: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(raw.len() / 2 + 8);
    snappy_blocks(raw, |chunk, packed| {
        // Blocks are at most 32 KiB, so both lengths fit in a u32.
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(&(packed.len() as u32).to_be_bytes());
        out.extend_from_slice(packed);
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_block_states_both_lengths() {
        let raw = b"0123456789".repeat(7000); // 70,000 bytes: three blocks
        let body = encode(&raw).unwrap();
        let mut rest = &body[..];
        let mut out = Vec::new();
        let mut blocks = 0;
        while !rest.is_empty() {
            let raw_len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let n = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
            let block = snap::raw::Decoder::new()
                .decompress_vec(&rest[8..8 + n])
                .unwrap();
            assert_eq!(block.len(), raw_len);
            out.extend(block);
            rest = &rest[8 + n..];
            blocks += 1;
        }
        assert_eq!(blocks, 3);
        assert_eq!(out, raw);
    }
}
