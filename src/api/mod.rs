//! The front door: one HTTP router for Firehose's JSON 1.1 API on `POST /` (its
//! data and control operations, so AWS SDKs and the AWS CLI work unchanged, with
//! SigV4 checked), the NDJSON endpoint for plain HTTP clients, and the status
//! endpoints. Records it accepts go to the direct-PUT source
//! (`crate::sources::direct_put`), which knows nothing of HTTP.

mod body;
mod content_encoding;
mod control;
mod error;
mod firehose;
mod ndjson;
mod record_id;
mod sigv4;
mod status;
mod streams;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::post;

pub use error::{ApiError, ErrorKind};
pub use sigv4::Verifier;

use crate::config::ServerConfig;
use crate::pipeline::{Starting, StreamTable};
use crate::sources::direct_put::Budget;
use crate::swap::Swap;

/// AWS JSON 1.1's content type, used for every answer of the Firehose API.
pub const AMZ_JSON: &str = "application/x-amz-json-1.1";

/// Largest request body read. A PutRecordBatch at Firehose's 4 MiB limit is about
/// 5.6 MB of base64; this leaves room to answer over-limit batches with Firehose's
/// own errors rather than a bare 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What request handlers share.
pub struct ApiState {
    /// The running streams, replaced by a reload.
    pub streams: StreamTable,
    /// The configured streams that are still starting (`/ready` waits for them).
    pub starting: Starting,
    pub server: ServerConfig,
    /// When the daemon started, in epoch seconds (`CreateTimestamp`).
    pub started_at: f64,
    pub record_ids: record_id::RecordIds,
    /// The memory requests in flight may hold, together.
    pub budget: Budget,
    /// Renders `/metrics`; `None` when the recorder could not be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Checks requests' SigV4 signatures (`server.auth`), replaced by a reload.
    pub auth: Arc<Swap<Verifier>>,
}

/// Who sent a request: the key that signed it, once its signature is checked, or
/// `None` when the server does not ask for signatures.
pub type Caller = Option<sigv4::Pending>;

/// Every HTTP route: the Firehose API, the NDJSON endpoint and the status endpoints.
pub fn router(
    streams: StreamTable,
    starting: Starting,
    auth: Arc<Swap<Verifier>>,
    server: ServerConfig,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Router {
    let state = Arc::new(ApiState {
        streams,
        starting,
        server: server.clone(),
        started_at: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        record_ids: record_id::RecordIds::new(),
        budget: Budget::new(server.ingest_memory_bytes()),
        metrics,
        auth,
    });
    Router::new()
        .route("/", post(firehose::handle))
        .route("/delivery-streams/{name}/records", post(ndjson::handle))
        .merge(status::router())
        .with_state(state)
}

/// A fresh `x-amzn-RequestId` value.
pub fn request_id_header() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}
