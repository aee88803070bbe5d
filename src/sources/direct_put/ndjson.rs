//! `POST /delivery-streams/{name}/records`: one record per line, for clients without
//! an AWS SDK (`curl --data-binary @events.ndjson`). Each line keeps its newline, the
//! record delimiter; blank lines are skipped. The body is accepted as a whole or not
//! at all.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiState;
use super::error::{ApiError, ErrorKind};
use super::firehose::{MAX_RECORD_BYTES, find_put_stream, ingest};
use crate::record::{Record, now_ms};
use crate::telemetry;

pub async fn handle(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match put_lines(&state, &name, &headers, body).await {
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
    body: Result<Bytes, BytesRejection>,
) -> Result<(usize, usize), ApiError> {
    let stream = find_put_stream(state, name)?;
    let body = body.map_err(|rejection| {
        ApiError::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} (at most {} bytes per request)",
                rejection.body_text(),
                super::MAX_BODY_BYTES
            ),
        )
    })?;
    let body = super::decoded_body(state, headers, body).await?;
    let records = split_lines(&body, now_ms())?;
    let count = records.len();
    ingest(stream, records).await?;
    telemetry::put_request(stream.name(), "PutNdjson");
    Ok((count, body.len()))
}

/// Splits `body` into one record per line, each keeping its `\n`.
fn split_lines(body: &Bytes, arrival_ms: i64) -> Result<Vec<Record>, ApiError> {
    let mut records = Vec::new();
    let mut start = 0;
    let mut line_no = 0;
    while start < body.len() {
        line_no += 1;
        let end = memchr_newline(&body[start..]).map_or(body.len(), |i| start + i + 1);
        let line = body.slice(start..end);
        start = end;
        if line.iter().all(|b| matches!(b, b'\n' | b'\r')) {
            continue;
        }
        if line.len() > MAX_RECORD_BYTES {
            return Err(ApiError::validation(&[format!(
                "line {line_no} is {} bytes; a record must have length less than or equal to {MAX_RECORD_BYTES}",
                line.len()
            )]));
        }
        records.push(Record::new(line, arrival_ms));
    }
    Ok(records)
}

fn memchr_newline(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any body splits into its non-blank lines, each keeping its newline:
        /// together they are the body without its blank lines.
        #[test]
        fn any_body_splits_into_its_non_blank_lines(
            body in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\n', b'\r', 0xff, 0]), 0..300),
        ) {
            let records = split_lines(&Bytes::from(body.clone()), 1).unwrap();
            let blank = |l: &[u8]| l.iter().all(|b| matches!(b, b'\n' | b'\r'));
            let want: Vec<u8> = body
                .split_inclusive(|&b| b == b'\n')
                .filter(|l| !blank(l))
                .flatten()
                .copied()
                .collect();
            let got: Vec<u8> = records.iter().flat_map(|r| r.data.iter().copied()).collect();
            proptest::prop_assert_eq!(got, want);
            for r in &records {
                proptest::prop_assert!(!blank(&r.data));
                let inner = &r.data[..r.data.len() - 1];
                proptest::prop_assert!(!inner.contains(&b'\n'), "one line per record");
            }
        }
    }

    #[test]
    fn lines_keep_their_newline_and_blank_lines_are_skipped() {
        let body = Bytes::from_static(b"{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}");
        let records = split_lines(&body, 7).unwrap();
        let data: Vec<&[u8]> = records.iter().map(|r| &r.data[..]).collect();
        assert_eq!(
            data,
            vec![&b"{\"a\":1}\n"[..], b"{\"a\":2}\r\n", b"{\"a\":3}"]
        );
    }

    #[test]
    fn an_oversized_line_is_refused_with_its_number() {
        let mut body = b"ok\n".to_vec();
        body.extend(vec![b'x'; MAX_RECORD_BYTES + 1]);
        let err = split_lines(&Bytes::from(body), 0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Validation);
        assert!(err.message.contains("line 2"), "{}", err.message);
    }
}
