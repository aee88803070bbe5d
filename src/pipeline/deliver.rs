//! Delivery of one sealed batch: name it, encode it off the async threads, store it,
//! and retry with backoff until it is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::buffer::SealedBatch;
use super::ingest::Backlog;
use crate::config::StreamConfig;
use crate::encode::Compression;
use crate::keys::{KeyContext, KeyLayout, object_suffix};
use crate::sinks::retry::Backoff;
use crate::sinks::{Object, Sink};
use crate::telemetry;

/// Config version in object names; Firehose starts at 1 and bumps it per update.
const STREAM_VERSION: u64 = 1;

pub struct Deliverer {
    stream: String,
    compression: Compression,
    level: u32,
    extension: String,
    layout: KeyLayout,
    sink: Arc<dyn Sink>,
    backlog: Arc<Backlog>,
    backoff: Backoff,
}

impl Deliverer {
    pub fn new(
        config: &StreamConfig,
        layout: KeyLayout,
        sink: Arc<dyn Sink>,
        backlog: Arc<Backlog>,
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
            backlog,
            backoff: Backoff::default(),
        }
    }

    /// Delivers `batch` as one object. Returns once it is stored.
    pub async fn deliver(&self, batch: SealedBatch) {
        let id = Uuid::new_v4();
        let instant = DateTime::<Utc>::from_timestamp_millis(batch.first_arrival_ms())
            .unwrap_or_else(Utc::now);
        let no_keys = BTreeMap::new();
        let ctx = KeyContext {
            instant,
            error_output_type: None,
            partition_keys: &no_keys,
        };
        let prefix = match self.layout.prefix().render(&ctx) {
            Ok(p) => p,
            Err(e) => {
                // Unreachable while config validation rejects partition-key prefixes
                // (no processor supplies keys yet) and over-long prefixes; the records
                // are still delivered, at the bucket's top level.
                tracing::error!(stream = %self.stream, error = %e, "cannot evaluate prefix, writing the object with no prefix");
                String::new()
            }
        };
        let key =
            prefix + &object_suffix(&self.stream, STREAM_VERSION, instant, &id, &self.extension);
        let records = batch.record_count();
        let raw_len = batch.data.len() as u64;
        let batch = Arc::new(batch);
        let mut attempt = 0u32;
        let body = loop {
            attempt += 1;
            let (compression, level, entry, batch) =
                (self.compression, self.level, id.to_string(), batch.clone());
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
            key,
            body,
            content_encoding: self.compression.content_encoding(),
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.sink.put(object.clone()).await {
                Ok(()) => {
                    tracing::debug!(stream = %self.stream, key = %object.key, records, bytes = object.body.len(), "object delivered");
                    telemetry::delivered(&self.stream, records, object.body.len());
                    self.backlog.release(raw_len);
                    return;
                }
                Err(e) => self.wait_after_failure(attempt, &e.code, &e.message).await,
            }
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
