//! Firehose's record processors, in two stages that run in Firehose's order
//! whatever the order they are listed in (contract §6.5):
//! - [`Unpacking`], as records enter the stream (before the spool): decompression,
//!   CloudWatch Logs message extraction and de-aggregation, which make several
//!   records of one, each implementing [`Unpacker`];
//! - [`Processing`], on records read from the spool: the WASM plugins (Firehose's
//!   Lambda), metadata extraction (jq partition keys) and the record delimiter,
//!   each implementing [`Processor`]. A replay after a crash runs it again on the
//!   same records: every processor must be deterministic (plugins are asked to be).

mod append_delimiter;
pub mod cloudwatch_logs;
pub mod deaggregation;
pub mod decompression;
mod field_query;
pub mod metadata_extraction;
mod plugins;
pub mod unpacking;

use crate::config::{ProcessorConfig, StreamConfig};
use crate::transform::{Chain, Input, Verdict};

pub use append_delimiter::AppendDelimiter;
pub use cloudwatch_logs::CloudWatchLogs;
pub use deaggregation::Deaggregation;
pub use decompression::Decompression;
pub use metadata_extraction::MetadataExtraction;
pub use unpacking::{Unpacker, Unpacking};

/// Firehose's error code for a record whose partition keys cannot be had: not
/// JSON, a query error, a key missing, or values no store can take in a key.
pub const METADATA_EXTRACTION_FAILED: &str = "DynamicPartitioning.MetadataExtractionFailed";

/// One processing step. It sees a batch as the steps before it left it, and
/// leaves each record's verdict: ok (with its data and partition keys), dropped,
/// or failed with an error code.
pub trait Processor: Send {
    /// Firehose's processor type, for logs and metrics.
    fn firehose_type(&self) -> &'static str;

    /// Processes every record still `Ok` in `batch`.
    fn process(&mut self, batch: &mut Batch<'_>);
}

/// A batch on its way through the processors.
pub struct Batch<'a> {
    pub inputs: &'a [Input],
    /// One per input. Once `written` is true, an `Ok`'s data is at its range in
    /// `out`; before, it is still the input's data.
    pub verdicts: Vec<Verdict>,
    pub out: &'a mut Vec<u8>,
    /// Where this batch's data starts in `out` (what was there before is not the
    /// processors' to touch).
    pub base: usize,
    pub written: bool,
}

impl Batch<'_> {
    /// Record `i`'s current data.
    pub fn data(&self, i: usize) -> &[u8] {
        match (&self.verdicts[i], self.written) {
            (Verdict::Ok { data, .. }, true) => &self.out[data.clone()],
            _ => &self.inputs[i].data,
        }
    }

    /// Writes each `Ok` record's data to `out` (as the inputs when nothing did
    /// yet), followed by `delimiter`, in input order.
    pub fn rewrite(&mut self, delimiter: &[u8]) {
        let before = self.out.split_off(self.base);
        for (i, verdict) in self.verdicts.iter_mut().enumerate() {
            if let Verdict::Ok { data, .. } = verdict {
                let bytes = if self.written {
                    &before[data.start - self.base..data.end - self.base]
                } else {
                    &self.inputs[i].data[..]
                };
                let start = self.out.len();
                self.out.extend_from_slice(bytes);
                self.out.extend_from_slice(delimiter);
                *data = start..self.out.len();
            }
        }
        self.written = true;
    }
}

/// A stream's processors, in Firehose's order.
pub struct Processing {
    stream: String,
    steps: Vec<Box<dyn Processor>>,
}

impl Processing {
    /// The stream's processing stage; `None` when it has no processors. `chain`
    /// holds its plugins, loaded (that takes seconds) by the caller.
    pub fn new(stream: &StreamConfig, chain: Option<Chain>) -> Result<Option<Self>, String> {
        let mut steps: Vec<Box<dyn Processor>> = Vec::new();
        if let Some(chain) = chain {
            steps.push(Box::new(chain));
        }
        if let Some(query) = stream.metadata_query() {
            let query = MetadataExtraction::new(query).map_err(|e| e.to_string())?;
            steps.push(Box::new(query));
        }
        if let Some(delimiter) = stream.delimiter() {
            steps.push(Box::new(AppendDelimiter::new(delimiter)));
        }
        Ok((!steps.is_empty()).then(|| Self {
            stream: stream.name.clone(),
            steps,
        }))
    }

    /// One verdict per input, in order; the records' new data is appended to
    /// `out`, where each `Verdict::Ok` says.
    pub fn run(&mut self, inputs: &[Input], out: &mut Vec<u8>) -> Vec<Verdict> {
        let base = out.len();
        let mut batch = Batch {
            inputs,
            verdicts: inputs
                .iter()
                .map(|_| Verdict::Ok {
                    data: 0..0,
                    partition_keys: Default::default(),
                })
                .collect(),
            out,
            base,
            written: false,
        };
        for step in &mut self.steps {
            let started = std::time::Instant::now();
            step.process(&mut batch);
            crate::telemetry::processor_time(&self.stream, step.firehose_type(), started.elapsed());
        }
        if !batch.written {
            batch.rewrite(b"");
        }
        batch.verdicts
    }
}

/// Whether the listing differs from the order the processors run in, and the
/// order they run in, for `sluice check`.
pub fn run_order(processors: &[ProcessorConfig]) -> Option<String> {
    let mut sorted: Vec<&ProcessorConfig> = processors.iter().collect();
    sorted.sort_by_key(|p| p.stage());
    let same = sorted
        .iter()
        .zip(processors)
        .all(|(a, b)| std::ptr::eq(*a, b));
    (!same).then(|| {
        sorted
            .iter()
            .map(|p| p.firehose_type())
            .collect::<Vec<_>>()
            .join(" → ")
    })
}
