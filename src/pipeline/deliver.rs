//! Delivery of one sealed batch: record its key in the spool's ledger, encode it off
//! the async threads, store it (retrying with backoff for the destination's retry
//! duration), then tell the spool its records are delivered. A batch that runs out
//! of retries becomes `delivery-failed` error records, which are retried until they
//! are stored: nothing is dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use super::buffer::{Buffer, SealedBatch};
use super::error_lines::{conversion_error_lines, conversion_failures, oversized_lines};
use super::retry_clock::RetryClock;
use crate::config::StreamConfig;
use crate::encode::Compression;
use crate::encode::EncodeError;
use crate::encode::http_request;
use crate::encode::parquet::{ConversionError, ParquetEncoder};
use crate::encode::pieces::Pieces;
use crate::keys::{KeyContext, KeyLayout, PartitionCheck, Prefix, check_key, object_suffix};
use crate::output::{Failure, Output};
use crate::record::now_ms;
use crate::sinks::iceberg::IcebergTables;
use crate::sinks::retry::Backoff;
use crate::sinks::{FailureKind, Object, Sink, SinkError};
use crate::spool::{Copy, RangeSet, Seal, Spool};
use crate::telemetry;

mod table;

/// The extension of converted objects, as Firehose's.
const PARQUET_EXTENSION: &str = ".parquet";

/// The error code of a batch sealed for Parquet and rebuilt after the config
/// switched conversion off.
const FORMAT_SWITCHED: &str = "Sluice.FormatSwitched";

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
    pub codec: Option<(Compression, u32)>,
}

/// Where a stream's batches go: the destination, and the object store that takes
/// error records and backups (the destination itself, or an HTTP endpoint's
/// `error_destination`).
pub struct Sinks {
    pub destination: Arc<dyn Sink>,
    pub objects: Arc<dyn Sink>,
    /// For an HTTP endpoint: gzip level of request bodies, if compressed.
    pub http: Option<Option<u32>>,
    /// For an Iceberg table: the table data batches are committed to (error
    /// records go to `objects`, and `destination` is the same object store).
    pub table: Option<Arc<IcebergTables>>,
    /// The error output type of records the destination did not take in time.
    pub failed_output_type: &'static str,
}

/// Records a batch could not deliver within the retry duration, and why.
struct Failed {
    failure: Failure,
    seqs: RangeSet,
    /// The data object whose last write failed, if it may have landed anyway.
    key: Option<String>,
}

/// One write to a sink, as a failure is judged.
struct Attempt<'a> {
    sink: &'a Arc<dyn Sink>,
    key: &'a str,
    /// 1 for the first.
    number: u32,
    /// When the write began.
    sent: Instant,
}

/// What storing a batch leaves to do.
#[derive(Default)]
struct Stored {
    /// Records that ran out of retries.
    failed: Option<Failed>,
    /// A sealed batch of records that did not convert, delivered once this
    /// batch's delivery is recorded.
    conversion_errors: Option<Delivery>,
}

/// Where a stream's objects are named and written.
pub struct Deliverer {
    stream: String,
    /// The version number in object names (see `pipeline::version`).
    version: u64,
    compression: Compression,
    level: u32,
    /// Converts data batches to Parquet, when the stream's format says so.
    parquet: Option<Arc<ParquetEncoder>>,
    extension: String,
    backup_extension: String,
    layout: KeyLayout,
    backup: Option<Prefix>,
    /// The time zone of keys (Firehose's `CustomTimeZone`).
    zone: chrono_tz::Tz,
    retry_duration: Duration,
    /// Whether records come from Kinesis (their error records name their ids).
    kinesis_source: bool,
    sinks: Sinks,
    spool: Arc<Spool>,
    backoff: Backoff,
}

impl Deliverer {
    pub fn new(
        config: &StreamConfig,
        layout: KeyLayout,
        backup: Option<Prefix>,
        sinks: Sinks,
        spool: Arc<Spool>,
        parquet: Option<Arc<ParquetEncoder>>,
        version: u64,
    ) -> Self {
        let raw_extension = config
            .file_extension
            .clone()
            .unwrap_or_else(|| config.compression.extension().to_string());
        Self {
            stream: config.name.clone(),
            version,
            compression: config.compression,
            level: config
                .compression_level
                .unwrap_or(config.compression.default_level()),
            extension: match parquet {
                Some(_) => config
                    .file_extension
                    .clone()
                    .unwrap_or_else(|| PARQUET_EXTENSION.to_string()),
                None => raw_extension.clone(),
            },
            // Backups hold the records as received, whatever the format.
            backup_extension: match parquet {
                Some(_) => config.compression.extension().to_string(),
                None => raw_extension,
            },
            parquet,
            layout,
            backup,
            // Validated at load: an unknown name cannot get here.
            zone: config
                .destination
                .layout()
                .time_zone
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::UTC),
            retry_duration: Duration::from_secs(config.destination.layout().retry_duration_seconds),
            kinesis_source: matches!(config.source, crate::config::SourceConfig::Kinesis(_)),
            sinks,
            spool,
            backoff: Backoff::default(),
        }
    }

    /// The partition keys the prefix uses (`!{partitionKeyFromLambda:name}`) and
    /// the check each record's values pass before it is buffered.
    pub fn partition_check(&self) -> PartitionCheck {
        let suffix = object_suffix(
            &self.stream,
            self.version,
            DateTime::<Utc>::UNIX_EPOCH.fixed_offset(),
            &Uuid::nil(),
            &self.extension,
        );
        self.layout.partition_check(suffix.len())
    }

    /// Whether records also go to a source backup.
    pub fn has_backup(&self) -> bool {
        self.backup.is_some()
    }

    /// The key of a new object: Firehose's layout, named after its oldest record.
    /// Error objects go under the error prefix and are not compressed.
    /// `partition_keys` fill `!{partitionKeyFromLambda:...}` in the prefix.
    pub fn key_for(
        &self,
        output: &Output,
        first_arrival_ms: i64,
        partition_keys: &BTreeMap<String, String>,
    ) -> String {
        let instant = DateTime::<Utc>::from_timestamp_millis(first_arrival_ms)
            .unwrap_or_else(Utc::now)
            .with_timezone(&self.zone)
            .fixed_offset();
        let ctx = KeyContext {
            instant,
            error_output_type: output.error_output_type(),
            partition_keys,
        };
        let (prefix, extension) = match (output, &self.backup) {
            _ if output.is_error_output() => (self.layout.render_error(&ctx), ""),
            (Output::Backup, Some(backup)) => (backup.render(&ctx), self.backup_extension.as_str()),
            (Output::Backup, None) => {
                (Prefix::empty().render(&ctx), self.backup_extension.as_str())
            }
            _ => (self.layout.prefix().render(&ctx), self.extension.as_str()),
        };
        let id = Uuid::new_v4();
        let suffix = object_suffix(&self.stream, self.version, instant, &id, extension);
        let key =
            prefix.and_then(|prefix| Ok(check_key(&(prefix.clone() + &suffix)).map(|()| prefix)?));
        match key {
            Ok(prefix) => prefix + &suffix,
            Err(e) => {
                // Config validation and the partition check before buffering make
                // this unreachable; were it reached, the object still gets a key it
                // can be written under rather than one retried forever.
                let fallback = fallback_prefix(output, instant);
                tracing::error!(stream = %self.stream, error = %e, fallback = %fallback,
                    "cannot evaluate the prefix into a writable key, writing the object under the fallback layout");
                fallback + &suffix
            }
        }
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
        let mut error_batch = None;
        // A batch recovered empty (its records were all damaged) writes no object;
        // nor does an error batch whose data object landed after all.
        if d.batch.record_count() > 0 && !self.landed_after_all(&d).await {
            let output = d.output.clone();
            let stored = self.store(d).await;
            conversion_errors = stored.conversion_errors;
            if let Some(failed) = stored.failed {
                let mut errors = self.failed(&output, failed).await;
                // Sealed before this batch is recorded as delivered, so its records
                // are always held by a batch; once recorded, a restart rebuilds the
                // error batch alone, not this one (which would fail again and send
                // its records to the error output a second time).
                self.seal(&errors).await;
                errors.needs_seal = false;
                error_batch = Some(errors);
            }
        }
        self.until_ok("Spool.LedgerFailed", || {
            self.spool.delivered(id, seqs.clone(), copy)
        })
        .await;
        if let Some(errors) = error_batch {
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
                    self.wait_after_failure(attempt, &e.code, &e.message).await;
                }
            }
        }
    }

    async fn seal(&self, d: &Delivery) {
        let codec = match (&d.output, &self.parquet) {
            (Output::Data, None) | (Output::Backup, _) => {
                Some((self.compression.firehose_name().to_string(), self.level))
            }
            _ => None,
        };
        let seal = Seal {
            batch: d.id,
            key: d.key.clone(),
            seqs: d.batch.seqs.clone(),
            output: d.output.clone(),
            codec,
        };
        self.until_ok("Spool.SealFailed", || self.spool.seal(seal.clone()))
            .await;
    }

    /// Stores a batch: as one object, as a Parquet file, or as HTTP endpoint
    /// requests.
    async fn store(&self, d: Delivery) -> Stored {
        match (&d.output, self.sinks.http, &self.parquet) {
            (Output::Data, _, _) if let Some(tables) = self.sinks.table.clone() => {
                self.store_table(d, &tables).await
            }
            (Output::Data, Some(gzip), _) => Stored {
                failed: self.store_requests(d, gzip).await.err(),
                conversion_errors: None,
            },
            // A batch sealed raw before a restart that switched Parquet on stays
            // raw: its key's extension says so.
            (Output::Data, None, Some(parquet)) if d.codec.is_none() => {
                self.store_parquet(d, parquet.clone()).await
            }
            // Sealed as Parquet before a restart that switched it off: no schema
            // to convert with, and raw bytes under a `.parquet` key would break
            // its readers, so the records go to the error output, raw.
            (Output::Data, None, None) if !d.needs_seal && d.key.ends_with(PARQUET_EXTENSION) => {
                Stored {
                    failed: Some(Failed {
                        failure: Failure {
                            code: FORMAT_SWITCHED.to_string(),
                            message: "the batch was sealed for Parquet and the stream no longer converts to Parquet".to_string(),
                            attempts: 0,
                            ending_ms: now_ms(),
                        },
                        seqs: d.batch.seqs,
                        key: None,
                    }),
                    conversion_errors: None,
                }
            }
            _ => {
                let seqs = d.batch.seqs.clone();
                let key = (d.output == Output::Data).then(|| d.key.clone());
                Stored {
                    failed: self
                        .store_object(d)
                        .await
                        .err()
                        .map(|failure| Failed { failure, seqs, key }),
                    conversion_errors: None,
                }
            }
        }
    }

    /// Converts a data batch to one Parquet object and stores it. Records that do
    /// not convert are sealed in a `format-conversion-failed` batch first, which
    /// the caller delivers after this one.
    /// Converts a batch to Parquet while the file is uploaded, a part at a time
    /// (the file is never whole in memory). Records that do not convert are
    /// sealed as an error batch before the object is completed, once; a failed
    /// upload is made again from the batch, within the retry duration.
    async fn store_parquet(&self, d: Delivery, parquet: Arc<ParquetEncoder>) -> Stored {
        let mut clock = RetryClock::new(d.id, d.retry_spent);
        let batch = Arc::new(d.batch);
        let mut stored = Stored::default();
        let mut errors_sealed = d.conversion_errors_sealed;
        let mut counted = false;
        let (mut attempt, mut encode_failures) = (0u32, 0u32);
        loop {
            let (pieces, receiver) = Pieces::channel();
            let (commit, committed) = oneshot::channel();
            let started = Instant::now();
            let upload = self
                .sinks
                .destination
                .put_streamed(d.key.clone(), receiver, committed);
            let convert = async {
                let (b, encoder) = (batch.clone(), parquet.clone());
                let written = tokio::task::spawn_blocking(move || {
                    let written = encoder.encode_to(b.iter().map(|(data, _)| data), pieces)?;
                    let bytes = written.out.finish();
                    Ok::<_, EncodeError>((written.rows, written.failed, bytes))
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
                if let Ok((_, failed, _)) = &written {
                    if !counted {
                        counted = true;
                        let failed_bytes = bytes_of(&batch, failed);
                        telemetry::converted(
                            &self.stream,
                            (
                                batch.record_count() - failed.len(),
                                batch.data.len() - failed_bytes,
                            ),
                            (failed.len(), failed_bytes),
                        );
                    }
                    // Sealed before the object can be complete, so that a
                    // restart finds them whether or not the object landed.
                    if !failed.is_empty() && !errors_sealed {
                        let errors = self.conversion_errors(&batch, failed, None);
                        self.seal(&errors).await;
                        stored.conversion_errors = Some(errors);
                        errors_sealed = true;
                    }
                }
                let _ = commit.send(matches!(&written, Ok((rows, _, _)) if *rows > 0));
                written
            };
            let (written, uploaded) = tokio::join!(convert, upload);
            let (rows, failed, bytes) = match written {
                Ok(written) => written,
                Err(e) => {
                    encode_failures += 1;
                    self.wait_after_failure(encode_failures, "EncodeError", &e)
                        .await;
                    continue;
                }
            };
            attempt += 1;
            let records = batch.record_count() - failed.len();
            match uploaded {
                Ok(()) => {
                    if rows > 0 {
                        tracing::debug!(stream = %self.stream, key = %d.key, records, bytes, "object delivered");
                        telemetry::delivered(&self.stream, records, bytes);
                        if clock.succeeded() {
                            self.keep_clock(&clock).await;
                        }
                    }
                    return stored;
                }
                Err(error) => {
                    let tried = Attempt {
                        sink: &self.sinks.destination,
                        key: &d.key,
                        number: attempt,
                        sent: started,
                    };
                    if let Some(failure) = self
                        .retry_or_give_up(tried, &error, &d.output, &mut clock)
                        .await
                    {
                        stored.failed = Some(Failed {
                            failure,
                            // Those that did not convert are in the error output already.
                            seqs: seqs_except(&batch, &failed),
                            key: Some(d.key),
                        });
                        return stored;
                    }
                }
            }
        }
    }

    /// The batch of a data batch's records that did not convert. It holds the
    /// whole batch's sequence numbers, so its seal stays small however scattered
    /// the failures are; a rebuild re-converts the records to find them.
    fn conversion_errors(
        &self,
        batch: &SealedBatch,
        failed: &[(usize, ConversionError)],
        table_key: Option<String>,
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
            table_key,
        };
        Delivery {
            id: self.spool.next_batch_id(),
            key: self.key_for(&output, errors.first_arrival_ms(), &BTreeMap::new()),
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
    async fn kinesis_ids(
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

    /// Encodes a batch into one object and stores it.
    async fn store_object(&self, d: Delivery) -> Result<(), Failure> {
        let mut clock = RetryClock::new(d.id, d.retry_spent);
        let mut records = d.batch.record_count();
        // Error objects are NDJSON as written; the others take the stream's codec.
        let compression = if d.output.is_error_output() {
            Compression::None
        } else {
            d.codec.map_or(self.compression, |(c, _)| c)
        };
        let level = d.codec.map_or(self.level, |(_, level)| level);
        let entry = key_uuid(&d.key);
        let batch = Arc::new(d.batch);
        let body = match d.output {
            Output::ConversionErrors {
                ending_ms,
                ref table_key,
            } => {
                let parquet = match (&self.sinks.table, table_key) {
                    (Some(tables), Some(key)) => Some(self.table_encoder(tables, key).await),
                    _ => self.parquet.clone(),
                };
                let failures = self
                    .encode(batch.clone(), move |batch| {
                        Ok(conversion_failures(batch, parquet.as_deref()))
                    })
                    .await;
                records = failures.len();
                let kinesis = self.kinesis_ids(&batch, &failures).await;
                conversion_error_lines(&batch, &failures, ending_ms, &kinesis)
            }
            Output::Oversized => self.encode(batch, |batch| Ok(oversized_lines(batch))).await,
            _ => {
                self.encode(batch, move |batch| {
                    compression.encode(&batch.data, level, &entry)
                })
                .await
            }
        };
        if records == 0 {
            // A rebuilt conversion-error batch whose records all convert now.
            return Ok(());
        }
        let object = Object {
            key: d.key,
            body: Bytes::from(body),
            content_encoding: compression.content_encoding(),
        };
        // Only data goes to the destination; backups and errors to the object store.
        let sink = match d.output {
            Output::Data => &self.sinks.destination,
            _ => &self.sinks.objects,
        };
        self.put(sink, object, records, &d.output, &mut clock).await
    }

    /// Sends a batch as Firehose HTTP endpoint requests, one after the other. The
    /// records of requests that fail for the whole retry duration are returned.
    async fn store_requests(&self, d: Delivery, gzip: Option<u32>) -> Result<(), Failed> {
        let id = Uuid::parse_str(&key_uuid(&d.key)).unwrap_or_else(|_| Uuid::new_v4());
        let seqs = d.batch.seqs.clone();
        let mut clock = RetryClock::new(d.id, d.retry_spent);
        let requests = self
            .encode(Arc::new(d.batch), move |batch| {
                let ends: Vec<usize> = batch.records.iter().map(|r| r.end).collect();
                http_request::encode(&batch.data, &ends, id, now_ms(), gzip)
            })
            .await;
        let mut failed: Option<Failed> = None;
        for request in requests {
            let object = Object {
                key: request.request_id,
                body: Bytes::from(request.body),
                content_encoding: gzip.map(|_| "gzip"),
            };
            let count = request.records.len();
            // Each request has its own retry window.
            if let Err(failure) = self
                .put(
                    &self.sinks.destination,
                    object,
                    count,
                    &d.output,
                    &mut clock,
                )
                .await
            {
                let lost = nth_seqs(&seqs, request.records);
                let all = failed.get_or_insert_with(|| Failed {
                    failure: failure.clone(),
                    seqs: RangeSet::new(),
                    key: None,
                });
                all.failure = failure;
                all.seqs.extend(&lost);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Encodes off the async threads. Encoding plain bytes fails only on exhausted
    /// resources (or a panicked encoder): the batch is kept and encoded again rather
    /// than lost.
    async fn encode<T: Send + 'static>(
        &self,
        batch: Arc<SealedBatch>,
        encode: impl Fn(&SealedBatch) -> Result<T, crate::encode::EncodeError> + Send + Sync + 'static,
    ) -> T {
        let encode = Arc::new(encode);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (b, e) = (batch.clone(), encode.clone());
            match tokio::task::spawn_blocking(move || e(&b)).await {
                Ok(Ok(out)) => return out,
                Ok(Err(e)) => {
                    self.wait_after_failure(attempt, "EncodeError", &e.to_string())
                        .await;
                }
                Err(e) => {
                    self.wait_after_failure(attempt, "EncodeError", &e.to_string())
                        .await;
                }
            }
        }
    }

    /// Stores one object, retrying with backoff. Error objects are retried until
    /// stored; others until `clock` has used the retry duration, then the last
    /// failure is returned. A success closes the clock's window.
    async fn put(
        &self,
        sink: &Arc<dyn Sink>,
        object: Object,
        records: usize,
        output: &Output,
        clock: &mut RetryClock,
    ) -> Result<(), Failure> {
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
            let tried = Attempt {
                sink,
                key: &object.key,
                number: attempt,
                sent,
            };
            if let Some(failure) = self.retry_or_give_up(tried, &error, output, clock).await {
                return Err(failure);
            }
        }
    }

    /// After a failed write: gives up (the failure to report) once the retry
    /// duration is used or the failure is permanent, unless the object is error
    /// output, which is retried until stored; else waits out the backoff and
    /// returns `None` for another attempt.
    async fn retry_or_give_up(
        &self,
        attempt: Attempt<'_>,
        error: &SinkError,
        output: &Output,
        clock: &mut RetryClock,
    ) -> Option<Failure> {
        let Attempt {
            sink,
            key,
            number: attempt,
            sent,
        } = attempt;
        let gives_up = !output.is_error_output();
        // An HTTP endpoint's window leaves out the time spent waiting for answers.
        let answer_time = self.sinks.http.is_none().then(|| sent.elapsed());
        clock.failed(answer_time);
        let permanent = error.kind == FailureKind::Permanent;
        if gives_up && (permanent || clock.spent() >= self.retry_duration) {
            tracing::error!(
                stream = %self.stream, destination = %sink.describe(), key = %key,
                attempts = attempt, code = %error.code, error = %error.message,
                permanent, "delivery failed for the whole retry duration or for good, sending the records to the error output"
            );
            return Some(failure(error, attempt));
        }
        if gives_up {
            self.keep_clock(clock).await;
        }
        let waited = self
            .wait_after_failure(attempt, &error.code, &error.message)
            .await;
        clock.waited(waited);
        None
    }

    /// Stores a batch's retry clock in the ledger. Failing to is logged, not
    /// retried: the clock would only start again at the next start.
    async fn keep_clock(&self, clock: &RetryClock) {
        if let Err(e) = self.spool.retrying(clock.batch(), clock.spent()).await {
            tracing::warn!(stream = %self.stream, error = %e, "cannot record the retry clock");
        }
    }

    /// The error batch for records whose delivery failed: each record becomes a
    /// Firehose error record carrying the failure.
    async fn failed(&self, output: &Output, failed: Failed) -> Delivery {
        let Failed { failure, seqs, key } = failed;
        let seqs = &seqs;
        let records = loop {
            match self.spool.fetch(seqs.clone()).await {
                Ok(records) => break records,
                Err(e) => {
                    self.wait_after_failure(1, "Spool.ReadFailed", &e.to_string())
                        .await;
                }
            }
        };
        let mut buffer = Buffer::new(usize::MAX);
        for (record, seq) in records.iter().zip(seqs.iter().flatten()) {
            let line = failure.error_line(record, seq, self.sinks.failed_output_type);
            buffer.push(&line, record.arrival_ms, seq..seq + 1);
        }
        let mut batch = buffer.seal().unwrap_or_else(SealedBatch::empty);
        // The records stay owned by this batch even if some could not be read back.
        batch.seqs = seqs.clone();
        tracing::debug!(stream = %self.stream, from = ?output, records = records.len(), "records sent to the error output");
        let output = Output::Errors {
            output_type: self.sinks.failed_output_type.to_string(),
            failure: Some(failure),
            may_have_landed: key,
        };
        Delivery {
            id: self.spool.next_batch_id(),
            key: self.key_for(&output, batch.first_arrival_ms(), &BTreeMap::new()),
            batch,
            output,
            needs_seal: true,
            conversion_errors_sealed: false,
            retry_spent: Duration::ZERO,
            codec: None,
        }
    }

    /// Retries a spool operation until it succeeds: without it the batch cannot be
    /// delivered safely, and giving up would lose it.
    async fn until_ok<F, Fut>(&self, code: &str, op: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = std::io::Result<()>>,
    {
        let mut attempt = 0u32;
        while let Err(e) = op().await {
            attempt += 1;
            self.wait_after_failure(attempt, code, &e.to_string()).await;
        }
    }

    /// Logs a failed attempt and waits before the next one; returns the wait.
    async fn wait_after_failure(&self, attempt: u32, code: &str, error: &str) -> Duration {
        telemetry::delivery_failed(&self.stream, code);
        let wait = self.backoff.delay(attempt);
        tracing::warn!(
            stream = %self.stream, destination = %self.sinks.destination.describe(), attempt, code, error,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "delivery failed, will retry"
        );
        tokio::time::sleep(wait).await;
        wait
    }
}

/// The layout of an object whose configured prefix cannot make a key:
/// `<error-output-type or data>/yyyy/MM/dd/HH/`, which is always writable.
fn fallback_prefix(output: &Output, instant: DateTime<chrono::FixedOffset>) -> String {
    let top = output.error_output_type().unwrap_or(match output {
        Output::Backup => "backup",
        _ => "data",
    });
    format!("{top}/{}", instant.format("%Y/%m/%d/%H/"))
}

/// The sequence numbers of the batch's records but those at the (ascending)
/// positions given.
fn seqs_except(batch: &SealedBatch, failed: &[(usize, ConversionError)]) -> RangeSet {
    let mut failed = failed.iter().map(|(i, _)| *i).peekable();
    let mut out = RangeSet::new();
    for (i, seq) in batch.seqs.iter().flatten().enumerate() {
        if failed.next_if_eq(&i).is_none() {
            out.insert(seq..seq + 1);
        }
    }
    out
}

/// The bytes of the batch's records at the (ascending) positions given.
fn bytes_of(batch: &SealedBatch, failed: &[(usize, ConversionError)]) -> usize {
    let mut failed = failed.iter().map(|(i, _)| *i).peekable();
    batch
        .iter()
        .enumerate()
        .filter(|(i, _)| failed.next_if_eq(i).is_some())
        .map(|(_, (data, _))| data.len())
        .sum()
}

/// The sequence numbers of the batch's records `range` (by position in the batch).
fn nth_seqs(seqs: &RangeSet, range: std::ops::Range<usize>) -> RangeSet {
    let mut out = RangeSet::new();
    for seq in seqs.iter().flatten().skip(range.start).take(range.len()) {
        out.insert(seq..seq + 1);
    }
    out
}

fn failure(error: &SinkError, attempts: u32) -> Failure {
    Failure {
        code: error.code.clone(),
        message: error.message.clone(),
        attempts,
        ending_ms: now_ms(),
    }
}

/// The UUID in an object key, which names a ZIP object's single entry (Firehose
/// names it with a UUID too); deriving it from the key keeps re-encoding identical.
fn key_uuid(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    (0..name.len().saturating_sub(35))
        .rev()
        .find_map(|at| name.get(at..at + 36).filter(|s| Uuid::parse_str(s).is_ok()))
        .unwrap_or(name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uuid_is_found_whatever_the_stream_name_and_extension() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(
            key_uuid(&format!(
                "a/b/my.stream-1-2026-01-01-00-00-00-{id}.ndjson.gz"
            )),
            id
        );
        assert_eq!(key_uuid(&format!("s-1-2026-01-01-00-00-00-{id}")), id);
    }
}
