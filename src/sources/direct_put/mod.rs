//! The direct-PUT source: Firehose's JSON 1.1 API on `POST /` (so AWS SDKs and the
//! AWS CLI work unchanged) and an NDJSON endpoint for plain HTTP clients.

mod control;
mod error;
mod firehose;
mod ndjson;
mod record_id;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::routing::post;

pub use error::{ApiError, ErrorKind};

use crate::config::ServerConfig;
use crate::pipeline::StreamHandle;

/// AWS JSON 1.1's content type, used for every answer of the Firehose API.
pub const AMZ_JSON: &str = "application/x-amz-json-1.1";

/// Largest request body read. A PutRecordBatch at Firehose's 4 MiB limit is about
/// 5.6 MB of base64; this leaves room to answer over-limit batches with Firehose's
/// own errors rather than a bare 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What request handlers share.
pub struct ApiState {
    pub streams: Arc<BTreeMap<String, StreamHandle>>,
    pub server: ServerConfig,
    /// When the daemon started, in epoch seconds (`CreateTimestamp`).
    pub started_at: f64,
    pub record_ids: record_id::RecordIds,
    /// Renders `/metrics`; `None` when the recorder could not be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// The HTTP routes of the direct-PUT source, plus `/health` and `/ready`.
pub fn router(
    streams: Arc<BTreeMap<String, StreamHandle>>,
    server: ServerConfig,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Router {
    let state = Arc::new(ApiState {
        streams,
        server,
        started_at: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        record_ids: record_id::RecordIds::new(),
        metrics,
    });
    Router::new()
        .route("/", post(firehose::handle))
        .route("/delivery-streams/{name}/records", post(ndjson::handle))
        .merge(crate::admin::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A fresh `x-amzn-RequestId` value.
pub fn request_id_header() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}
