//! Turning a sealed buffer's bytes into an object body.
//!
//! Encoders know nothing about transport: they take bytes and return bytes plus the
//! metadata (file extension, `Content-Encoding`) a sink needs to store them.

pub mod compression;
mod hadoop_snappy;
mod snappy_java;
mod zip;

pub use compression::{Compression, EncodeError};

/// Uncompressed bytes per snappy block, as snappy-java's default block size (32 KiB).
const SNAPPY_BLOCK: usize = 32 * 1024;
