//! The direct-PUT source: Firehose's JSON 1.1 API on `POST /` (so AWS SDKs and the
//! AWS CLI work unchanged) and an NDJSON endpoint for plain HTTP clients.

mod content_encoding;
mod control;
mod error;
mod firehose;
mod ndjson;
mod record_id;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue};
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

/// The body with its `Content-Encoding` undone (off the async threads when it is
/// encoded), at most `server.max_decoded_body_mb` of it.
async fn decoded_body(
    state: &ApiState,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Bytes, ApiError> {
    if !content_encoding::is_encoded(headers) {
        return Ok(body);
    }
    let (headers, cap) = (headers.clone(), state.server.max_decoded_body_bytes());
    let decoded =
        tokio::task::spawn_blocking(move || content_encoding::decode(&headers, body, cap))
            .await
            .map_err(|e| ApiError::new(ErrorKind::InternalFailure, e.to_string()))?;
    decoded.map_err(|e| {
        let kind = match e {
            content_encoding::DecodeError::Unsupported(_) => ErrorKind::UnsupportedEncoding,
            content_encoding::DecodeError::TooLarge { .. } => ErrorKind::TooLarge,
            content_encoding::DecodeError::Corrupt { .. } => ErrorKind::InvalidArgument,
        };
        ApiError::new(kind, e.to_string())
    })
}

/// A fresh `x-amzn-RequestId` value.
pub fn request_id_header() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}
