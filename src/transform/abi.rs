//! `record-in` and `record-out` in forms that cross into and out of the plugin
//! without a host allocation per record: inputs borrow the records' bytes (wasmtime
//! copies them into the plugin's memory once), and answers are read straight from
//! the plugin's memory into a buffer the caller chooses.

use std::ops::Range;

use wasmtime::component::{ComponentType, Lift, Lower, WasmList, WasmStr};

use crate::record::KinesisMeta;

/// The WIT `kinesis-metadata`, borrowed.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct KinesisIn<'a> {
    #[component(name = "shard-id")]
    shard_id: &'a str,
    #[component(name = "partition-key")]
    partition_key: &'a str,
    #[component(name = "sequence-number")]
    sequence_number: &'a str,
    #[component(name = "sub-sequence-number")]
    sub_sequence_number: u64,
    #[component(name = "approximate-arrival-ms")]
    approximate_arrival_ms: u64,
}

/// The WIT `record-in`, borrowed.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct RecordIn<'a> {
    #[component(name = "record-id")]
    pub record_id: u64,
    pub data: &'a [u8],
    #[component(name = "approximate-arrival-ms")]
    approximate_arrival_ms: u64,
    kinesis: Option<KinesisIn<'a>>,
}

impl<'a> RecordIn<'a> {
    pub fn new(
        record_id: u64,
        data: &'a [u8],
        arrival_ms: i64,
        kinesis: Option<&'a KinesisMeta>,
    ) -> Self {
        Self {
            record_id,
            data,
            approximate_arrival_ms: u64::try_from(arrival_ms).unwrap_or_default(),
            kinesis: kinesis.map(|k| KinesisIn {
                shard_id: &k.shard_id,
                partition_key: &k.partition_key,
                sequence_number: &k.sequence_number,
                sub_sequence_number: k.sub_sequence_number,
                approximate_arrival_ms: u64::try_from(k.arrival_ms).unwrap_or_default(),
            }),
        }
    }
}

/// The WIT `ok-record`, still in the plugin's memory.
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct OkOut {
    data: WasmList<u8>,
    /// Lifted only when not empty: most records carry none.
    #[component(name = "partition-keys")]
    partition_keys: WasmList<(WasmStr, WasmStr)>,
}

/// The WIT `outcome`, its data still in the plugin's memory.
#[derive(ComponentType, Lift)]
#[component(variant)]
pub enum OutcomeOut {
    #[component(name = "ok")]
    Ok(OkOut),
    #[component(name = "dropped")]
    Dropped,
    #[component(name = "processing-failed")]
    ProcessingFailed(String),
}

/// The WIT `record-out`, its data still in the plugin's memory.
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct RecordOut {
    #[component(name = "record-id")]
    record_id: u64,
    outcome: OutcomeOut,
}

/// What the plugin answered for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// New data (where it was copied to, see [`Answer::read`]) and partition keys.
    Ok {
        data: Range<usize>,
        partition_keys: Vec<(String, String)>,
    },
    Dropped,
    Failed(String),
}

/// A call's answer: each reply with the record id the plugin gave it.
#[derive(Debug, Default)]
pub struct Answer {
    pub replies: Vec<(u64, Reply)>,
}

impl Answer {
    /// The id the plugin gave the reply at `i`.
    pub fn id(&self, i: usize) -> u64 {
        self.replies[i].0
    }

    /// An answer as if read from a plugin (for tests of what follows a call).
    #[cfg(test)]
    pub fn from_replies(replies: Vec<(u64, Reply)>) -> Self {
        Self { replies }
    }

    /// Copies the answer out of the plugin's memory: the data appended to `data`, where each `Reply::Ok` says it is. The caller
    /// chooses `data`: for the last plugin of a chain it is the stream's buffer
    /// itself, so a record is copied once on its way out of the plugin.
    pub fn read<T: 'static>(
        out: Vec<RecordOut>,
        store: &mut wasmtime::Store<T>,
        data: &mut Vec<u8>,
    ) -> wasmtime::Result<Self> {
        // Sized first: the data is copied once, never moved by a growing buffer.
        let mut data_bytes = 0;
        for record in &out {
            if let OutcomeOut::Ok(ok) = &record.outcome {
                data_bytes += ok.data.len();
            }
        }
        data.reserve(data_bytes);
        let mut replies = Vec::with_capacity(out.len());
        for record in out {
            let reply = match record.outcome {
                OutcomeOut::Ok(ok) => {
                    let start = data.len();
                    data.extend_from_slice(ok.data.as_le_slice(&*store));
                    Reply::Ok {
                        data: start..data.len(),
                        partition_keys: partition_keys(&ok.partition_keys, store)?,
                    }
                }
                OutcomeOut::Dropped => Reply::Dropped,
                OutcomeOut::ProcessingFailed(reason) => Reply::Failed(reason),
            };
            replies.push((record.record_id, reply));
        }
        Ok(Self { replies })
    }
}

/// A record's partition keys, copied out of the plugin's memory.
fn partition_keys<T: 'static>(
    list: &WasmList<(WasmStr, WasmStr)>,
    store: &mut wasmtime::Store<T>,
) -> wasmtime::Result<Vec<(String, String)>> {
    if list.len() == 0 {
        return Ok(Vec::new());
    }
    let pairs = list
        .iter(&mut *store)
        .collect::<wasmtime::Result<Vec<(WasmStr, WasmStr)>>>()?;
    pairs
        .iter()
        .map(|(k, v)| {
            Ok((
                k.to_str(&*store)?.into_owned(),
                v.to_str(&*store)?.into_owned(),
            ))
        })
        .collect()
}
