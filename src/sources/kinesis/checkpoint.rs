//! How far each shard has been handed to the spool, kept in the stream's spool
//! folder, with the same intent protocol as the file source: before an append, the
//! shard, the Kinesis sequence number of the batch's first record and the spool
//! sequence number of its first record are written; after a crash the spool tells
//! how many of the batch's user records it holds, and exactly those are skipped
//! when the shard is read again from that Kinesis record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The checkpoint file's name in the spool folder.
pub const FILE_NAME: &str = "kinesis-source.json";

/// A shard's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardProgress {
    /// The last Kinesis record whose user records are all in the spool.
    pub sequence: Option<String>,
    /// Read to its end (a closed parent shard): its children may start.
    pub finished: bool,
}

/// A batch being appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub shard: String,
    /// The Kinesis sequence number of the batch's first record.
    pub first_record: String,
    /// The spool sequence number of the batch's first user record.
    pub first_seq: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub shards: BTreeMap<String, ShardProgress>,
    pub intent: Option<Intent>,
    /// With `starting_position = "LATEST"`: when the stream first started
    /// reading, in epoch milliseconds. Shards with no checkpoint are read from this
    /// instant (`AT_TIMESTAMP`), at the first start and after every restart, so
    /// records put while Sluice was stopped are not skipped by a new `LATEST`.
    #[serde(default)]
    pub latest_from_ms: Option<i64>,
}
