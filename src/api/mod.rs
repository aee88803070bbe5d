//! The direct-PUT source: Firehose's JSON 1.1 API on `POST /` (so AWS SDKs and the
//! AWS CLI work unchanged) and an NDJSON endpoint for plain HTTP clients.

mod budget;
mod content_encoding;
mod control;
mod error;
mod firehose;
mod ndjson;
mod record_id;
mod sigv4;
mod unpack;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::post;

pub use error::{ApiError, ErrorKind};
pub use sigv4::Verifier;

use crate::config::ServerConfig;
use crate::pipeline::{Starting, StreamTable};
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
    pub budget: budget::Budget,
    /// Renders `/metrics`; `None` when the recorder could not be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Checks requests' SigV4 signatures (`server.auth`), replaced by a reload.
    pub auth: Arc<Swap<Verifier>>,
}

/// Who sent a request: the key that signed it, once its signature is checked, or
/// `None` when the server does not ask for signatures.
pub type Caller = Option<sigv4::Pending>;

/// The HTTP routes of the direct-PUT source, plus `/health` and `/ready`.
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
        budget: budget::Budget::new(server.ingest_memory_bytes()),
        metrics,
        auth,
    });
    Router::new()
        .route("/", post(firehose::handle))
        .route("/delivery-streams/{name}/records", post(ndjson::handle))
        .merge(crate::admin::router())
        .with_state(state)
}

/// The request's signature as far as its headers tell (a known key, a fresh
/// time): checked before the body is read, so that an unsigned request costs
/// no body.
fn check_headers(state: &ApiState, request: &Request) -> Result<Caller, ApiError> {
    state.auth.load().check_headers(
        request.method(),
        request.uri(),
        request.headers(),
        chrono::Utc::now(),
    )
}

/// Why a body could not be had.
enum BodyError {
    /// Longer than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The connection broke while it was read.
    Broken(String),
    /// Decoding it failed, or the memory to hold it was not free.
    Api(ApiError),
}

/// Reads the request's body, checks the caller's signature over it, and undoes
/// its `Content-Encoding` (off the async
/// threads when it is encoded), at most `server.max_decoded_body_mb` of it, each
/// step claiming the memory it is about to hold first. On `Ok`, `claim` holds the
/// body's size.
async fn read_body(
    state: &ApiState,
    headers: &HeaderMap,
    request: Request,
    caller: &Caller,
    claim: &mut budget::Claim<'_>,
) -> Result<Bytes, BodyError> {
    // A body without a length may be as long as the limit.
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let expected = announced.map_or(MAX_BODY_BYTES, |n| n.min(MAX_BODY_BYTES + 1));
    claim.grow(expected).await.map_err(BodyError::Api)?;
    if announced.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(BodyError::TooLarge);
    }
    let within = std::time::Duration::from_secs(state.server.body_timeout_seconds);
    let body = tokio::time::timeout(within, read_limited(request.into_body(), expected))
        .await
        .map_err(|_| {
            BodyError::Api(ApiError::new(
                ErrorKind::RequestTimeout,
                format!("the request body did not arrive within {within:?}"),
            ))
        })??;
    claim.shrink_to(body.len());
    if let Some(signed) = caller {
        // The signature covers the body as sent, before it is decoded.
        signed.verify(&body).map_err(BodyError::Api)?;
    }
    if !content_encoding::is_encoded(headers) {
        return Ok(body);
    }
    let cap = state.server.max_decoded_body_bytes();
    claim.grow(cap).await.map_err(BodyError::Api)?;
    let headers = headers.clone();
    let decoded =
        tokio::task::spawn_blocking(move || content_encoding::decode(&headers, body, cap))
            .await
            .map_err(|e| {
                BodyError::Api(ApiError::new(ErrorKind::InternalFailure, e.to_string()))
            })?;
    let decoded = decoded.map_err(|e| {
        let kind = match e {
            content_encoding::DecodeError::Unsupported(_) => ErrorKind::UnsupportedEncoding,
            content_encoding::DecodeError::TooLarge { .. } => ErrorKind::TooLarge,
            content_encoding::DecodeError::Corrupt { .. } => ErrorKind::InvalidArgument,
        };
        BodyError::Api(ApiError::new(kind, e.to_string()))
    })?;
    // The encoded body is gone: only the decoded one is held.
    claim.shrink_to(decoded.len());
    Ok(decoded)
}

/// The body's bytes, read into one buffer of the size announced (so a body is
/// never held twice, as chunks and as their copy), at most [`MAX_BODY_BYTES`].
async fn read_limited(mut body: Body, announced: usize) -> Result<Bytes, BodyError> {
    let mut out = Vec::with_capacity(announced.min(MAX_BODY_BYTES));
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_BODY_BYTES {
                return Err(BodyError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// A fresh `x-amzn-RequestId` value.
pub fn request_id_header() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}
