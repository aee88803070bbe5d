//! The transform stage between the spool and the buffers: the stream's plugins run
//! on a blocking thread (a call is CPU work, bounded by its deadline), and each
//! record's verdict becomes where it goes: a partition's buffer, nowhere (dropped),
//! or the error output as a `processing-failed` line.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::error_output::ErrorRecord;
use crate::transform::{Chain, Failure, Input, Verdict};

/// Firehose's error code for a record whose prefix cannot be evaluated.
pub const PARTITION_KEY_MISSING: &str = "DynamicPartitioning.MetadataExtractionFailed";

/// Where a transformed record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// To the buffer of its partition: the keys the prefix uses, with their values.
    Data {
        partition: BTreeMap<String, String>,
        data: bytes::Bytes,
    },
    /// Nowhere: the plugin dropped it.
    Dropped,
    /// To the error output, as this line.
    Failed(Vec<u8>),
}

/// A stream's plugins and the partition keys its prefix uses.
pub struct Transforming {
    stream: String,
    chain: Arc<Mutex<Chain>>,
    partition_names: Vec<String>,
}

impl Transforming {
    pub fn new(stream: &str, chain: Chain, partition_names: Vec<String>) -> Self {
        Self {
            stream: stream.to_string(),
            chain: Arc::new(Mutex::new(chain)),
            partition_names,
        }
    }

    /// Runs the plugins on `inputs`; one route per input, in order.
    pub async fn run(&self, inputs: Vec<Input>) -> (Vec<Input>, Vec<Routed>) {
        let chain = self.chain.clone();
        let names = self.partition_names.clone();
        let count = inputs.len();
        let started = std::time::Instant::now();
        let ran = tokio::task::spawn_blocking(move || {
            // A panic while the lock was held leaves the chain usable: every call
            // sets up its own deadline and instance.
            let mut chain = chain.lock().unwrap_or_else(|p| p.into_inner());
            let verdicts = chain.run(&inputs);
            let routes = inputs
                .iter()
                .zip(verdicts)
                .map(|(input, verdict)| route(input, verdict, &names))
                .collect::<Vec<_>>();
            (inputs, routes)
        })
        .await;
        match ran {
            Ok((inputs, routes)) => {
                tracing::debug!(stream = %self.stream, records = count, took_us = started.elapsed().as_micros() as u64, "transformed a batch");
                let count = |pick: fn(&Routed) -> bool| routes.iter().filter(|r| pick(r)).count();
                crate::telemetry::processed(
                    &self.stream,
                    count(|r| matches!(r, Routed::Data { .. })),
                    count(|r| matches!(r, Routed::Dropped)),
                    count(|r| matches!(r, Routed::Failed(_))),
                    started.elapsed(),
                );
                (inputs, routes)
            }
            Err(e) => {
                // The inputs went with the task; this cannot happen short of a bug,
                // and the records stay in the spool for the next start.
                tracing::error!(error = %e, records = count, "the transform task failed");
                (Vec::new(), Vec::new())
            }
        }
    }
}

/// Where one verdict sends its record.
pub fn route(input: &Input, verdict: Verdict, names: &[String]) -> Routed {
    match verdict {
        Verdict::Ok {
            data,
            partition_keys,
        } => {
            let mut partition = BTreeMap::new();
            for name in names {
                match partition_keys.get(name) {
                    Some(value) => {
                        partition.insert(name.clone(), value.clone());
                    }
                    None => {
                        let failure = Failure::by_host(
                            PARTITION_KEY_MISSING,
                            format!(
                                "the prefix uses partition key `{name}`, which the plugins did not return for this record"
                            ),
                        );
                        return Routed::Failed(error_line(input, &failure));
                    }
                }
            }
            Routed::Data { partition, data }
        }
        Verdict::Dropped => Routed::Dropped,
        Verdict::Failed(failure) => Routed::Failed(error_line(input, &failure)),
    }
}

/// The `processing-failed` error record of a record, with its data as received.
pub fn error_line(input: &Input, failure: &Failure) -> Vec<u8> {
    ErrorRecord {
        attempts_made: failure.attempts,
        arrival_timestamp: input.arrival_ms,
        error_code: failure.code,
        error_message: &failure.message,
        attempt_ending_timestamp: failure.ending_ms,
        raw_data: &input.data,
        lambda_arn: failure.plugin.as_deref(),
    }
    .to_line()
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

    #[test]
    fn the_partition_holds_only_the_keys_the_prefix_uses() {
        let keys = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]);
        let routed = route(
            &input(),
            Verdict::Ok {
                data: bytes::Bytes::from_static(b"new"),
                partition_keys: keys,
            },
            &["b".to_string()],
        );
        assert_eq!(
            routed,
            Routed::Data {
                partition: BTreeMap::from([("b".to_string(), "2".to_string())]),
                data: bytes::Bytes::from_static(b"new")
            }
        );
    }

    #[test]
    fn a_missing_partition_key_sends_the_raw_record_to_the_error_output() {
        let routed = route(
            &input(),
            Verdict::Ok {
                data: bytes::Bytes::from_static(b"new"),
                partition_keys: BTreeMap::new(),
            },
            &["customer".to_string()],
        );
        let Routed::Failed(line) = routed else {
            panic!("{routed:?}")
        };
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["errorCode"], PARTITION_KEY_MISSING);
        assert_eq!(v["rawData"], "cmF3");
        assert!(v["errorMessage"].as_str().unwrap().contains("`customer`"));
    }
}
