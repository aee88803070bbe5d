//! The HTTP endpoint destination: a batch becomes Firehose HTTP endpoint
//! requests (at most 10,000 records and 64 MiB each), sent one after the other.
//! A request the endpoint refuses leaves the requests after it for the next
//! attempt, so records arrive in order; one it refuses for good (413) fails
//! alone. Request ids derive from the batch's key, so a retry or a rebuild
//! after a crash sends the same ids and the receiver can drop duplicates.

mod client;
mod config;
mod describe;
mod request;

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::destination::{Destination, Offer, Outcome, Refusal, key_uuid};
use super::objects::off_thread;
use super::{FailureKind, Object, SinkError};
use crate::encode::parquet::ParquetEncoder;
use crate::record::now_ms;
use crate::spool::RangeSet;

pub use client::HttpClient;
pub use config::{
    DEFAULT_HTTP_REQUEST_TIMEOUT_SECONDS, DEFAULT_HTTP_RETRY_DURATION_SECONDS, HttpBackupMode,
    HttpContentEncoding, HttpDestination, MAX_HTTP_RETRY_DURATION_SECONDS,
};

/// Batches delivered as requests to one endpoint.
pub struct HttpEndpoint {
    client: HttpClient,
    /// Gzip level of request bodies, if compressed.
    gzip: Option<u32>,
}

impl HttpEndpoint {
    pub fn new(client: HttpClient, gzip: Option<u32>) -> Self {
        Self { client, gzip }
    }
}

impl Destination for HttpEndpoint {
    fn deliver<'a>(&'a self, offer: Offer<'a>) -> BoxFuture<'a, Outcome> {
        async move {
            let id = Uuid::parse_str(&key_uuid(offer.key)).unwrap_or_else(|_| Uuid::new_v4());
            let (batch, gzip) = (offer.batch.clone(), self.gzip);
            let requests = match off_thread(move || {
                let ends: Vec<usize> = batch.records.iter().map(|r| r.end).collect();
                request::encode(&batch.data, &ends, id, now_ms(), gzip)
            })
            .await
            {
                Ok(requests) => requests,
                Err(error) => return Outcome::refused(offer.pending.clone(), error, false),
            };
            let mut outcome = Outcome::default();
            // The failure that stopped this attempt: the requests after it wait.
            let mut stopped: Option<Refusal> = None;
            for request in requests {
                let positions = request.records.start as u64..request.records.end as u64;
                if !offer.pending.intersects(&positions) {
                    continue;
                }
                if let Some(stop) = &mut stopped {
                    stop.records.insert(positions);
                    continue;
                }
                let (records, bytes) = (request.records.len(), request.body.len());
                let object = Object {
                    key: request.request_id,
                    body: Bytes::from(request.body),
                    content_encoding: gzip.map(|_| "gzip"),
                };
                match self.client.send(object).await {
                    Ok(()) => {
                        outcome.records += records;
                        outcome.bytes += bytes;
                    }
                    Err(error) => {
                        let refusal = Refusal {
                            records: RangeSet::from(vec![(positions.start, positions.end)]),
                            error,
                            // An endpoint cannot be asked what it took: its
                            // records are delivered at least once, as by Firehose.
                            may_have_landed: false,
                        };
                        if refusal.error.kind == FailureKind::Permanent {
                            outcome.refused.push(refusal);
                        } else {
                            stopped = Some(refusal);
                        }
                    }
                }
            }
            outcome.refused.extend(stopped);
            outcome
        }
        .boxed()
    }

    fn holds<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<bool, SinkError>> {
        async { Ok(false) }.boxed()
    }

    fn converter<'a>(
        &'a self,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<ParquetEncoder>>, SinkError>> {
        async { Ok(None) }.boxed()
    }

    fn failed_output_type(&self) -> &'static str {
        crate::output::HTTP_ENDPOINT_FAILED
    }

    /// Firehose's HTTP retry window leaves out the time spent waiting for
    /// answers (contract §9.4).
    fn attempts_count_toward_retry(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        self.client.url().to_string()
    }
}
