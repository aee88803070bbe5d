//! The one list of processor kinds. A new kind is its file (its settings and
//! their [`ProcessorKind`]), a variant here and an arm in
//! [`ProcessorConfig::kind`] (and the stage that runs it: `unpacking` or
//! `Processing`).

use serde::Deserialize;

use super::append_delimiter::AppendDelimiterProcessor;
use super::cloudwatch_logs::CloudWatchLogsProcessor;
use super::deaggregation::DeaggregationProcessor;
use super::decompression::DecompressionProcessor;
use super::metadata_extraction::MetadataExtractionProcessor;
use super::settings::ProcessorKind;
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
