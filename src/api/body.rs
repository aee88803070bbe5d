//! A request's body: read within its time and size limits, its signature
//! checked over the bytes as sent, its `Content-Encoding` undone, each step
//! claiming the ingest memory it is about to hold first.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::HeaderMap;

use super::content_encoding;
use super::error::{ApiError, ErrorKind};
use super::{ApiState, Caller, MAX_BODY_BYTES};
use crate::sources::direct_put::Claim;

/// The request's signature as far as its headers tell (a known key, a fresh
/// time): checked before the body is read, so that an unsigned request costs
/// no body.
pub fn check_headers(state: &ApiState, request: &Request) -> Result<Caller, ApiError> {
    state.auth.load().check_headers(
        request.method(),
        request.uri(),
        request.headers(),
        chrono::Utc::now(),
    )
}

/// Why a body could not be had.
pub enum BodyError {
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
pub async fn read_body(
    state: &ApiState,
    headers: &HeaderMap,
    request: Request,
    caller: &Caller,
    claim: &mut Claim<'_>,
) -> Result<Bytes, BodyError> {
    // A body without a length may be as long as the limit.
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let expected = announced.map_or(MAX_BODY_BYTES, |n| n.min(MAX_BODY_BYTES + 1));
    claim
        .grow(expected)
        .await
        .map_err(|e| BodyError::Api(e.into()))?;
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
    claim
        .grow(cap)
        .await
        .map_err(|e| BodyError::Api(e.into()))?;
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
