//! How far each partition has been handed to the spool, kept in the stream's
//! spool folder, with the intent protocol of the file and Kinesis sources:
//! before an append, the partition, the offset of the batch's first message and
//! the spool sequence number of its first record are written; after a crash
//! the spool tells how many of the batch's records it holds, and exactly those
//! are skipped when the partition is read again from that offset.
//!
//! The broker's committed offsets trail this file (they are committed now and
//! then, and a crash loses the last ones); a message below a partition's offset
//! here is in the spool already and is passed over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The checkpoint file's name in the spool folder.
pub const FILE_NAME: &str = "kafka-source.json";

/// A batch of one partition being appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub partition: i32,
    /// The offset of the batch's first message.
    pub first_offset: i64,
    /// The spool sequence number of the batch's first record.
    pub first_seq: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The topic the offsets are of: another topic starts afresh.
    pub topic: String,
    /// By partition: the offset of the next message to hand over (every one
    /// before it is in the spool).
    pub next: BTreeMap<i32, i64>,
    pub intent: Option<Intent>,
}
