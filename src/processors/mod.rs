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
pub mod kinds;
pub mod metadata_extraction;
mod plugins;
pub mod settings;
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

/// A stream's processors, in Firehose's order, once for each processing thread.
pub struct Processing {
    stream: String,
    /// Each lane has the whole list of steps, with plugin instances of its own;
    /// a batch is cut into as many runs of consecutive records.
    lanes: Vec<Vec<Box<dyn Processor>>>,
    /// What a record has cost on a lane lately, in nanoseconds (`None` until a
    /// batch has run): a batch is cut only when each run gets work worth a
    /// thread, since a cut costs a plugin call per run (a no-op C plugin's call
    /// is worth some 500 records).
    nanos_per_record: Option<u64>,
}

/// A lane gets at least this many records...
const LANE_MIN_RECORDS: usize = 64;
/// ...and at least this much work, in nanoseconds: less is eaten by the cut.
const LANE_MIN_NANOS: u64 = 4_000_000;

impl Processing {
    /// The stream's processing stage; `None` when it has no processors. `chains`
    /// holds its plugins, loaded (that takes seconds) by the caller: none, or one
    /// chain per processing thread.
    pub fn new(stream: &StreamConfig, chains: Vec<Chain>) -> Result<Option<Self>, String> {
        let threads = stream.processing_threads().max(chains.len()).max(1);
        let mut chains = chains.into_iter();
        let mut lanes = Vec::with_capacity(threads);
        for _ in 0..threads {
            let mut steps: Vec<Box<dyn Processor>> = Vec::new();
            if let Some(chain) = chains.next() {
                steps.push(Box::new(chain));
            }
            if let Some(query) = stream.metadata_query() {
                // Keys with a default (an Iceberg table's routing metadata) may be
                // null or missing: the record then takes the default.
                let optional = stream
                    .routing()
                    .defaults
                    .into_keys()
                    .filter_map(|k| k.strip_prefix("partitionKeyFromQuery:").map(str::to_string))
                    .collect();
                let query = MetadataExtraction::new(query)
                    .map_err(|e| e.to_string())?
                    .with_optional(optional);
                steps.push(Box::new(query));
            }
            if let Some(delimiter) = stream.delimiter() {
                steps.push(Box::new(AppendDelimiter::new(delimiter)));
            }
            if steps.is_empty() {
                return Ok(None);
            }
            lanes.push(steps);
        }
        Ok(Some(Self {
            stream: stream.name.clone(),
            lanes,
            nanos_per_record: None,
        }))
    }

    /// How many lanes `records` records are worth.
    fn lanes_for(&self, records: usize) -> usize {
        let by_work = match self.nanos_per_record {
            None => usize::MAX,
            Some(nanos) => usize::try_from(nanos.saturating_mul(records as u64) / LANE_MIN_NANOS)
                .unwrap_or(usize::MAX),
        };
        self.lanes
            .len()
            .min(records / LANE_MIN_RECORDS)
            .min(by_work)
            .max(1)
    }

    /// One verdict per input, in order; the records' new data is appended to
    /// `out`, where each `Verdict::Ok` says. A large batch is cut into runs of
    /// consecutive records, one per lane, processed at once on threads of their
    /// own and put back together in order: the result is the one a single lane
    /// would give, plugins' calls aside (they hold fewer records each).
    pub fn run(&mut self, inputs: &[Input], out: &mut Vec<u8>) -> Vec<Verdict> {
        let lanes = self.lanes_for(inputs.len());
        let started = std::time::Instant::now();
        let verdicts = self.run_on(lanes, inputs, out);
        if !inputs.is_empty() {
            let per_lane = inputs.len().div_ceil(lanes) as u128;
            let nanos = u64::try_from(started.elapsed().as_nanos() / per_lane).unwrap_or(u64::MAX);
            self.nanos_per_record = Some(match self.nanos_per_record {
                None => nanos,
                Some(before) => before / 4 * 3 + nanos / 4,
            });
        }
        verdicts
    }

    /// [`Self::run`] on the first `lanes` lanes.
    fn run_on(&mut self, lanes: usize, inputs: &[Input], out: &mut Vec<u8>) -> Vec<Verdict> {
        let stream = self.stream.as_str();
        let Some((first, others)) = self.lanes[..lanes].split_first_mut() else {
            return Vec::new();
        };
        if others.is_empty() {
            return run_steps(stream, first, inputs, out);
        }
        let share = inputs.len().div_ceil(lanes);
        let mut runs = inputs.chunks(share);
        let head = runs.next().unwrap_or_default();
        let (mut verdicts, rest) = std::thread::scope(|scope| {
            let handles: Vec<_> = others
                .iter_mut()
                .zip(runs)
                .map(|(steps, run)| {
                    scope.spawn(move || {
                        let mut written = Vec::new();
                        let verdicts = run_steps(stream, steps, run, &mut written);
                        (verdicts, written)
                    })
                })
                .collect();
            let verdicts = run_steps(stream, first, head, out);
            // A panic in a lane is the panic it would be on one thread.
            let rest: Vec<_> = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect();
            (verdicts, rest)
        });
        for (lane_verdicts, written) in rest {
            let shift = out.len();
            out.extend_from_slice(&written);
            verdicts.extend(lane_verdicts.into_iter().map(|verdict| match verdict {
                Verdict::Ok {
                    data,
                    partition_keys,
                } => Verdict::Ok {
                    data: data.start + shift..data.end + shift,
                    partition_keys,
                },
                other => other,
            }));
        }
        verdicts
    }
}

/// Runs `steps` over `inputs`, appending their data to `out`.
fn run_steps(
    stream: &str,
    steps: &mut [Box<dyn Processor>],
    inputs: &[Input],
    out: &mut Vec<u8>,
) -> Vec<Verdict> {
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
    for step in steps.iter_mut() {
        let started = std::time::Instant::now();
        step.process(&mut batch);
        crate::telemetry::processor_time(stream, step.firehose_type(), started.elapsed());
    }
    if !batch.written {
        batch.rewrite(b"");
    }
    batch.verdicts
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;

    fn stream(threads: usize) -> StreamConfig {
        let text = format!(
            "[[delivery_streams]]\nname = \"s\"\nprocessing_threads = {threads}\n\
             processors = [{{ type = \"metadata_extraction\", query = \"{{k: .k}}\" }}, {{ type = \"append_delimiter\", delimiter = \";\" }}]\n\
             destination = {{ type = \"s3\", bucket = \"test-bucket\", prefix = \"k=!{{partitionKeyFromQuery:k}}/\", error_output_prefix = \"e/\" }}\n"
        );
        let file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        std::fs::write(file.path(), text).unwrap();
        load(Some(file.path())).unwrap().delivery_streams.remove(0)
    }

    /// Every 7th record is not JSON (fails), the others carry a key.
    fn inputs(n: usize) -> Vec<Input> {
        (0..n)
            .map(|i| Input {
                id: i as u64,
                data: if i % 7 == 3 {
                    bytes::Bytes::from(format!("not json {i}"))
                } else {
                    bytes::Bytes::from(format!("{{\"k\":\"v{}\",\"i\":{i}}}", i % 5))
                },
                arrival_ms: 0,
                kinesis: None,
            })
            .collect()
    }

    /// Each input's outcome, with its data as written.
    fn outcomes(verdicts: &[Verdict], out: &[u8]) -> Vec<String> {
        verdicts
            .iter()
            .map(|v| match v {
                Verdict::Ok {
                    data,
                    partition_keys,
                } => format!(
                    "{} {:?}",
                    String::from_utf8_lossy(&out[data.clone()]),
                    partition_keys
                ),
                Verdict::Dropped => "dropped".into(),
                Verdict::Failed(f) => f.code.to_string(),
            })
            .collect()
    }

    #[test]
    fn lanes_give_what_one_thread_gives_in_input_order() {
        let inputs = inputs(1001);
        let mut one = Processing::new(&stream(1), Vec::new()).unwrap().unwrap();
        let mut three = Processing::new(&stream(3), Vec::new()).unwrap().unwrap();
        assert_eq!(three.lanes.len(), 3);
        let (mut a, mut b) = (b"before".to_vec(), b"before".to_vec());
        let serial = one.run_on(1, &inputs, &mut a);
        let lanes = three.run_on(3, &inputs, &mut b);
        assert_eq!(a, b, "the same bytes, in the same order");
        assert_eq!(outcomes(&serial, &a), outcomes(&lanes, &b));
        assert!(outcomes(&lanes, &b)[2].starts_with("{\"k\":\"v2\",\"i\":2};"));
        assert_eq!(outcomes(&lanes, &b)[3], METADATA_EXTRACTION_FAILED);
        assert_eq!(
            outcomes(&lanes, &b)[1000],
            "{\"k\":\"v0\",\"i\":1000}; {\"partitionKeyFromQuery:k\": \"v0\"}"
        );
        // Ranges follow each other from where the buffer was.
        let mut end = b"before".len();
        for v in &lanes {
            if let Verdict::Ok { data, .. } = v {
                assert_eq!(data.start, end);
                end = data.end;
            }
        }
        assert_eq!(end, b.len());
    }

    #[test]
    fn a_batch_is_cut_only_into_runs_worth_a_thread() {
        let mut three = Processing::new(&stream(3), Vec::new()).unwrap().unwrap();
        // Not measured yet: as many lanes as runs of 64 records.
        assert_eq!(three.lanes_for(100), 1);
        assert_eq!(three.lanes_for(130), 2);
        assert_eq!(three.lanes_for(100_000), 3);
        // 100 µs a record (a slow plugin): 40 records fill a lane.
        three.nanos_per_record = Some(100_000);
        assert_eq!(three.lanes_for(500), 3);
        assert_eq!(three.lanes_for(80), 1);
        // 400 ns a record (a no-op plugin): 8192 records are not worth a second thread.
        three.nanos_per_record = Some(400);
        assert_eq!(three.lanes_for(500), 1);
        assert_eq!(three.lanes_for(8192), 1);
        assert_eq!(three.lanes_for(20_000), 2);
        // Each run updates the estimate.
        three.nanos_per_record = None;
        let mut out = Vec::new();
        assert_eq!(three.run(&inputs(100), &mut out).len(), 100);
        assert!(three.nanos_per_record.is_some());
    }
}
