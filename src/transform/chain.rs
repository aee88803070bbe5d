//! A stream's processors run in order over a batch of records, with Lambda's rules:
//! each plugin call is checked against its input (every record id exactly once),
//! failed calls are retried on a fresh instance, and each record ends with one
//! verdict: transformed (with partition keys), dropped, or failed with a reason.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::abi::{Answer, RecordIn, Reply};
use super::plugin::Plugin;
use crate::record::{KinesisMeta, now_ms};

/// Firehose's error codes for records a transform did not deliver (contract §4.1).
pub const PROCESSING_FAILED_STATUS: &str = "Lambda.ProcessingFailedStatus";
pub const FUNCTION_ERROR: &str = "Lambda.FunctionError";
pub const MISSING_RECORD_ID: &str = "Lambda.MissingRecordId";
pub const DUPLICATED_RECORD_ID: &str = "Lambda.DuplicatedRecordId";

/// Why a record that had data, answered `ok` with none, goes to the error output
/// instead of being delivered empty (Lambda's rule, from which Sluice departs on
/// purpose): that is what the JavaScript binding makes of a string or an object
/// given as `data`, and a plugin that means to remove a record answers `dropped`.
pub const EMPTIED: &str = "the plugin answered ok with no data for a record that had data \
     (a JavaScript plugin must give data as a Uint8Array, not a string or an object: the SDK's \
     ok() converts them; answer dropped to drop a record)";

/// A record going into the chain.
#[derive(Debug, Clone)]
pub struct Input {
    /// Unique within the stream (the spool sequence number): the plugin's record id.
    pub id: u64,
    pub data: bytes::Bytes,
    pub arrival_ms: i64,
    pub kinesis: Option<KinesisMeta>,
}

/// What the chain made of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok {
        /// Where the record's new data is in the buffer given to [`Chain::run`].
        data: Range<usize>,
        partition_keys: BTreeMap<String, String>,
    },
    Dropped,
    Failed(Failure),
}

/// Why a record went to the error output, in Firehose's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
    pub attempts: u32,
    /// When the failing call ended, in epoch milliseconds.
    pub ending_ms: i64,
    /// The plugin that failed it; `None` when the host refused the record
    /// (partitioning, replay), and the error record then names no plugin.
    pub plugin: Option<String>,
}

impl Failure {
    /// A record the host refuses after the plugins ran: one attempt, ending now.
    pub fn by_host(code: &'static str, message: String) -> Self {
        Self {
            code,
            message,
            attempts: 1,
            ending_ms: now_ms(),
            plugin: None,
        }
    }
}

/// The stream's plugins, in their configured order.
pub struct Chain {
    plugins: Vec<Plugin>,
    /// Between two plugins: the answers of the one before (the next one's input)
    /// and the buffer the running one writes to. Kept, so that the calls of a
    /// chain of several plugins reuse their memory.
    between: [Vec<u8>; 2],
}

/// A record on its way through the chain: which input it is, and where its data
/// is in what the previous stage produced.
struct InFlight {
    index: usize,
    data: Range<usize>,
}

/// What a plugin reads its records from: the inputs themselves, or the answers
/// of the plugin before it.
enum Stage<'a> {
    Inputs(&'a [Input]),
    Answers(&'a [u8]),
}

impl Stage<'_> {
    fn data(&self, record: &InFlight) -> &[u8] {
        match self {
            Stage::Inputs(inputs) => &inputs[record.index].data[record.data.clone()],
            Stage::Answers(bytes) => &bytes[record.data.clone()],
        }
    }
}

impl Chain {
    pub fn new(plugins: Vec<Plugin>) -> Self {
        Self {
            plugins,
            between: Default::default(),
        }
    }

    /// The same plugins on instances of their own, for a batch's records that are
    /// processed beside this chain's.
    pub fn fork(&self) -> Result<Self, super::LoadError> {
        let plugins = self
            .plugins
            .iter()
            .map(Plugin::fork)
            .collect::<Result<_, _>>()?;
        Ok(Self::new(plugins))
    }

    /// One verdict per input, in input order. The records' new data is appended
    /// to `out`, where each `Verdict::Ok` says: the caller passes the buffer the
    /// records go to, so the last plugin's answers are copied straight into it.
    pub fn run(&mut self, inputs: &[Input], out: &mut Vec<u8>) -> Vec<Verdict> {
        let mut verdicts: Vec<Verdict> = inputs
            .iter()
            .map(|_| Verdict::Ok {
                data: 0..0,
                partition_keys: BTreeMap::new(),
            })
            .collect();
        let mut flowing: Vec<InFlight> = inputs
            .iter()
            .enumerate()
            .map(|(index, input)| InFlight {
                index,
                data: 0..input.data.len(),
            })
            .collect();
        let [mut previous, mut current] = std::mem::take(&mut self.between);
        let count = self.plugins.len();
        for (position, plugin) in self.plugins.iter_mut().enumerate() {
            let stage = if position == 0 {
                Stage::Inputs(inputs)
            } else {
                Stage::Answers(&previous)
            };
            let last = position + 1 == count;
            current.clear();
            let written = if last { &mut *out } else { &mut current };
            let mut next = Vec::with_capacity(flowing.len());
            for chunk in chunks(flowing, plugin.config.batch_records, plugin.batch_bytes()) {
                let outcomes = call_checked(plugin, inputs, &stage, &chunk, written);
                for (record, outcome) in chunk.into_iter().zip(outcomes) {
                    match outcome {
                        Outcome::Ok {
                            data,
                            partition_keys,
                        } => {
                            if let Verdict::Ok {
                                partition_keys: keys,
                                ..
                            } = &mut verdicts[record.index]
                            {
                                keys.extend(partition_keys);
                            }
                            next.push(InFlight {
                                index: record.index,
                                data,
                            });
                        }
                        Outcome::Dropped => verdicts[record.index] = Verdict::Dropped,
                        Outcome::Failed(failure) => {
                            verdicts[record.index] = Verdict::Failed(failure)
                        }
                    }
                }
            }
            flowing = next;
            if !last {
                std::mem::swap(&mut previous, &mut current);
            }
        }
        if count == 0 {
            // No plugin: the records go on as they came.
            for record in &mut flowing {
                let start = out.len();
                out.extend_from_slice(&inputs[record.index].data);
                record.data = start..out.len();
            }
        }
        for record in flowing {
            if let Verdict::Ok { data, .. } = &mut verdicts[record.index] {
                *data = record.data;
            }
        }
        self.between = [previous, current];
        verdicts
    }
}

impl Plugin {
    fn batch_bytes(&self) -> usize {
        usize::try_from(self.config.batch_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
    }
}

/// Splits records into calls of at most `max_records` records and `max_bytes`
/// bytes (a larger record goes alone).
fn chunks(records: Vec<InFlight>, max_records: usize, max_bytes: usize) -> Vec<Vec<InFlight>> {
    let mut out: Vec<Vec<InFlight>> = Vec::new();
    let mut bytes = 0;
    for record in records {
        let full = out.last().is_none_or(|last| {
            last.len() >= max_records.max(1)
                || (bytes + record.data.len() > max_bytes && !last.is_empty())
        });
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += record.data.len();
        if let Some(last) = out.last_mut() {
            last.push(record);
        }
    }
    out
}

/// What one plugin made of one record.
enum Outcome {
    Ok {
        /// Where the plugin's answer for the record was written.
        data: Range<usize>,
        partition_keys: Vec<(String, String)>,
    },
    Dropped,
    Failed(Failure),
}

/// Calls the plugin on one chunk, retrying failed calls: one outcome per record,
/// in chunk order. Answers are appended to `written`; those of calls that fail,
/// or break the contract, are taken away again.
fn call_checked(
    plugin: &mut Plugin,
    inputs: &[Input],
    stage: &Stage<'_>,
    chunk: &[InFlight],
    written: &mut Vec<u8>,
) -> Vec<Outcome> {
    let batch: Vec<RecordIn<'_>> = chunk
        .iter()
        .map(|r| {
            let input = &inputs[r.index];
            RecordIn::new(
                input.id,
                stage.data(r),
                input.arrival_ms,
                input.kinesis.as_ref(),
            )
        })
        .collect();
    let attempts = plugin.config.retries.saturating_add(1);
    let mut last_error = String::new();
    for attempt in 1..=attempts {
        let written_before = written.len();
        match plugin.call(&batch, written) {
            Ok(answer) => {
                let name = plugin.name().to_string();
                let failure = |code, message| Failure {
                    code,
                    message,
                    attempts: attempt,
                    ending_ms: now_ms(),
                    plugin: Some(name.clone()),
                };
                return match pair(&batch, answer) {
                    Ok(replies) => {
                        let mut emptied = None;
                        let outcomes = replies
                            .into_iter()
                            .zip(&batch)
                            .map(|(reply, record)| match reply {
                                // Not delivered empty: see `EMPTIED`.
                                Reply::Ok { data, .. }
                                    if data.is_empty() && !record.data.is_empty() =>
                                {
                                    emptied.get_or_insert(record.record_id);
                                    Outcome::Failed(failure(
                                        PROCESSING_FAILED_STATUS,
                                        EMPTIED.to_string(),
                                    ))
                                }
                                Reply::Ok {
                                    data,
                                    partition_keys,
                                } => Outcome::Ok {
                                    data,
                                    partition_keys,
                                },
                                Reply::Dropped => Outcome::Dropped,
                                Reply::Failed(reason) => {
                                    Outcome::Failed(failure(PROCESSING_FAILED_STATUS, reason))
                                }
                            })
                            .collect();
                        if let Some(record_id) = emptied {
                            plugin.tell_emptied(record_id, EMPTIED);
                        }
                        outcomes
                    }
                    Err((code, message)) => {
                        written.truncate(written_before);
                        tracing::warn!(plugin = %name, code, %message, records = batch.len(), "plugin answer breaks the contract, the batch goes to the error output");
                        let failure = failure(code, message);
                        batch
                            .iter()
                            .map(|_| Outcome::Failed(failure.clone()))
                            .collect()
                    }
                };
            }
            Err(e) => {
                tracing::warn!(plugin = plugin.name(), attempt, attempts, records = batch.len(), error = %e.0, "plugin call failed");
                last_error = e.0;
            }
        }
    }
    let failure = Failure {
        code: FUNCTION_ERROR,
        message: format!("The plugin failed {attempts} time(s); last: {last_error}"),
        attempts,
        ending_ms: now_ms(),
        plugin: Some(plugin.name().to_string()),
    };
    batch
        .iter()
        .map(|_| Outcome::Failed(failure.clone()))
        .collect()
}

/// Matches a plugin's answer to its batch: the replies in batch order. Any id
/// missing, repeated or unknown fails the whole batch, as Firehose does with a
/// Lambda's response (not retried: the call itself succeeded).
fn pair(batch: &[RecordIn<'_>], answer: Answer) -> Result<Vec<Reply>, (&'static str, String)> {
    // Most plugins answer in the batch's order: then no lookup is needed.
    let in_order = answer.replies.len() == batch.len()
        && batch
            .iter()
            .enumerate()
            .all(|(i, r)| answer.id(i) == r.record_id);
    if in_order {
        return Ok(answer.replies.into_iter().map(|(_, reply)| reply).collect());
    }
    let position: HashMap<u64, usize> = batch
        .iter()
        .enumerate()
        .map(|(i, r)| (r.record_id, i))
        .collect();
    let mut slots: Vec<Option<usize>> = vec![None; batch.len()];
    for i in 0..answer.replies.len() {
        match position.get(&answer.id(i)) {
            Some(&at) if slots[at].is_none() => slots[at] = Some(i),
            Some(_) => {
                return Err((
                    DUPLICATED_RECORD_ID,
                    format!("record id {} was returned more than once", answer.id(i)),
                ));
            }
            None => {
                return Err((
                    MISSING_RECORD_ID,
                    format!(
                        "the plugin returned record id {}, which was not in the batch",
                        answer.id(i)
                    ),
                ));
            }
        }
    }
    let missing = slots.iter().filter(|s| s.is_none()).count();
    if missing > 0 {
        return Err((
            MISSING_RECORD_ID,
            format!(
                "One or more record IDs were not returned ({missing} of {})",
                batch.len()
            ),
        ));
    }
    let mut replies: Vec<Option<Reply>> = answer
        .replies
        .into_iter()
        .map(|(_, reply)| Some(reply))
        .collect();
    Ok(slots
        .into_iter()
        .flatten()
        .filter_map(|i| replies[i].take())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(sizes: &[usize]) -> Vec<InFlight> {
        sizes
            .iter()
            .enumerate()
            .map(|(index, &n)| InFlight { index, data: 0..n })
            .collect()
    }

    fn shape(chunks: &[Vec<InFlight>]) -> Vec<Vec<usize>> {
        chunks
            .iter()
            .map(|c| c.iter().map(|r| r.index).collect())
            .collect()
    }

    #[test]
    fn chunks_respect_record_and_byte_limits() {
        assert_eq!(
            shape(&chunks(flight(&[1, 1, 1, 1, 1]), 2, 100)),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
        assert_eq!(
            shape(&chunks(flight(&[40, 40, 40, 200, 10]), 10, 100)),
            vec![vec![0, 1], vec![2], vec![3], vec![4]]
        );
        assert!(chunks(Vec::new(), 10, 100).is_empty());
    }

    fn batch(ids: &[u64]) -> Vec<RecordIn<'static>> {
        ids.iter()
            .map(|&id| RecordIn::new(id, b"", 0, None))
            .collect()
    }

    fn ok(data: Range<usize>) -> Reply {
        Reply::Ok {
            data,
            partition_keys: vec![],
        }
    }

    #[test]
    fn replies_are_paired_by_id_in_any_order() {
        let batch = batch(&[1, 2, 3]);
        let shuffled = Answer::from_replies(vec![
            (3, Reply::Failed("bad".into())),
            (1, ok(0..1)),
            (2, Reply::Dropped),
        ]);
        assert_eq!(
            pair(&batch, shuffled),
            Ok(vec![ok(0..1), Reply::Dropped, Reply::Failed("bad".into())])
        );
        let in_order = Answer::from_replies(vec![
            (1, Reply::Dropped),
            (2, ok(1..2)),
            (3, Reply::Dropped),
        ]);
        assert_eq!(
            pair(&batch, in_order),
            Ok(vec![Reply::Dropped, ok(1..2), Reply::Dropped])
        );
    }

    #[test]
    fn a_missing_duplicated_or_unknown_id_fails_the_whole_batch() {
        let batch = batch(&[1, 2]);
        let code = |replies: Vec<(u64, Reply)>| {
            pair(&batch, Answer::from_replies(replies)).map_err(|e| e.0)
        };
        assert_eq!(code(vec![(1, Reply::Dropped)]), Err(MISSING_RECORD_ID));
        assert_eq!(
            code(vec![
                (1, Reply::Dropped),
                (1, Reply::Dropped),
                (2, Reply::Dropped)
            ]),
            Err(DUPLICATED_RECORD_ID)
        );
        assert_eq!(
            code(vec![(1, Reply::Dropped), (7, Reply::Dropped)]),
            Err(MISSING_RECORD_ID)
        );
    }
}
