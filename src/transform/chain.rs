//! A stream's processors run in order over a batch of records, with Lambda's rules:
//! each plugin call is checked against its input (every record id exactly once),
//! failed calls are retried on a fresh instance, and each record ends with one
//! verdict: transformed (with partition keys), dropped, or failed with a reason.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::bindings::{KinesisMetadata, OkRecord, Outcome, RecordIn, RecordOut};
use super::plugin::Plugin;
use crate::record::{KinesisMeta, now_ms};

/// Firehose's error codes for records a transform did not deliver (contract §4.1).
pub const PROCESSING_FAILED_STATUS: &str = "Lambda.ProcessingFailedStatus";
pub const FUNCTION_ERROR: &str = "Lambda.FunctionError";
pub const MISSING_RECORD_ID: &str = "Lambda.MissingRecordId";
pub const DUPLICATED_RECORD_ID: &str = "Lambda.DuplicatedRecordId";

/// A record going into the chain.
#[derive(Debug, Clone)]
pub struct Input {
    /// Unique within the stream (the spool sequence number): the plugin's record id.
    pub id: u64,
    pub data: Bytes,
    pub arrival_ms: i64,
    pub kinesis: Option<KinesisMeta>,
}

/// What the chain made of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok {
        data: Vec<u8>,
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
    /// The plugin that failed it.
    pub plugin: String,
}

/// The stream's plugins, in their configured order.
pub struct Chain {
    plugins: Vec<Plugin>,
}

/// A record between two plugins.
struct InFlight {
    index: usize,
    data: Vec<u8>,
}

impl Chain {
    pub fn new(plugins: Vec<Plugin>) -> Self {
        Self { plugins }
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// One verdict per input, in input order.
    pub fn run(&mut self, inputs: &[Input]) -> Vec<Verdict> {
        let mut verdicts: Vec<Verdict> = inputs
            .iter()
            .map(|_| Verdict::Ok {
                data: Vec::new(),
                partition_keys: BTreeMap::new(),
            })
            .collect();
        let mut flowing: Vec<InFlight> = inputs
            .iter()
            .enumerate()
            .map(|(index, input)| InFlight {
                index,
                data: input.data.to_vec(),
            })
            .collect();
        for plugin in &mut self.plugins {
            let mut next = Vec::with_capacity(flowing.len());
            for chunk in chunks(flowing, plugin.config.batch_records, plugin.batch_bytes()) {
                let indices: Vec<usize> = chunk.iter().map(|r| r.index).collect();
                let answers = call_checked(plugin, inputs, chunk);
                for (index, answer) in indices.into_iter().zip(answers) {
                    match answer {
                        Answer::Ok(ok) => {
                            if let Verdict::Ok { partition_keys, .. } = &mut verdicts[index] {
                                partition_keys.extend(ok.partition_keys);
                            }
                            next.push(InFlight {
                                index,
                                data: ok.data,
                            });
                        }
                        Answer::Dropped => verdicts[index] = Verdict::Dropped,
                        Answer::Failed(failure) => verdicts[index] = Verdict::Failed(failure),
                    }
                }
            }
            flowing = next;
        }
        for record in flowing {
            if let Verdict::Ok { data, .. } = &mut verdicts[record.index] {
                *data = record.data;
            }
        }
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

enum Answer {
    Ok(OkRecord),
    Dropped,
    Failed(Failure),
}

/// Calls the plugin on one chunk, retrying failed calls, and pairs its answer with
/// the chunk's records (one answer per record, in chunk order). The records' data
/// moves into the call's arguments: the answer carries the new data.
fn call_checked(plugin: &mut Plugin, inputs: &[Input], chunk: Vec<InFlight>) -> Vec<Answer> {
    let batch: Vec<RecordIn> = chunk
        .into_iter()
        .map(|r| {
            let input = &inputs[r.index];
            RecordIn {
                record_id: input.id.to_string(),
                data: r.data,
                approximate_arrival_ms: u64::try_from(input.arrival_ms).unwrap_or_default(),
                kinesis: input.kinesis.as_ref().map(|k| KinesisMetadata {
                    shard_id: k.shard_id.clone(),
                    partition_key: k.partition_key.clone(),
                    sequence_number: k.sequence_number.clone(),
                    sub_sequence_number: k.sub_sequence_number,
                    approximate_arrival_ms: u64::try_from(k.arrival_ms).unwrap_or_default(),
                }),
            }
        })
        .collect();
    let attempts = plugin.config.retries.saturating_add(1);
    let mut last_error = String::new();
    for attempt in 1..=attempts {
        match plugin.call(&batch) {
            Ok(out) => return pair(plugin.name(), &batch, out, attempt),
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
        plugin: plugin.name().to_string(),
    };
    batch
        .iter()
        .map(|_| Answer::Failed(failure.clone()))
        .collect()
}

/// Matches a plugin's answer to its batch. Any id missing, repeated or unknown fails
/// the whole batch, as Firehose does with a Lambda's response (not retried: the
/// call itself succeeded).
fn pair(plugin: &str, batch: &[RecordIn], out: Vec<RecordOut>, attempt: u32) -> Vec<Answer> {
    // Most plugins answer in the batch's order: then no lookup is needed.
    let in_order = out.len() == batch.len()
        && out
            .iter()
            .zip(batch)
            .all(|(o, i)| o.record_id == i.record_id);
    if in_order {
        let ending_ms = now_ms();
        return out
            .into_iter()
            .map(|record| answer(plugin, record.outcome, attempt, ending_ms))
            .collect();
    }
    let position: HashMap<&str, usize> = batch
        .iter()
        .enumerate()
        .map(|(i, r)| (r.record_id.as_str(), i))
        .collect();
    let mut answers: Vec<Option<Outcome>> = batch.iter().map(|_| None).collect();
    let mut problem = None;
    for record in out {
        match position.get(record.record_id.as_str()) {
            Some(&i) if answers[i].is_none() => answers[i] = Some(record.outcome),
            Some(_) => {
                problem = Some((
                    DUPLICATED_RECORD_ID,
                    format!("record id {} was returned more than once", record.record_id),
                ));
                break;
            }
            None => {
                problem = Some((
                    MISSING_RECORD_ID,
                    format!(
                        "the plugin returned record id {}, which was not in the batch",
                        record.record_id
                    ),
                ));
                break;
            }
        }
    }
    if problem.is_none() {
        let missing = answers.iter().filter(|a| a.is_none()).count();
        if missing > 0 {
            problem = Some((
                MISSING_RECORD_ID,
                format!(
                    "One or more record IDs were not returned ({missing} of {})",
                    batch.len()
                ),
            ));
        }
    }
    let ending_ms = now_ms();
    if let Some((code, message)) = problem {
        tracing::warn!(plugin, code, %message, records = batch.len(), "plugin answer breaks the contract, the batch goes to the error output");
        let failure = Failure {
            code,
            message,
            attempts: attempt,
            ending_ms,
            plugin: plugin.to_string(),
        };
        return batch
            .iter()
            .map(|_| Answer::Failed(failure.clone()))
            .collect();
    }
    answers
        .into_iter()
        .flatten()
        .map(|outcome| answer(plugin, outcome, attempt, ending_ms))
        .collect()
}

fn answer(plugin: &str, outcome: Outcome, attempt: u32, ending_ms: i64) -> Answer {
    match outcome {
        Outcome::Ok(ok) => Answer::Ok(ok),
        Outcome::Dropped => Answer::Dropped,
        Outcome::ProcessingFailed(reason) => Answer::Failed(Failure {
            code: PROCESSING_FAILED_STATUS,
            message: reason,
            attempts: attempt,
            ending_ms,
            plugin: plugin.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(sizes: &[usize]) -> Vec<InFlight> {
        sizes
            .iter()
            .enumerate()
            .map(|(index, &n)| InFlight {
                index,
                data: vec![b'x'; n],
            })
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

    fn record(id: &str) -> RecordIn {
        RecordIn {
            record_id: id.into(),
            data: Vec::new(),
            approximate_arrival_ms: 0,
            kinesis: None,
        }
    }

    fn out(id: &str, outcome: Outcome) -> RecordOut {
        RecordOut {
            record_id: id.into(),
            outcome,
        }
    }

    fn codes(answers: &[Answer]) -> Vec<&'static str> {
        answers
            .iter()
            .map(|a| match a {
                Answer::Ok(_) => "ok",
                Answer::Dropped => "dropped",
                Answer::Failed(f) => f.code,
            })
            .collect()
    }

    #[test]
    fn answers_are_paired_by_id_in_any_order() {
        let batch = [record("1"), record("2"), record("3")];
        let ok = Outcome::Ok(OkRecord {
            data: b"n".to_vec(),
            partition_keys: vec![],
        });
        let answers = pair(
            "p",
            &batch,
            vec![
                out("3", Outcome::ProcessingFailed("bad".into())),
                out("1", ok),
                out("2", Outcome::Dropped),
            ],
            1,
        );
        assert_eq!(
            codes(&answers),
            vec!["ok", "dropped", PROCESSING_FAILED_STATUS]
        );
        let Answer::Failed(f) = &answers[2] else {
            unreachable!()
        };
        assert_eq!(f.message, "bad");
    }

    #[test]
    fn a_missing_duplicated_or_unknown_id_fails_the_whole_batch() {
        let batch = [record("1"), record("2")];
        let missing = pair("p", &batch, vec![out("1", Outcome::Dropped)], 1);
        assert_eq!(codes(&missing), vec![MISSING_RECORD_ID; 2]);
        let duplicated = pair(
            "p",
            &batch,
            vec![
                out("1", Outcome::Dropped),
                out("1", Outcome::Dropped),
                out("2", Outcome::Dropped),
            ],
            1,
        );
        assert_eq!(codes(&duplicated), vec![DUPLICATED_RECORD_ID; 2]);
        let unknown = pair(
            "p",
            &batch,
            vec![out("1", Outcome::Dropped), out("7", Outcome::Dropped)],
            1,
        );
        assert_eq!(codes(&unknown), vec![MISSING_RECORD_ID; 2]);
    }
}
