//! `POST /delivery-streams/{name}/records`: one record per line, for clients without
//! an AWS SDK (`curl --data-binary @events.ndjson`). Each line keeps its newline, the
//! record delimiter; blank lines are skipped. The body is accepted as a whole or not
//! at all.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiState;
use super::body::{self, BodyError};
use super::error::{ApiError, ErrorKind};
use super::streams::find_put_stream;
use crate::record::now_ms;
use crate::records::Lines;
use crate::sources::direct_put::{self, ingest};
use crate::telemetry;

pub async fn handle(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    match put_lines(&state, &name, &headers, request).await {
        Ok((records, bytes)) => (
            StatusCode::OK,
            Json(json!({ "DeliveryStreamName": name, "RecordCount": records, "Bytes": bytes, "FailedPutCount": 0 })),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn put_lines(
    state: &ApiState,
    name: &str,
    headers: &HeaderMap,
    request: Request,
) -> Result<(usize, usize), ApiError> {
    let caller = body::check_headers(state, &request)?;
    let stream = &find_put_stream(state, name)?;
    let mut claim = state.budget.claim();
    let body = match body::read_body(state, headers, request, &caller, &mut claim).await {
        // The key may write to this stream: asked once its signature is checked.
        Ok(body) => {
            state.auth.load().allows(caller.as_ref(), name)?;
            body
        }
        Err(BodyError::Api(e)) => return Err(e),
        Err(BodyError::TooLarge) => {
            return Err(ApiError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "Failed to buffer the request body: length limit exceeded (at most {} bytes per request)",
                    super::MAX_BODY_BYTES
                ),
            ));
        }
        Err(BodyError::Broken(e)) => {
            return Err(ApiError::new(
                ErrorKind::InvalidArgument,
                format!("Failed to read the request body: {e}"),
            ));
        }
    };
    // The body is held already; its line offsets are what the split adds.
    claim
        .grow(Lines::overhead_of(Lines::most_lines(&body)))
        .await?;
    let lines = Lines::split(body, now_ms()).map_err(|e| ApiError::validation(&[e.to_string()]))?;
    let (count, bytes) = (lines.len(), lines.body_len());
    let unpacked = direct_put::unpack(stream, lines.into(), &mut claim).await?;
    if unpacked.taken < count {
        // One body is taken whole or not at all: it must be sent smaller.
        return Err(ApiError::new(
            ErrorKind::TooLarge,
            format!(
                "the body's records unpack to more than {} bytes (server.max_decoded_body_mb); send fewer per request",
                stream.unpacking().map_or(0, |u| u.cap())
            ),
        ));
    }
    ingest(stream, unpacked.records).await?;
    telemetry::put_request(stream.name(), "PutNdjson");
    Ok((count, bytes))
}
