//! The one list of processor kinds, and what each kind's settings tell the
//! rest of Sluice: its Firehose names, its place in Firehose's order, its
//! checks and its parameters as `DescribeDeliveryStream` shows them. A new kind
//! is its file, a variant here and an arm in [`ProcessorConfig::kind`] (and the
//! stage that runs it: `unpacking` or `Processing`).

use serde::Deserialize;

use super::append_delimiter::AppendDelimiterProcessor;
use super::cloudwatch_logs::CloudWatchLogsProcessor;
use super::deaggregation::DeaggregationProcessor;
use super::decompression::DecompressionProcessor;
use super::metadata_extraction::MetadataExtractionProcessor;
use crate::config::{ConfigError, StreamConfig};
use crate::transform::WasmProcessor;

/// One step of record processing.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProcessorConfig {
    /// Firehose's `Decompression`: gzip records are inflated as they enter the
    /// stream (CloudWatch Logs subscription payloads are gzip).
    Decompression(DecompressionProcessor),
    /// Firehose's `CloudWatchLogProcessing`: a CloudWatch Logs subscription
    /// message becomes one record per log event; control messages are dropped.
    CloudwatchLogs(CloudWatchLogsProcessor),
    /// Firehose's `RecordDeAggregation`: concatenated JSON objects (or JSON
    /// lines), or delimited sub-records, become one record each.
    Deaggregation(DeaggregationProcessor),
    /// A WebAssembly component of the `sluice:transform` world (`transforms/wit/`).
    Wasm(WasmProcessor),
    /// Firehose's `MetadataExtraction`: a jq object expression whose values fill
    /// `!{partitionKeyFromQuery:...}`.
    MetadataExtraction(MetadataExtractionProcessor),
    /// Firehose's `AppendDelimiterToRecord`: a delimiter after each record in
    /// delivered objects.
    AppendDelimiter(AppendDelimiterProcessor),
}

impl ProcessorConfig {
    /// The kind's settings behind the contract.
    pub fn kind(&self) -> &dyn ProcessorKind {
        match self {
            Self::Decompression(p) => p,
            Self::CloudwatchLogs(p) => p,
            Self::Deaggregation(p) => p,
            Self::Wasm(p) => p,
            Self::MetadataExtraction(p) => p,
            Self::AppendDelimiter(p) => p,
        }
    }

    /// Firehose's `ProcessorType` for it.
    pub fn firehose_type(&self) -> &'static str {
        self.kind().firehose_type()
    }

    /// Its `type` in the config file.
    pub fn type_name(&self) -> &'static str {
        self.kind().type_name()
    }

    /// Its place in Firehose's processing order (contract §6.5).
    pub fn stage(&self) -> u8 {
        self.kind().stage()
    }
}

/// What each processor kind's settings provide.
pub trait ProcessorKind {
    /// Firehose's `ProcessorType` (`Lambda` for a plugin).
    fn firehose_type(&self) -> &'static str;

    /// Its `type` in the config file.
    fn type_name(&self) -> &'static str;

    /// Its place in Firehose's processing order (contract §6.5).
    fn stage(&self) -> u8;

    /// Whether a stream may list several (plugins chain); every built-in
    /// processor is taken once.
    fn chains(&self) -> bool {
        false
    }

    /// What to do instead of listing a second one, if anything (said after
    /// "a stream takes one ...").
    fn one_per_stream_hint(&self) -> &'static str {
        ""
    }

    /// `sluice check`'s checks, with the stream it is in; `key` turns a key of
    /// the processor (`query`) into its path in the file.
    fn check(&self, s: &StreamConfig, key: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>);

    /// Firehose's `Parameters` for it, as `DescribeDeliveryStream` shows them.
    fn parameters(&self) -> Vec<(&'static str, String)>;
}
