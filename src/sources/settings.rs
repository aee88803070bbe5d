//! The source contract on the configuration side: what each source kind's
//! settings tell the rest of Sluice (its checks, how Firehose describes it, how
//! it starts). The kinds are listed in `kinds`; what a running source promises
//! is in `super`.

use serde_json::Value;

use super::{Context, Source};
use crate::config::{ConfigError, ServerConfig};
use crate::pipeline::StreamHandle;

/// What each source kind's settings provide.
pub trait SourceKind: Send + Sync {
    /// Its `type` in the file, as logs and `sluice check` name it.
    fn type_name(&self) -> &'static str;

    /// Firehose's `DeliveryStreamType` (file and stdin sources are Sluice's own).
    fn stream_type(&self) -> &'static str;

    /// `sluice check`'s checks; `at` turns a key under the stream
    /// (`source.paths`) into its path in the file.
    fn check(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>);

    /// `DescribeDeliveryStream`'s `Source` member; `started_at` is when the
    /// daemon started (Firehose's `DeliveryStartTimestamp`).
    fn description(&self, server: &ServerConfig, started_at: f64) -> Value;

    /// Opens its task for `stream` (see the contract in `super`); `None` when
    /// producers push records through the API instead.
    fn open(
        &self,
        stream: &StreamHandle,
        context: &Context,
    ) -> anyhow::Result<Option<Box<dyn Source>>>;

    /// Whether the stream takes `PutRecord(Batch)`: a stream with a source of
    /// its own refuses them, as Firehose refuses puts to a stream with a
    /// Kinesis source (the source's checkpoints count on being the only writer).
    fn takes_puts(&self) -> bool {
        false
    }

    /// Whether it reads the daemon's standard input, which one stream at most can.
    fn reads_stdin(&self) -> bool {
        false
    }

    /// Whether its records carry the ids (Kinesis sequence numbers) that error
    /// records name, read back from the spool.
    fn records_carry_ids(&self) -> bool {
        false
    }
}
