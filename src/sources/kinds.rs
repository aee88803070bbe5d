//! The one list of source kinds. A new kind is its folder (its settings and
//! their [`SourceKind`]), a variant here and an arm in [`SourceConfig::kind`].

use serde::Deserialize;

use super::direct_put::DirectPutSource;
use super::file::FileSource;
use super::kafka::KafkaSource;
use super::kinesis::KinesisSource;
use super::settings::SourceKind;
use super::stdin::StdinSource;

/// Where a stream's records come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Firehose's `PutRecord` / `PutRecordBatch` and the NDJSON endpoint.
    DirectPut(DirectPutSource),
    /// Log files tailed as a sidecar: one record per line.
    File(FileSource),
    /// The daemon's standard input, one record per line; the daemon stops (after
    /// delivering everything) at the end of the input.
    Stdin(StdinSource),
    /// A Kinesis data stream (AWS or a compatible server), every shard read.
    Kinesis(KinesisSource),
    /// A Kafka topic (Amazon MSK, Redpanda, ...), read by a consumer group.
    Kafka(KafkaSource),
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self::DirectPut(DirectPutSource::default())
    }
}

impl SourceConfig {
    /// The kind's settings behind the contract.
    pub fn kind(&self) -> &dyn SourceKind {
        match self {
            Self::DirectPut(s) => s,
            Self::File(s) => s,
            Self::Stdin(s) => s,
            Self::Kinesis(s) => s,
            Self::Kafka(s) => s,
        }
    }
}
