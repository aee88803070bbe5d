//! Between the spool and the buffers: the stream's processors run on the runner's
//! thread, which tokio is told blocks (a plugin call is CPU work, bounded by its
//! deadline), and each record's verdict becomes where it goes: a partition's
//! buffer, nowhere (dropped), or the error output as a `processing-failed` line.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use crate::error_output::processing_failed_line;
use crate::keys::PartitionCheck;
use crate::processors::{METADATA_EXTRACTION_FAILED, Processing};
use crate::transform::{Failure, Input, Verdict};

/// Where a transformed record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// To the buffer of its partition (the keys the prefix uses, with their
    /// values); its data is at `data` in the buffer the chain wrote to.
    Data {
        partition: BTreeMap<String, String>,
        data: Range<usize>,
    },
    /// Nowhere: the plugin dropped it.
    Dropped,
    /// To the error output, as this line.
    Failed(Vec<u8>),
}

/// A stream's processors and the partition keys its prefix uses.
pub struct Routing {
    stream: String,
    processing: Processing,
    partitions: PartitionCheck,
    /// Partitions whose values passed the check (which renders the whole
    /// prefix): a stream has few, and most records go to one seen before.
    passed: Passed,
    /// For an Iceberg table: records whose routing metadata asks for an
    /// `operation` other than `insert` go to the error output.
    inserts_only: bool,
    /// Partition keys a record may lack, and the value it then takes.
    defaults: BTreeMap<String, String>,
}

/// The error code of a record whose `operation` the destination cannot apply.
pub const UNSUPPORTED_OPERATION: &str = "Iceberg.UnsupportedOperation";

/// The names Firehose's Iceberg routing metadata gives the operation: a
/// `metadata_extraction` key or a plugin's partition key.
const OPERATION_KEYS: [&str; 2] = ["partitionKeyFromQuery:operation", "operation"];

/// Partitions known to make writable keys, up to [`Passed::MAX`] of them.
#[derive(Default)]
pub struct Passed(HashSet<BTreeMap<String, String>>);

impl Passed {
    const MAX: usize = 4096;
}

impl Routing {
    pub fn new(stream: &str, processing: Processing, partitions: PartitionCheck) -> Self {
        Self {
            stream: stream.to_string(),
            processing,
            partitions,
            passed: Passed::default(),
            inserts_only: false,
            defaults: BTreeMap::new(),
        }
    }

    /// Values of partition keys for records that lack them (an Iceberg
    /// table's configured names, for records without routing metadata).
    pub fn with_defaults(mut self, defaults: BTreeMap<String, String>) -> Self {
        self.defaults = defaults;
        self
    }

    /// Refuses records whose `operation` is not `insert` (an Iceberg table:
    /// the Iceberg crate commits appends only, and an update or a delete
    /// appended as a row would corrupt the table).
    pub fn inserts_only(mut self) -> Self {
        self.inserts_only = true;
        self
    }

    /// Whether records go to buffers by partition (else all to the one buffer).
    pub fn partitions(&self) -> bool {
        self.partitions.partitions()
    }

    /// Runs the processors on `inputs`, appending the records' new data to `out`;
    /// one route per input, in order.
    pub fn run(&mut self, inputs: &[Input], out: &mut Vec<u8>) -> Vec<Routed> {
        let started = std::time::Instant::now();
        let chain = &mut self.processing;
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        // On the daemon's runtime the other tasks move to another thread meanwhile.
        let verdicts = if multi_thread {
            tokio::task::block_in_place(|| chain.run(inputs, out))
        } else {
            chain.run(inputs, out)
        };
        let routes: Vec<Routed> = inputs
            .iter()
            .zip(verdicts)
            .map(
                |(input, verdict)| match self.inserts_only.then(|| refused_operation(&verdict)) {
                    Some(Some(failure)) => Routed::Failed(processing_failed_line(input, &failure)),
                    _ => route(
                        input,
                        verdict,
                        &self.partitions,
                        &self.defaults,
                        &mut self.passed,
                    ),
                },
            )
            .collect();
        tracing::debug!(stream = %self.stream, records = inputs.len(), took_us = started.elapsed().as_micros() as u64, "transformed a batch");
        let count = |pick: fn(&Routed) -> bool| routes.iter().filter(|r| pick(r)).count();
        crate::telemetry::processed(
            &self.stream,
            count(|r| matches!(r, Routed::Data { .. })),
            count(|r| matches!(r, Routed::Dropped)),
            count(|r| matches!(r, Routed::Failed(_))),
            started.elapsed(),
        );
        routes
    }
}

/// Where a batch's transformed records were written.
pub enum Landed {
    /// Into the destination's buffer, in order, ready to be accounted for.
    InPlace,
    /// Into `bytes`, whose first byte is at offset `base` of what the chain wrote.
    Apart { bytes: Vec<u8>, base: usize },
}

/// Whether the records routed to data were written one after the other from
/// `start`, in input order (as plugins answering in order write them).
pub fn written_in_order(routes: &[Routed], start: usize) -> bool {
    let mut end = start;
    routes.iter().all(|route| match route {
        Routed::Data { data, .. } => {
            let next = data.start == end;
            end = data.end;
            next
        }
        Routed::Dropped | Routed::Failed(_) => true,
    })
}

/// Where one verdict sends its record.
pub fn route(
    input: &Input,
    verdict: Verdict,
    partitions: &PartitionCheck,
    defaults: &BTreeMap<String, String>,
    passed: &mut Passed,
) -> Routed {
    match verdict {
        Verdict::Ok {
            data,
            partition_keys,
        } => {
            // Commonly the keys are exactly those the prefix uses: no copies then.
            let exact = partition_keys.len() == partitions.names().len()
                && partitions
                    .names()
                    .iter()
                    .all(|n| partition_keys.contains_key(n));
            let partition = if exact {
                partition_keys
            } else {
                let mut partition = BTreeMap::new();
                for name in partitions.names() {
                    let Some(value) = partition_keys.get(name).or_else(|| defaults.get(name))
                    else {
                        let message = match name.strip_prefix("partitionKeyFromQuery:") {
                            Some(key) => format!(
                                "the prefix uses partition key `{key}`, which the metadata_extraction query did not yield for this record"
                            ),
                            None => format!(
                                "the prefix uses partition key `{name}`, which the plugins did not return for this record"
                            ),
                        };
                        let failure = Failure::by_host(METADATA_EXTRACTION_FAILED, message);
                        return Routed::Failed(processing_failed_line(input, &failure));
                    };
                    partition.insert(name.clone(), value.clone());
                }
                partition
            };
            if !passed.0.contains(&partition) {
                if let Err(e) = partitions.check(&partition) {
                    let failure = Failure::by_host(
                        METADATA_EXTRACTION_FAILED,
                        format!("partition keys {partition:?}: {e}"),
                    );
                    return Routed::Failed(processing_failed_line(input, &failure));
                }
                if passed.0.len() >= Passed::MAX {
                    passed.0.clear();
                }
                passed.0.insert(partition.clone());
            }
            Routed::Data { partition, data }
        }
        Verdict::Dropped => Routed::Dropped,
        Verdict::Failed(failure) => Routed::Failed(processing_failed_line(input, &failure)),
    }
}

/// Why a record's `operation` (Firehose's Iceberg routing metadata) cannot be
/// applied: only `insert` (or none) can.
fn refused_operation(verdict: &Verdict) -> Option<Failure> {
    let Verdict::Ok { partition_keys, .. } = verdict else {
        return None;
    };
    let operation = OPERATION_KEYS.iter().find_map(|k| partition_keys.get(*k))?;
    if operation.eq_ignore_ascii_case("insert") {
        return None;
    }
    Some(Failure::by_host(
        UNSUPPORTED_OPERATION,
        format!(
            "operation `{operation}`: Sluice appends rows to Iceberg tables (insert) only; update and delete need equality delete files, which the Iceberg crate it uses cannot commit yet"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        Input {
            id: 1,
            data: bytes::Bytes::from_static(b"raw"),
            arrival_ms: 5,
            kinesis: None,
        }
    }

    fn check(prefix: &str) -> PartitionCheck {
        crate::keys::KeyLayout::new(prefix, "errors/!{firehose:error-output-type}/")
            .unwrap()
            .partition_check(60)
    }

    fn routed_with(prefix: &str, keys: &[(&str, &str)]) -> Routed {
        let partition_keys = keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        route(
            &input(),
            Verdict::Ok {
                data: 3..6,
                partition_keys,
            },
            &check(prefix),
            &BTreeMap::new(),
            &mut Passed::default(),
        )
    }

    #[test]
    fn the_partition_holds_only_the_keys_the_prefix_uses() {
        let keys = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]);
        let routed = route(
            &input(),
            Verdict::Ok {
                data: 3..6,
                partition_keys: keys,
            },
            &check("b=!{partitionKeyFromLambda:b}/"),
            &BTreeMap::new(),
            &mut Passed::default(),
        );
        assert_eq!(
            routed,
            Routed::Data {
                partition: BTreeMap::from([("b".to_string(), "2".to_string())]),
                data: 3..6
            }
        );
    }

    #[test]
    fn only_inserts_reach_an_iceberg_table() {
        let verdict = |op: Option<&str>| Verdict::Ok {
            data: 3..6,
            partition_keys: op
                .map(|op| {
                    BTreeMap::from([(
                        "partitionKeyFromQuery:operation".to_string(),
                        op.to_string(),
                    )])
                })
                .unwrap_or_default(),
        };
        assert!(refused_operation(&verdict(None)).is_none());
        assert!(refused_operation(&verdict(Some("insert"))).is_none());
        assert!(refused_operation(&verdict(Some("INSERT"))).is_none());
        for op in ["update", "delete", "upsert"] {
            let failure = refused_operation(&verdict(Some(op))).expect(op);
            assert_eq!(failure.code, UNSUPPORTED_OPERATION);
            assert!(failure.message.contains(op), "{}", failure.message);
        }
        let lambda = Verdict::Ok {
            data: 0..1,
            partition_keys: BTreeMap::from([("operation".to_string(), "delete".to_string())]),
        };
        assert!(refused_operation(&lambda).is_some());
    }

    #[test]
    fn records_written_one_after_the_other_from_the_start_are_in_order() {
        let data = |r: Range<usize>| Routed::Data {
            partition: BTreeMap::new(),
            data: r,
        };
        let in_order = [data(10..12), Routed::Dropped, data(12..15)];
        assert!(written_in_order(&in_order, 10));
        assert!(!written_in_order(&in_order, 0), "not from the start");
        assert!(!written_in_order(&[data(12..15), data(10..12)], 10));
        assert!(!written_in_order(&[data(10..12), data(13..15)], 10));
        assert!(written_in_order(&[Routed::Failed(Vec::new())], 3));
    }

    #[test]
    fn a_missing_partition_key_sends_the_raw_record_to_the_error_output() {
        let routed = routed_with("c=!{partitionKeyFromLambda:customer}/", &[]);
        let Routed::Failed(line) = routed else {
            panic!("{routed:?}")
        };
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["errorCode"], METADATA_EXTRACTION_FAILED);
        assert_eq!(v["rawData"], "cmF3");
        assert!(v["errorMessage"].as_str().unwrap().contains("`customer`"));
    }

    /// Regression (seams issue, case 3): values that make a key no store can take
    /// go to the error output at once, instead of being retried for a day or
    /// written with no prefix.
    #[test]
    fn partition_values_that_make_unwritable_keys_go_to_the_error_output() {
        let prefix = "!{partitionKeyFromLambda:a}/!{partitionKeyFromLambda:b}/";
        let long = "x".repeat(300);
        let huge = "y/".repeat(260);
        for (a, b, why) in [
            ("", "1", "starts with `/`"),
            ("1", "", "empty path segment"),
            (".", "1", "`.` path segment"),
            ("1", "..", "`..` path segment"),
            ("1", "x/../y", "`..` path segment"),
            ("1", "x\ny", ""),
            ("1", "tab\there", "control character"),
            ("1", &long, "over the 255"),
            ("1", &huge, "over Firehose's limit of 512"),
        ] {
            let routed = routed_with(prefix, &[("a", a), ("b", b)]);
            let Routed::Failed(line) = routed else {
                panic!("{a:?} {b:?}: {routed:?}")
            };
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(v["errorCode"], METADATA_EXTRACTION_FAILED);
            assert_eq!(v["rawData"], "cmF3");
            let message = v["errorMessage"].as_str().unwrap();
            assert!(message.contains(why), "{a:?} {b:?}: {message}");
        }
        // In `name=value` segments, empty and dotted values are keys; so are a `/`
        // making deeper folders and odd characters.
        let named = "a=!{partitionKeyFromLambda:a}/b=!{partitionKeyFromLambda:b}/";
        for (a, b) in [("", "."), ("..", "="), ("x/y", "z"), ("ünï cödé", "%20&?*")] {
            let routed = routed_with(named, &[("a", a), ("b", b)]);
            assert!(
                matches!(routed, Routed::Data { .. }),
                "{a:?} {b:?}: {routed:?}"
            );
        }
    }
}
