//! Delivery of a data batch to an Iceberg table: convert with the table's schema,
//! write the data files, seal the records that do not fit as error records, then
//! commit, unless a snapshot already holds the batch.

use std::sync::Arc;

use tokio::time::Instant;

use super::{Attempt, Deliverer, Delivery, Failed, Stored, key_uuid, seqs_except};
use crate::encode::parquet::ParquetEncoder;
use crate::pipeline::buffer::SealedBatch;
use crate::sinks::SinkError;
use crate::sinks::iceberg::{IcebergTable, IcebergTables, RecordSource};
use crate::telemetry;

impl RecordSource for SealedBatch {
    fn records(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        Box::new(self.iter().map(|(data, _)| data))
    }
}

/// What one attempt found out, kept across attempts.
#[derive(Default)]
struct Progress {
    /// The records that did not convert, once a conversion ran.
    failed: Option<Vec<(usize, crate::encode::parquet::ConversionError)>>,
    /// Whether their error batch is sealed (before any commit).
    errors_sealed: bool,
    counted: bool,
}

impl Deliverer {
    /// Commits a data batch to the table, retrying for the retry duration; then
    /// its records go to the error output, unless the table turns out to hold it
    /// (a commit whose answer was lost).
    pub(super) async fn store_table(&self, d: Delivery, tables: &IcebergTables) -> Stored {
        let mut clock = super::RetryClock::new(d.id, d.retry_spent);
        let batch = Arc::new(d.batch);
        let mut stored = Stored::default();
        let mut progress = Progress {
            errors_sealed: d.conversion_errors_sealed,
            ..Progress::default()
        };
        let name = key_uuid(&d.key);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            let appended = match tables.for_key(&d.key) {
                Ok(table) => {
                    self.append(&table, &batch, &d.key, &name, &mut progress, &mut stored)
                        .await
                }
                Err(e) => Err(e),
            };
            let error = match appended {
                Ok(()) => {
                    if clock.succeeded() {
                        self.keep_clock(&clock).await;
                    }
                    return stored;
                }
                Err(e) => e,
            };
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
                if let Ok(table) = tables.for_key(&d.key)
                    && let Ok(now) = table.load().await
                    && IcebergTable::committed(&now, &d.key)
                {
                    return stored;
                }
                let seqs = match &progress.failed {
                    Some(failed) => seqs_except(&batch, failed),
                    None => batch.seqs.clone(),
                };
                stored.failed = Some(Failed {
                    failure,
                    seqs,
                    key: None,
                });
                return stored;
            }
        }
    }

    /// One attempt: load the table, skip a batch it holds, add the columns the
    /// records need (with schema evolution), write the data files, seal the
    /// misfits, commit.
    async fn append(
        &self,
        table: &IcebergTable,
        batch: &Arc<SealedBatch>,
        key: &str,
        name: &str,
        progress: &mut Progress,
        stored: &mut Stored,
    ) -> Result<(), SinkError> {
        let current = table.load().await?;
        if IcebergTable::committed(&current, key) {
            tracing::info!(stream = %self.stream, table = %table.describe(), batch = %key,
                "the table holds this batch already (committed before a restart or a lost answer)");
            return Ok(());
        }
        let current = table
            .evolve(current, batch.clone() as Arc<dyn RecordSource>)
            .await?;
        let written = table
            .write(&current, batch.clone() as Arc<dyn RecordSource>, name)
            .await?;
        if !progress.counted {
            progress.counted = true;
            let failed_bytes = super::bytes_of(batch, &written.failed);
            telemetry::converted(
                &self.stream,
                (
                    batch.record_count() - written.failed.len(),
                    batch.data.len() - failed_bytes,
                ),
                (written.failed.len(), failed_bytes),
            );
        }
        // Sealed before the commit, so that a restart finds them whether or not
        // the commit landed.
        if !written.failed.is_empty() && !progress.errors_sealed {
            let errors = self.conversion_errors(batch, &written.failed, Some(key.to_string()));
            self.seal(&errors).await;
            stored.conversion_errors = Some(errors);
            progress.errors_sealed = true;
        }
        let records = written.rows;
        progress.failed = Some(written.failed);
        if written.files.is_empty() {
            return Ok(());
        }
        table.commit(&current, written.files, key).await?;
        tracing::debug!(stream = %self.stream, table = %table.describe(), batch = %key, rows = records, bytes = written.bytes, "batch committed");
        telemetry::delivered(
            &self.stream,
            batch.record_count() - progress.failed.as_ref().map_or(0, Vec::len),
            usize::try_from(written.bytes).unwrap_or(usize::MAX),
        );
        Ok(())
    }

    /// The conversion to the schema of the table `key` names, to find why records
    /// did not fit (their error records); waits for the catalog until it answers.
    pub(super) async fn table_encoder(
        &self,
        tables: &IcebergTables,
        key: &str,
    ) -> Arc<ParquetEncoder> {
        let mut attempt = 0u32;
        loop {
            let encoder = match tables.for_key(key) {
                Ok(table) => table.load().await.and_then(|t| table.encoder(&t)),
                Err(e) => Err(e),
            };
            match encoder {
                Ok(encoder) => return encoder,
                Err(e) => {
                    attempt += 1;
                    self.wait_after_failure(attempt, &e.code, &e.message).await;
                }
            }
        }
    }
}
