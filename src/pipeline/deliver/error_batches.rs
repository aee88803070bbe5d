//! The error batches a data batch leaves: its records that ran out of retries
//! or were refused for good, as Firehose error records carrying the failure,
//! and its records that did not convert. Each goes under the error prefix of
//! the data batch's destination.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Deliverer, Delivery};
use crate::encode::parquet::ConversionError;
use crate::error_output::delivery_failed_line;
use crate::output::{Failure, Output};
use crate::pipeline::buffer::{Buffer, SealedBatch};
use crate::record::now_ms;
use crate::sinks::SinkError;
use crate::sinks::destination::Refusal;
use crate::spool::RangeSet;

/// Records a batch could not deliver within the retry duration, and why.
pub(super) struct Failed {
    pub failure: Failure,
    pub seqs: RangeSet,
    /// The data batch whose last attempt failed, if it may have landed anyway.
    pub key: Option<String>,
}

impl Deliverer {
    /// The key of an error object made of the records of the data batch
    /// `data_key`: under the error prefix of its destination table, if it has
    /// one of its own, else the stream's.
    fn error_key_for(&self, output: &Output, first_arrival_ms: i64, data_key: &str) -> String {
        let layout = self.sinks.destination.error_layout(data_key);
        self.naming
            .key(layout, output, first_arrival_ms, &BTreeMap::new())
    }

    /// The failure of refused records that get no more attempts.
    pub(super) fn give_up(
        &self,
        batch: &SealedBatch,
        key: &str,
        refusal: Refusal,
        attempts: u32,
        permanent: bool,
    ) -> Failed {
        let Refusal {
            records,
            error,
            may_have_landed,
        } = refusal;
        tracing::error!(
            stream = %self.stream, destination = %self.sinks.destination.describe(), key = %key,
            attempts, records = records.len(), code = %error.code, error = %error.message,
            permanent, "delivery failed for the whole retry duration or for good, sending the records to the error output"
        );
        Failed {
            failure: failure(&error, attempts),
            seqs: seqs_at(batch, &records),
            key: may_have_landed.then(|| key.to_string()),
        }
    }

    /// The batch of a data batch's records that did not convert. It holds the
    /// whole batch's sequence numbers, so its seal stays small however scattered
    /// the failures are; a rebuild re-converts the records to find them.
    pub(super) fn conversion_errors(
        &self,
        batch: &SealedBatch,
        failed: &[(usize, ConversionError)],
        data_key: &str,
    ) -> Delivery {
        let mut buffer = Buffer::new(usize::MAX);
        let mut failed = failed.iter().map(|(i, _)| *i).peekable();
        for (i, ((data, arrival), seq)) in batch.iter().zip(batch.seqs.iter().flatten()).enumerate()
        {
            if failed.next_if_eq(&i).is_some() {
                buffer.push(data, arrival, seq..seq + 1);
            }
        }
        let mut errors = buffer.seal().unwrap_or_else(SealedBatch::empty);
        errors.seqs = batch.seqs.clone();
        let output = Output::ConversionErrors {
            ending_ms: now_ms(),
            data_key: Some(data_key.to_string()),
        };
        Delivery {
            id: self.spool.next_batch_id(),
            key: self.error_key_for(&output, errors.first_arrival_ms(), data_key),
            batch: errors,
            output,
            needs_seal: false,
            conversion_errors_sealed: false,
            retry_spent: Duration::ZERO,
            codec: None,
        }
    }

    /// The Kinesis sequence and subsequence numbers of the records at `failures`,
    /// by spool number, read back from the spool (batches keep only the data). Empty
    /// unless the stream reads Kinesis.
    pub(super) async fn kinesis_ids(
        &self,
        batch: &SealedBatch,
        failures: &[(usize, ConversionError)],
    ) -> BTreeMap<u64, (String, u64)> {
        let mut ids = BTreeMap::new();
        if !self.kinesis_source || failures.is_empty() {
            return ids;
        }
        let mut seqs = RangeSet::new();
        for (i, _) in failures {
            if let Some(mark) = batch.records.get(*i) {
                seqs.insert(mark.seq..mark.seq + 1);
            }
        }
        // Best effort: the error records are written without the ids rather than
        // held up by a spool that cannot be read.
        let records = match self.spool.fetch(seqs.clone()).await {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(stream = %self.stream, error = %e, "cannot read the Kinesis ids of records that did not convert");
                Vec::new()
            }
        };
        for (record, seq) in records.into_iter().zip(seqs.iter().flatten()) {
            if let Some(k) = record.kinesis {
                ids.insert(seq, (k.sequence_number, k.sub_sequence_number));
            }
        }
        ids
    }

    /// The error batch for records whose delivery failed: each record becomes a
    /// Firehose error record carrying the failure.
    pub(super) async fn failed(&self, output: &Output, data_key: &str, failed: Failed) -> Delivery {
        let Failed { failure, seqs, key } = failed;
        let seqs = &seqs;
        let records = loop {
            match self.spool.fetch(seqs.clone()).await {
                Ok(records) => break records,
                Err(e) => {
                    self.retry
                        .wait_after_failure(1, "Spool.ReadFailed", &e.to_string())
                        .await;
                }
            }
        };
        let mut buffer = Buffer::new(usize::MAX);
        for (record, seq) in records.iter().zip(seqs.iter().flatten()) {
            let line = delivery_failed_line(
                &failure,
                record,
                seq,
                self.sinks.destination.failed_output_type(),
            );
            buffer.push(&line, record.arrival_ms, seq..seq + 1);
        }
        let mut batch = buffer.seal().unwrap_or_else(SealedBatch::empty);
        // The records stay owned by this batch even if some could not be read back.
        batch.seqs = seqs.clone();
        tracing::debug!(stream = %self.stream, from = ?output, records = records.len(), "records sent to the error output");
        let output = Output::Errors {
            output_type: self.sinks.destination.failed_output_type().to_string(),
            failure: Some(failure),
            may_have_landed: key,
        };
        Delivery {
            id: self.spool.next_batch_id(),
            key: self.error_key_for(&output, batch.first_arrival_ms(), data_key),
            batch,
            output,
            needs_seal: true,
            conversion_errors_sealed: false,
            retry_spent: Duration::ZERO,
            codec: None,
        }
    }
}

/// The sequence numbers of the batch's records at these positions.
fn seqs_at(batch: &SealedBatch, positions: &RangeSet) -> RangeSet {
    let mut out = RangeSet::new();
    for (i, seq) in batch.seqs.iter().flatten().enumerate() {
        if positions.contains(i as u64) {
            out.insert(seq..seq + 1);
        }
    }
    out
}

pub(super) fn failure(error: &SinkError, attempts: u32) -> Failure {
    Failure {
        code: error.code.clone(),
        message: error.message.clone(),
        attempts,
        ending_ms: now_ms(),
    }
}
