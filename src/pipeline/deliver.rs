//! Delivery of one sealed batch: record its key in the spool's ledger, encode it off
//! the async threads, store it (retrying with backoff until it is stored), then tell
//! the spool its records are delivered.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::buffer::SealedBatch;
use crate::config::StreamConfig;
use crate::encode::Compression;
use crate::keys::{KeyContext, KeyLayout, object_suffix};
use crate::sinks::retry::Backoff;
use crate::sinks::{Object, Sink};
use crate::spool::{Seal, Spool};
use crate::telemetry;

/// Config version in object names; Firehose starts at 1 and bumps it per update.
const STREAM_VERSION: u64 = 1;

/// A sealed batch with the key it is written under.
pub struct Delivery {
    pub id: u64,
    pub key: String,
    pub batch: SealedBatch,
    /// `None` for data objects; the error output type for error objects.
    pub error_output_type: Option<String>,
    /// False for a batch sealed before a restart: the ledger has it already.
    pub needs_seal: bool,
}

pub struct Deliverer {
    stream: String,
    compression: Compression,
    level: u32,
    extension: String,
    layout: KeyLayout,
    sink: Arc<dyn Sink>,
    spool: Arc<Spool>,
    backoff: Backoff,
}

impl Deliverer {
    pub fn new(
        config: &StreamConfig,
        layout: KeyLayout,
        sink: Arc<dyn Sink>,
        spool: Arc<Spool>,
    ) -> Self {
        Self {
            stream: config.name.clone(),
            compression: config.compression,
            level: config
                .compression_level
                .unwrap_or(Compression::DEFAULT_LEVEL),
            extension: config
                .file_extension
                .clone()
                .unwrap_or_else(|| config.compression.extension().to_string()),
            layout,
            sink,
            spool,
            backoff: Backoff::default(),
        }
    }

    /// The key of a new object: Firehose's layout, named after its oldest record.
    /// Error objects go under the error prefix and are not compressed.
    pub fn key_for(&self, error_output_type: Option<&str>, first_arrival_ms: i64) -> String {
        let instant =
            DateTime::<Utc>::from_timestamp_millis(first_arrival_ms).unwrap_or_else(Utc::now);
        let no_keys = BTreeMap::new();
        let ctx = KeyContext {
            instant,
            error_output_type,
            partition_keys: &no_keys,
        };
        let (prefix, extension) = match error_output_type {
            None => (self.layout.prefix().render(&ctx), self.extension.as_str()),
            Some(_) => (self.layout.render_error(&ctx), ""),
        };
        let prefix = prefix.unwrap_or_else(|e| {
            // Unreachable while config validation rejects partition-key prefixes (no
            // processor supplies keys yet) and over-long prefixes; the records are
            // still delivered, at the top level.
            tracing::error!(stream = %self.stream, error = %e, "cannot evaluate prefix, writing the object with no prefix");
            String::new()
        });
        let id = Uuid::new_v4();
        prefix + &object_suffix(&self.stream, STREAM_VERSION, instant, &id, extension)
    }

    /// Delivers one batch. Returns once it is stored and the spool knows it.
    pub async fn deliver(&self, d: Delivery) {
        if d.needs_seal {
            let seal = Seal {
                batch: d.id,
                key: d.key.clone(),
                seqs: d.batch.seqs.clone(),
                error_output_type: d.error_output_type.clone(),
            };
            self.until_ok("Spool.SealFailed", || self.spool.seal(seal.clone()))
                .await;
        }
        let (id, seqs) = (d.id, d.batch.seqs.clone());
        // A batch recovered empty (its records were all damaged) writes no object.
        if d.batch.record_count() > 0 {
            self.store(d).await;
        }
        self.until_ok("Spool.LedgerFailed", || {
            self.spool.delivered(id, seqs.clone())
        })
        .await;
    }

    async fn store(&self, d: Delivery) {
        let records = d.batch.record_count();
        // Error objects are NDJSON as written; data objects take the stream's codec.
        let compression = match d.error_output_type {
            None => self.compression,
            Some(_) => Compression::None,
        };
        let batch = Arc::new(d.batch);
        let mut attempt = 0u32;
        let body = loop {
            attempt += 1;
            let (level, entry, batch) = (self.level, key_uuid(&d.key), batch.clone());
            let encoded =
                tokio::task::spawn_blocking(move || compression.encode(&batch.data, level, &entry))
                    .await;
            // Encoding plain bytes fails only on exhausted resources (or a panicked
            // encoder task): keep the batch and try again rather than lose it.
            match encoded
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
            {
                Ok(body) => break Bytes::from(body),
                Err(e) => self.wait_after_failure(attempt, "EncodeError", &e).await,
            }
        };
        // The raw records are not needed once encoded: free them before the upload.
        drop(batch);
        let object = Object {
            key: d.key,
            body,
            content_encoding: compression.content_encoding(),
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.sink.put(object.clone()).await {
                Ok(()) => {
                    tracing::debug!(stream = %self.stream, key = %object.key, records, bytes = object.body.len(), "object delivered");
                    match &d.error_output_type {
                        None => telemetry::delivered(&self.stream, records, object.body.len()),
                        Some(kind) => telemetry::error_output(&self.stream, kind, records),
                    }
                    return;
                }
                Err(e) => self.wait_after_failure(attempt, &e.code, &e.message).await,
            }
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

    async fn wait_after_failure(&self, attempt: u32, code: &str, error: &str) {
        telemetry::delivery_failed(&self.stream, code);
        let wait = self.backoff.delay(attempt);
        tracing::warn!(
            stream = %self.stream, destination = %self.sink.describe(), attempt, code, error,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "delivery failed, will retry"
        );
        tokio::time::sleep(wait).await;
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
