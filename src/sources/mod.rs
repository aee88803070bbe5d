//! Sources turn outside input into records for a delivery stream. They know nothing
//! about buffering or sinks: they call `StreamHandle::ingest` and acknowledge only
//! when it returns `Ok`.

pub mod direct_put;
pub mod file;
pub mod kinesis;
pub mod lines;
pub mod state_file;
pub mod stdin;
