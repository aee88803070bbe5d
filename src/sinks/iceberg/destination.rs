//! The Iceberg destination's attempt at a batch: load the table the batch's key
//! names, skip a batch a snapshot already holds, add the columns the records
//! need (with schema evolution), write the data files, tell the delivery loop
//! which records do not fit, then commit one fast append.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{IcebergTable, IcebergTables, RecordSource};
use crate::encode::parquet::ParquetEncoder;
use crate::keys::KeyLayout;
use crate::pipeline::buffer::SealedBatch;
use crate::sinks::SinkError;
use crate::sinks::destination::{Destination, Offer, Outcome, key_uuid};

impl RecordSource for SealedBatch {
    fn records(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        Box::new(self.iter().map(|(data, _)| data))
    }
}

impl IcebergTables {
    /// One attempt: the rows and bytes committed, or the failure and whether
    /// it came from the commit (which may then have landed).
    async fn append(&self, offer: &Offer<'_>) -> Result<(usize, usize), (SinkError, bool)> {
        let before = |e| (e, false);
        let table = self.for_key(offer.key).map_err(before)?;
        let current = table.load().await.map_err(before)?;
        if IcebergTable::committed(&current, offer.key) {
            tracing::info!(table = %table.describe(), batch = %offer.key,
                "the table holds this batch already (committed before a restart or a lost answer)");
            return Ok((0, 0));
        }
        let records = offer.batch.clone() as Arc<dyn RecordSource>;
        let current = table
            .evolve(current, records.clone())
            .await
            .map_err(before)?;
        // Data files are named after the key's UUID: a retry after a crash
        // before the commit overwrites them.
        let written = table
            .write(&current, records, &key_uuid(offer.key))
            .await
            .map_err(before)?;
        offer.conversion.converted(&written.failed).await;
        if written.files.is_empty() {
            return Ok((0, 0));
        }
        table
            .commit(&current, written.files, offer.key)
            .await
            .map_err(|e| (e, true))?;
        tracing::debug!(table = %table.describe(), batch = %offer.key, rows = written.rows, bytes = written.bytes, "batch committed");
        Ok((
            written.rows,
            usize::try_from(written.bytes).unwrap_or(usize::MAX),
        ))
    }
}

impl Destination for IcebergTables {
    fn deliver<'a>(&'a self, offer: Offer<'a>) -> BoxFuture<'a, Outcome> {
        async move {
            match self.append(&offer).await {
                Ok((records, bytes)) => Outcome {
                    records,
                    bytes,
                    refused: Vec::new(),
                },
                // A commit whose answer was lost may have landed: its snapshot
                // is looked for before the records become error records.
                Err((error, committing)) => {
                    Outcome::refused(offer.pending.clone(), error, committing)
                }
            }
        }
        .boxed()
    }

    fn holds<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, SinkError>> {
        async move {
            let table = self.for_key(key)?;
            let current = table.load().await?;
            Ok(IcebergTable::committed(&current, key))
        }
        .boxed()
    }

    /// The conversion to the current schema of the table `key` names.
    fn converter<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<ParquetEncoder>>, SinkError>> {
        async move {
            let table = self.for_key(key)?;
            let current = table.load().await?;
            table.encoder(&current).map(Some)
        }
        .boxed()
    }

    fn error_layout(&self, key: &str) -> Option<&KeyLayout> {
        IcebergTables::error_layout(self, key)
    }

    fn describe(&self) -> String {
        IcebergTables::describe(self)
    }
}
