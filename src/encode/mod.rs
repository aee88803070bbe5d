//! Turning a sealed buffer's bytes into an object body.
//!
//! Encoders know nothing about transport: they take bytes and return bytes plus the
//! metadata (file extension, `Content-Encoding`) a sink needs to store them.

mod codec;
pub mod compression;
mod hadoop_snappy;
pub mod parquet;
pub mod pieces;
mod snappy_java;
mod zip;

pub use codec::Codec;
pub use compression::{Compression, EncodeError};

/// Uncompressed bytes per snappy block, as snappy-java's default block size (32 KiB).
const SNAPPY_BLOCK: usize = 32 * 1024;

/// Compresses `raw` in blocks of 32 KiB with raw snappy, calling `emit` with each
/// uncompressed block and its compressed form: both of Firehose's snappy containers
/// are this loop with different framing.
fn snappy_blocks(raw: &[u8], mut emit: impl FnMut(&[u8], &[u8])) -> Result<(), EncodeError> {
    let mut encoder = snap::raw::Encoder::new();
    let mut block = vec![0u8; snap::raw::max_compress_len(SNAPPY_BLOCK)];
    for chunk in raw.chunks(SNAPPY_BLOCK) {
        let n = encoder
            .compress(chunk, &mut block)
            .map_err(|e| EncodeError(e.to_string()))?;
        emit(chunk, &block[..n]);
    }
    Ok(())
}
