//! Delivery of one sealed batch: record its key in the spool's ledger, offer it
//! to the destination (which says which records it could not take), retry the
//! rest with backoff for the destination's retry duration, then tell the spool
//! its records are delivered. Records that run out of retries become error
//! records (`delivery-failed`, `http-endpoint-failed`), which are retried until
//! they are stored: nothing is dropped. What a destination does with a batch is
//! its own (`sinks::destination`); this loop knows only the outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::buffer::SealedBatch;
use super::conversion_failures::conversion_failures;
use super::retry::{Retrier, RetryClock};
use crate::config::StreamConfig;
use crate::encode::{Codec, Compression};
use crate::error_output::{conversion_error_lines, oversized_lines};
use crate::keys::{KeyLayout, PartitionCheck, Prefix};
use crate::output::{Failure, Output};
use crate::sinks::destination::{Offer, all_records, key_uuid};
use crate::sinks::objects::off_thread;
use crate::sinks::{FailureKind, Object, Sinks};
use crate::spool::{Copy, RangeSet, Seal, Spool};
use crate::telemetry;

mod error_batches;
mod misfits;
mod naming;

use error_batches::{Failed, failure};
use misfits::Misfits;
use naming::Naming;

/// A sealed batch with the key it is written under.
pub struct Delivery {
    pub id: u64,
    pub key: String,
    pub batch: SealedBatch,
    pub output: Output,
    /// False for a batch sealed before a restart: the ledger has it already.
    pub needs_seal: bool,
    /// For a data batch rebuilt after a restart: its records that did not convert
    /// are in a sealed `format-conversion-failed` batch already.
    pub conversion_errors_sealed: bool,
    /// How much of the retry duration the batch used before the last stop.
    pub retry_spent: Duration,
    /// For a batch sealed before the last stop: the compression and level it was
    /// sealed with (its key names them), whatever the config says now.
    pub codec: Option<Codec>,
}

/// What storing a batch leaves to do.
#[derive(Default)]
struct Stored {
    /// Records that ran out of retries (or were refused for good), by cause.
    failed: Vec<Failed>,
    /// A sealed batch of records that did not convert, delivered once this
    /// batch's delivery is recorded.
    conversion_errors: Option<Delivery>,
}

/// Where a stream's objects are named and written.
pub struct Deliverer {
    stream: String,
    /// The stream's codec, for objects sealed from now on.
    codec: Codec,
    /// Whether data batches are converted to Parquet: their seal names no codec.
    converts: bool,
    /// Keys of the stream's objects.
    naming: Naming,
    retry_duration: Duration,
    /// Whether records come from Kinesis (their error records name their ids).
    kinesis_source: bool,
    sinks: Sinks,
    spool: Arc<Spool>,
    retry: Retrier,
}

impl Deliverer {
    /// `converts`: whether the stream converts its records to Parquet.
    pub fn new(
        config: &StreamConfig,
        layout: KeyLayout,
        backup: Option<Prefix>,
        sinks: Sinks,
        spool: Arc<Spool>,
        converts: bool,
        version: u64,
    ) -> Self {
        let retry = Retrier::new(&config.name, sinks.destination.describe());
        Self {
            stream: config.name.clone(),
            codec: config.codec(),
            converts,
            naming: Naming::new(config, layout, backup, converts, version),
            retry_duration: Duration::from_secs(config.destination.layout().retry_duration_seconds),
            kinesis_source: config.source.kind().records_carry_ids(),
            sinks,
            spool,
            retry,
        }
    }

    /// The partition keys the prefix uses and the check each record's values
    /// pass before it is buffered.
    pub fn partition_check(&self) -> PartitionCheck {
        self.naming.partition_check()
    }

    /// Whether records also go to a source backup.
    pub fn has_backup(&self) -> bool {
        self.naming.has_backup()
    }

    /// The key of a new object (see [`Naming::key`]) under the stream's layout.
    pub fn key_for(
        &self,
        output: &Output,
        first_arrival_ms: i64,
        partition_keys: &BTreeMap<String, String>,
    ) -> String {
        self.naming
            .key(None, output, first_arrival_ms, partition_keys)
    }

    /// Delivers one batch. Returns once it is stored (or its records are stored in
    /// the error output) and the spool knows it.
    pub async fn deliver(&self, d: Delivery) {
        if d.needs_seal {
            self.seal(&d).await;
        }
        let (id, seqs) = (d.id, d.batch.seqs.clone());
        let copy = Copy::of(&d.output);
        let mut conversion_errors = None;
        let mut error_batches = Vec::new();
        // A batch recovered empty (its records were all damaged) writes no object;
        // nor does an error batch whose data object landed after all.
        if d.batch.record_count() > 0 && !self.landed_after_all(&d).await {
            let output = d.output.clone();
            let data_key = d.key.clone();
            let stored = self.store(d).await;
            conversion_errors = stored.conversion_errors;
            for failed in stored.failed {
                let mut errors = self.failed(&output, &data_key, failed).await;
                // Sealed before this batch is recorded as delivered, so its records
                // are always held by a batch; once recorded, a restart rebuilds the
                // error batch alone, not this one (which would fail again and send
                // its records to the error output a second time).
                self.seal(&errors).await;
                errors.needs_seal = false;
                error_batches.push(errors);
            }
        }
        self.retry
            .until_ok("Spool.LedgerFailed", || {
                self.spool.delivered(id, seqs.clone(), copy)
            })
            .await;
        for errors in error_batches {
            Box::pin(self.deliver(errors)).await;
        }
        // After this batch's delivery is recorded: were it rebuilt after a restart,
        // it would otherwise send its unconvertible records a second time.
        if let Some(errors) = conversion_errors {
            Box::pin(self.deliver(errors)).await;
        }
    }

    /// Whether `d` holds the records of a data object whose write failed without
    /// an answer but landed: then they are delivered, and not error records.
    /// Asks the destination until it answers; a key it cannot hold is not there.
    async fn landed_after_all(&self, d: &Delivery) -> bool {
        let Output::Errors {
            may_have_landed: Some(key),
            ..
        } = &d.output
        else {
            return false;
        };
        let mut attempt = 0u32;
        loop {
            match self.sinks.destination.holds(key).await {
                Ok(held) => {
                    if held {
                        tracing::info!(stream = %self.stream, key = %key, records = d.batch.record_count(),
                            "the failed write landed after all: its records are delivered, not sent to the error output");
                    }
                    return held;
                }
                Err(e) if e.kind == FailureKind::Permanent => return false,
                Err(e) => {
                    attempt += 1;
                    self.retry
                        .wait_after_failure(attempt, &e.code, &e.message)
                        .await;
                }
            }
        }
    }

    async fn seal(&self, d: &Delivery) {
        let codec = match (&d.output, self.converts) {
            (Output::Data, false) | (Output::Backup, _) => Some(self.codec),
            _ => None,
        };
        let seal = Seal {
            batch: d.id,
            key: d.key.clone(),
            seqs: d.batch.seqs.clone(),
            output: d.output.clone(),
            codec,
        };
        self.retry
            .until_ok("Spool.SealFailed", || self.spool.seal(seal.clone()))
            .await;
    }

    /// Stores a batch: data to the destination, the rest (error records,
    /// backups) as objects in the object store.
    async fn store(&self, d: Delivery) -> Stored {
        if d.output != Output::Data {
            let seqs = d.batch.seqs.clone();
            return Stored {
                failed: self
                    .store_object(d)
                    .await
                    .err()
                    .map(|failure| Failed {
                        failure,
                        seqs,
                        key: None,
                    })
                    .into_iter()
                    .collect(),
                conversion_errors: None,
            };
        }
        self.store_data(d).await
    }

    /// Offers a data batch to the destination until it has taken every record,
    /// retrying those it refuses with backoff. Records refused for good, or
    /// still refused once the retry duration is used, are returned as failed;
    /// records that did not convert are the conversion's error batch.
    async fn store_data(&self, d: Delivery) -> Stored {
        let destination = &self.sinks.destination;
        let mut clock = RetryClock::new(d.id, d.retry_spent);
        let batch = Arc::new(d.batch);
        let conversion = Misfits::new(self, &batch, &d.key, d.conversion_errors_sealed);
        let mut pending = all_records(&batch);
        let mut failed = Vec::new();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let started = Instant::now();
            let outcome = destination
                .deliver(Offer {
                    key: &d.key,
                    batch: &batch,
                    pending: &pending,
                    codec: d.codec,
                    rebuilt: !d.needs_seal,
                    conversion: &conversion,
                })
                .await;
            if outcome.records > 0 {
                tracing::debug!(stream = %self.stream, key = %d.key, records = outcome.records, bytes = outcome.bytes, "delivered");
                telemetry::delivered(&self.stream, outcome.records, outcome.bytes);
            }
            let mut refused = outcome.refused;
            let misfits = conversion.positions();
            for refusal in &mut refused {
                refusal.records.subtract(&misfits);
            }
            refused.retain(|r| !r.records.is_empty());
            if refused.is_empty() {
                if clock.succeeded() {
                    self.keep_clock(&clock).await;
                }
                break;
            }
            attempt += 1;
            // Records got through: the ones left get a window of their own.
            if outcome.records > 0 {
                clock.succeeded();
            }
            clock.failed(
                destination
                    .attempts_count_toward_retry()
                    .then(|| started.elapsed()),
            );
            let out_of_time = clock.spent() >= self.retry_duration;
            pending = RangeSet::new();
            let mut retried = None;
            for refusal in refused {
                let permanent = refusal.error.kind == FailureKind::Permanent;
                if permanent || out_of_time {
                    failed.push(self.give_up(&batch, &d.key, refusal, attempt, permanent));
                } else {
                    pending.extend(&refusal.records);
                    retried = Some(refusal.error);
                }
            }
            let Some(error) = retried else { break };
            self.keep_clock(&clock).await;
            let waited = self
                .retry
                .wait_within(attempt, &error.code, &error.message, self.left(&clock))
                .await;
            clock.waited(waited);
        }
        Stored {
            failed,
            conversion_errors: conversion.into_errors(),
        }
    }

    /// Encodes a batch into one object and stores it.
    async fn store_object(&self, d: Delivery) -> Result<(), Failure> {
        let mut clock = RetryClock::new(d.id, d.retry_spent);
        let mut records = d.batch.record_count();
        // Error objects are NDJSON as written; the others take the stream's codec.
        let codec = if d.output.is_error_output() {
            Codec::new(Compression::None, None)
        } else {
            d.codec.unwrap_or(self.codec)
        };
        let entry = key_uuid(&d.key);
        let batch = Arc::new(d.batch);
        let body = match d.output {
            Output::ConversionErrors {
                ending_ms,
                ref data_key,
            } => {
                let parquet = self.converter(data_key.as_deref().unwrap_or(&d.key)).await;
                let failures = self
                    .encode(batch.clone(), &d.output, &mut clock, move |batch| {
                        Ok(conversion_failures(batch, parquet.as_deref()))
                    })
                    .await?;
                records = failures.len();
                let kinesis = self.kinesis_ids(&batch, &failures).await;
                conversion_error_lines(batch.error_records(), &failures, ending_ms, &kinesis)
            }
            Output::Oversized => {
                self.encode(batch, &d.output, &mut clock, |batch| {
                    Ok(oversized_lines(batch.error_records()))
                })
                .await?
            }
            _ => {
                self.encode(batch, &d.output, &mut clock, move |batch| {
                    codec.encode(&batch.data, &entry)
                })
                .await?
            }
        };
        if records == 0 {
            // A rebuilt conversion-error batch whose records all convert now.
            return Ok(());
        }
        let object = Object {
            key: d.key,
            body: Bytes::from(body),
            content_encoding: codec.compression.content_encoding(),
        };
        self.put(object, records, &d.output, &mut clock).await
    }

    /// The conversion a data batch with this key is made with, to find why its
    /// records did not convert; asks the destination until it answers.
    async fn converter(&self, key: &str) -> Option<Arc<crate::encode::parquet::ParquetEncoder>> {
        let mut attempt = 0u32;
        loop {
            match self.sinks.destination.converter(key).await {
                Ok(converter) => return converter,
                Err(e) => {
                    attempt += 1;
                    self.retry
                        .wait_after_failure(attempt, &e.code, &e.message)
                        .await;
                }
            }
        }
    }

    /// Encodes off the async threads. For a backup, an encoder's own error
    /// comes back at once (it would repeat) and a panicked encoder task is
    /// tried again until `clock` has used the retry duration; the records then
    /// become error records. Error objects (NDJSON, whose encoders cannot fail
    /// but by a bug) are tried until they encode: they have nowhere else to go.
    async fn encode<T: Send + 'static>(
        &self,
        batch: Arc<SealedBatch>,
        output: &Output,
        clock: &mut RetryClock,
        encode: impl Fn(&SealedBatch) -> Result<T, crate::encode::EncodeError> + Send + Sync + 'static,
    ) -> Result<T, Failure> {
        let encode = Arc::new(encode);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (b, e) = (batch.clone(), encode.clone());
            let error = match off_thread(move || e(&b)).await {
                Ok(out) => return Ok(out),
                Err(error) => error,
            };
            clock.failed(None);
            let gives_up = !output.is_error_output();
            if gives_up
                && (error.kind == FailureKind::Permanent || clock.spent() >= self.retry_duration)
            {
                tracing::error!(stream = %self.stream, attempts = attempt, code = %error.code, error = %error.message,
                    "encoding failed for good or for the whole retry duration");
                return Err(failure(&error, attempt));
            }
            let waited = self
                .retry
                .wait_within(
                    attempt,
                    &error.code,
                    &error.message,
                    self.left_if(gives_up, clock),
                )
                .await;
            clock.waited(waited);
        }
    }

    /// Stores an error or backup object in the object store, retrying with
    /// backoff. Error objects are retried until stored; backups until `clock`
    /// has used the retry duration, then the last failure is returned (their
    /// records become error records).
    async fn put(
        &self,
        object: Object,
        records: usize,
        output: &Output,
        clock: &mut RetryClock,
    ) -> Result<(), Failure> {
        let sink = &self.sinks.objects;
        let gives_up = !output.is_error_output();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = Instant::now();
            let error = match sink.put(object.clone()).await {
                Ok(()) => {
                    tracing::debug!(stream = %self.stream, key = %object.key, records, bytes = object.body.len(), "object delivered");
                    match output.error_output_type() {
                        None => telemetry::delivered(&self.stream, records, object.body.len()),
                        Some(kind) => telemetry::error_output(&self.stream, kind, records),
                    }
                    if clock.succeeded() {
                        self.keep_clock(clock).await;
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            clock.failed(Some(sent.elapsed()));
            let permanent = error.kind == FailureKind::Permanent;
            if gives_up && (permanent || clock.spent() >= self.retry_duration) {
                tracing::error!(
                    stream = %self.stream, destination = %sink.describe(), key = %object.key,
                    attempts = attempt, code = %error.code, error = %error.message,
                    permanent, "storing the backup failed for the whole retry duration or for good, sending the records to the error output"
                );
                return Err(failure(&error, attempt));
            }
            if gives_up {
                self.keep_clock(clock).await;
            }
            let waited = self
                .retry
                .wait_within(
                    attempt,
                    &error.code,
                    &error.message,
                    self.left_if(gives_up, clock),
                )
                .await;
            clock.waited(waited);
        }
    }

    /// What is left of the retry duration on `clock`.
    fn left(&self, clock: &RetryClock) -> Duration {
        self.retry_duration.saturating_sub(clock.spent())
    }

    /// What is left of the retry duration for an object that `gives_up` once
    /// it is over; no limit for one retried until stored (error objects).
    fn left_if(&self, gives_up: bool, clock: &RetryClock) -> Duration {
        if gives_up {
            self.left(clock)
        } else {
            Duration::MAX
        }
    }

    /// Stores a batch's retry clock in the ledger. Failing to is logged, not
    /// retried: the clock would only start again at the next start.
    async fn keep_clock(&self, clock: &RetryClock) {
        if let Err(e) = self.spool.retrying(clock.batch(), clock.spent()).await {
            tracing::warn!(stream = %self.stream, error = %e, "cannot record the retry clock");
        }
    }
}
