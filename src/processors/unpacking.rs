//! The processors that turn one record into several, or refuse it:
//! decompression, CloudWatch Logs message extraction and de-aggregation. They
//! run as records enter the stream, before the spool, as KPL de-aggregation
//! does: each part gets a spool number of its own, so it is accounted for,
//! partitioned, retried and rebuilt after a crash like any record, and one
//! record's parts can go to different partitions. A refused record is spooled
//! as received, with its refusal, and goes to the error output.
//!
//! Decompression is the only step that grows data, and the stage bounds what
//! one record may become: past the cap (`server.max_decoded_body_mb`) the
//! record is refused, so a few kilobytes that inflate to gigabytes cost at most
//! the cap, once.

use bytes::Bytes;

use super::{CloudWatchLogs, Deaggregation, Decompression};
use crate::config::{ProcessorConfig, StreamConfig};
use crate::output::PROCESSING_FAILED;
use crate::record::{Record, Refusal};

/// What one part costs in memory beside its bytes, counted against the cap: a
/// record of millions of tiny parts is as large as its bytes are not.
pub const PART_OVERHEAD: usize = std::mem::size_of::<Record>();

/// The error code of a record whose parts together pass the cap.
pub const TOO_LARGE: &str = "Processing.UnpackedTooLarge";

/// One unpacking step.
pub trait Unpacker: Send + Sync {
    /// Firehose's processor type, for logs.
    fn firehose_type(&self) -> &'static str;

    /// Appends what `data` becomes to `out` (nothing: it is dropped), or says why
    /// the record is refused. Never appends more than `cap` bytes.
    fn unpack(&self, data: Bytes, cap: usize, out: &mut Vec<Bytes>) -> Result<(), Refused>;
}

/// Why a step refused a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub output_type: &'static str,
    pub code: &'static str,
    pub message: String,
}

/// A stream's unpacking steps, in Firehose's order.
pub struct Unpacking {
    steps: Vec<Box<dyn Unpacker>>,
    cap: usize,
}

impl Unpacking {
    /// The stream's unpacking stage; `None` when it has no unpacking processor.
    /// `cap` bounds what one record may become, in bytes.
    pub fn new(stream: &StreamConfig, cap: usize) -> Option<Self> {
        let mut processors: Vec<&ProcessorConfig> = stream.processors.iter().collect();
        processors.sort_by_key(|p| p.stage());
        let steps: Vec<Box<dyn Unpacker>> = processors
            .into_iter()
            .filter_map(|p| -> Option<Box<dyn Unpacker>> {
                match p {
                    ProcessorConfig::Decompression(_) => Some(Box::new(Decompression)),
                    ProcessorConfig::CloudwatchLogs(_) => Some(Box::new(CloudWatchLogs)),
                    ProcessorConfig::Deaggregation(d) => Some(Box::new(Deaggregation::new(d))),
                    _ => None,
                }
            })
            .collect();
        (!steps.is_empty()).then_some(Self { steps, cap })
    }

    /// The most bytes (parts and their overhead) one record may become.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Appends what `record` becomes to `out`: its parts, each with the record's
    /// arrival time and Kinesis metadata, or the record as received with its
    /// refusal. Returns what was appended, counted as the cap counts it.
    pub fn unpack(&self, record: Record, out: &mut Vec<Record>) -> usize {
        match self.parts(&record.data) {
            Ok(parts) => {
                let mut size = 0;
                for data in parts {
                    size += data.len() + PART_OVERHEAD;
                    out.push(Record {
                        data,
                        arrival_ms: record.arrival_ms,
                        kinesis: record.kinesis.clone(),
                        refused: None,
                    });
                }
                size
            }
            Err(refused) => {
                // A refused record holds its refusal's texts too.
                let size = record.data.len()
                    + PART_OVERHEAD
                    + std::mem::size_of::<Refusal>()
                    + refused.output_type.len()
                    + refused.code.len()
                    + refused.message.len();
                out.push(Record {
                    refused: Some(Box::new(Refusal {
                        output_type: refused.output_type.to_string(),
                        code: refused.code.to_string(),
                        message: refused.message,
                    })),
                    ..record
                });
                size
            }
        }
    }

    /// The parts of one record, after every step.
    fn parts(&self, data: &Bytes) -> Result<Vec<Bytes>, Refused> {
        let mut parts = vec![data.clone()];
        for step in &self.steps {
            let mut next = Vec::new();
            for part in parts {
                step.unpack(part, self.cap, &mut next)?;
            }
            let size: usize = next.iter().map(|p| p.len() + PART_OVERHEAD).sum();
            if size > self.cap {
                return Err(Refused {
                    output_type: PROCESSING_FAILED,
                    code: TOO_LARGE,
                    message: format!(
                        "{} made {} records of {size} bytes in memory from this record, over the cap of {} bytes (server.max_decoded_body_mb)",
                        step.firehose_type(),
                        next.len(),
                        self.cap
                    ),
                });
            }
            parts = next;
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;
    use std::io::Write as _;

    fn stream(processors: &str) -> StreamConfig {
        let text = format!(
            "[[delivery_streams]]\nname = \"s\"\nprocessors = {processors}\ndestination = {{ type = \"local\", path = \"/tmp/x\" }}\n"
        );
        let file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        std::fs::write(file.path(), text).unwrap();
        load(Some(file.path())).unwrap().delivery_streams.remove(0)
    }

    pub fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn unpack(unpacking: &Unpacking, data: Vec<u8>) -> Vec<Record> {
        let mut out = Vec::new();
        let mut record = Record::new(data, 42);
        record.kinesis = Some(crate::record::KinesisMeta {
            shard_id: "shardId-000000000000".into(),
            partition_key: "p".into(),
            sequence_number: "7".into(),
            sub_sequence_number: 0,
            arrival_ms: 41,
        });
        unpacking.unpack(record, &mut out);
        out
    }

    const CWL: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"{\"a\":1}"},{"id":"2","timestamp":2,"message":"second line"}]}"#;

    #[test]
    fn the_full_chain_runs_in_firehose_order_whatever_the_listing() {
        // Listed backwards: de-aggregation, CloudWatch Logs, decompression.
        let unpacking = Unpacking::new(
            &stream(
                r#"[{ type = "deaggregation", sub_record_type = "delimited", delimiter = " " }, { type = "cloudwatch_logs", data_message_extraction = true }, { type = "decompression" }]"#,
            ),
            1 << 20,
        )
        .unwrap();
        let out = unpack(&unpacking, gzip(CWL.as_bytes()));
        let data: Vec<&[u8]> = out.iter().map(|r| &r.data[..]).collect();
        assert_eq!(data, [&b"{\"a\":1}"[..], b"second", b"line"]);
        for r in &out {
            assert_eq!(r.arrival_ms, 42);
            assert_eq!(r.kinesis.as_ref().unwrap().sequence_number, "7");
            assert!(r.refused.is_none());
        }
    }

    #[test]
    fn a_refused_record_keeps_its_raw_data_and_says_why() {
        let unpacking = Unpacking::new(
            &stream(r#"[{ type = "decompression" }, { type = "cloudwatch_logs", data_message_extraction = true }]"#),
            1 << 20,
        )
        .unwrap();
        let out = unpack(&unpacking, b"plain text".to_vec());
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[..], b"plain text");
        let refusal = out[0].refused.as_deref().unwrap();
        assert_eq!(refusal.output_type, "decompression-failed");
        assert_eq!(refusal.code, super::super::decompression::FAILED);

        let out = unpack(&unpacking, gzip(b"{\"not\":\"cloudwatch\"}"));
        let refusal = out[0].refused.as_deref().unwrap();
        assert_eq!(refusal.output_type, "processing-failed");
        assert_eq!(refusal.code, super::super::cloudwatch_logs::INVALID_SOURCE);
        assert_eq!(
            out[0].kinesis.as_ref().unwrap().shard_id,
            "shardId-000000000000"
        );
    }

    /// A gzip bomb costs at most the cap: the record is refused with its raw
    /// (compressed) data.
    #[test]
    fn a_record_that_inflates_past_the_cap_is_refused() {
        let unpacking =
            Unpacking::new(&stream(r#"[{ type = "decompression" }]"#), 1 << 20).unwrap();
        let bomb = gzip(&vec![b'a'; 64 << 20]);
        assert!(bomb.len() < 100_000);
        let out = unpack(&unpacking, bomb.clone());
        assert_eq!(out[0].data, bomb);
        let refusal = out[0].refused.as_deref().unwrap();
        assert!(refusal.message.contains("1048576"), "{}", refusal.message);
    }

    /// Millions of tiny parts cost memory their bytes do not show: they count
    /// against the cap too.
    #[test]
    fn parts_too_many_for_the_cap_refuse_the_record() {
        let unpacking = Unpacking::new(
            &stream(r#"[{ type = "decompression" }, { type = "cloudwatch_logs", data_message_extraction = true }]"#),
            4 << 20,
        )
        .unwrap();
        // 2 MB of JSON inflates within the cap; 50,000 records of it do not fit.
        let events: Vec<String> = (0..50_000)
            .map(|i| format!(r#"{{"id":"{i}","timestamp":1,"message":""}}"#))
            .collect();
        let payload = format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":[],"logEvents":[{}]}}"#,
            events.join(",")
        );
        assert!(payload.len() < 4 << 20 && 50_000 * PART_OVERHEAD > 4 << 20);
        let out = unpack(&unpacking, gzip(payload.as_bytes()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].refused.as_deref().unwrap().code, TOO_LARGE);
    }
}
