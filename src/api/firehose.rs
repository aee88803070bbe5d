//! `POST /` with `X-Amz-Target: Firehose_20150804.<Operation>`: the data plane
//! (`PutRecord`, `PutRecordBatch`) and dispatch to the control plane.
//!
//! Checks run in Firehose's order: JSON and base64 first (`SerializationException`),
//! then constraints (`ValidationException`: ≤ 500 records, ≤ 1,024,000 bytes each),
//! then the 4 MiB aggregate (`InvalidArgumentException`), then the stream's existence.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;

use super::body::{self, BodyError};
use super::error::{ApiError, ErrorKind};
use super::streams::{check_stream_name, find_put_stream, null_violation};
use super::{AMZ_JSON, ApiState, Caller, control, request_id_header};
use crate::record::{Record, now_ms};
use crate::sources::direct_put::{self, Claim};
use crate::telemetry;

pub use crate::record::MAX_RECORD_BYTES;
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

const TARGET_PREFIX: &str = "Firehose_20150804.";

/// Standard base64, accepting data with or without padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Control-plane operations of Firehose that a config-driven daemon does not offer.
const CONFIG_DEFINED_OPERATIONS: &[&str] = &[
    "CreateDeliveryStream",
    "DeleteDeliveryStream",
    "UpdateDestination",
    "TagDeliveryStream",
    "UntagDeliveryStream",
    "StartDeliveryStreamEncryption",
    "StopDeliveryStreamEncryption",
];

pub async fn handle(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let caller = match body::check_headers(&state, &request) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let result = match target.strip_prefix(TARGET_PREFIX) {
        None => Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!(
                "unknown operation `{target}`: X-Amz-Target must be Firehose_20150804.<Operation>"
            ),
        )),
        Some(op) => {
            let mut claim = state.budget.claim();
            match body::read_body(&state, &headers, request, &caller, &mut claim).await {
                Err(BodyError::TooLarge) => Err(too_large(op)),
                Err(BodyError::Broken(e)) => Err(ApiError::serialization(e)),
                Err(BodyError::Api(e)) => Err(e),
                // Decoding the records' base64 holds up to the body's size again.
                Ok(body) => match claim.grow(body.len()).await {
                    Ok(()) => dispatch(&state, &caller, op, &body, &mut claim).await,
                    Err(e) => Err(e.into()),
                },
            }
        }
    };
    match result {
        Ok(json) => {
            let mut response = (StatusCode::OK, json).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
            h.insert("x-amzn-RequestId", request_id_header());
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    state: &ApiState,
    caller: &Caller,
    op: &str,
    body: &[u8],
    claim: &mut Claim<'_>,
) -> Result<String, ApiError> {
    match op {
        "PutRecordBatch" => put_record_batch(state, caller, body, claim).await,
        "PutRecord" => put_record(state, caller, body, claim).await,
        "ListDeliveryStreams" => control::list(state, caller, body),
        "DescribeDeliveryStream" => control::describe(state, caller, body),
        "ListTagsForDeliveryStream" => control::list_tags(state, caller, body),
        op if CONFIG_DEFINED_OPERATIONS.contains(&op) => Err(ApiError::new(
            ErrorKind::InvalidArgument,
            format!(
                "{op} is not supported: Sluice's delivery streams are defined in its configuration file"
            ),
        )),
        op => Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!("unknown operation `{op}`"),
        )),
    }
}

/// A body over `MAX_BODY_BYTES` is necessarily over Firehose's limits.
fn too_large(op: &str) -> ApiError {
    match op {
        "PutRecord" => ApiError::validation(&[format!(
            "Value at 'record.data' failed to satisfy constraint: Member must have length less than or equal to {MAX_RECORD_BYTES}"
        )]),
        _ => ApiError::new(
            ErrorKind::InvalidArgument,
            "Records size exceeds 4 MB limit",
        ),
    }
}

#[derive(Deserialize)]
struct RecordInput<'a> {
    #[serde(rename = "Data", borrow, default)]
    data: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PutRecordInput<'a> {
    #[serde(rename = "DeliveryStreamName", borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(rename = "Record", borrow, default)]
    record: Option<RecordInput<'a>>,
}

#[derive(Deserialize)]
struct PutRecordBatchInput<'a> {
    #[serde(rename = "DeliveryStreamName", borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<RecordInput<'a>>>,
}

async fn put_record(
    state: &ApiState,
    caller: &Caller,
    body: &[u8],
    claim: &mut Claim<'_>,
) -> Result<String, ApiError> {
    let input: PutRecordInput = serde_json::from_slice(body).map_err(ApiError::serialization)?;
    let mut violations = Vec::new();
    check_stream_name(input.stream.as_deref(), &mut violations);
    let records = match &input.record {
        None => {
            violations.push(null_violation("record"));
            Vec::new()
        }
        Some(r) => decode(std::slice::from_ref(r), "record", &mut violations)?,
    };
    if !violations.is_empty() {
        return Err(ApiError::validation(&violations));
    }
    let name = input.stream.as_deref().unwrap_or_default();
    state.auth.load().allows(caller.as_ref(), name)?;
    let stream = &find_put_stream(state, name)?;
    // One record is within the cap: it unpacks whole, or is refused whole.
    let unpacked = direct_put::unpack(stream, records.into(), claim).await?;
    direct_put::ingest(stream, unpacked.records).await?;
    telemetry::put_request(stream.name(), "PutRecord");
    let mut out = String::with_capacity(96);
    out.push_str("{\"RecordId\":\"");
    state
        .record_ids
        .write(&mut out, state.record_ids.reserve(1));
    out.push_str("\",\"Encrypted\":false}");
    Ok(out)
}

async fn put_record_batch(
    state: &ApiState,
    caller: &Caller,
    body: &[u8],
    claim: &mut Claim<'_>,
) -> Result<String, ApiError> {
    let input: PutRecordBatchInput =
        serde_json::from_slice(body).map_err(ApiError::serialization)?;
    let mut violations = Vec::new();
    check_stream_name(input.stream.as_deref(), &mut violations);
    let records = match &input.records {
        None => {
            violations.push(null_violation("records"));
            Vec::new()
        }
        Some(list) if list.is_empty() => {
            violations.push(
                "Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
            );
            Vec::new()
        }
        Some(list) => {
            if list.len() > MAX_BATCH_RECORDS {
                violations.push(format!(
                    "Value '[{} records]' at 'records' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_RECORDS}",
                    list.len()
                ));
            }
            decode(list, "records", &mut violations)?
        }
    };
    if !violations.is_empty() {
        return Err(ApiError::validation(&violations));
    }
    let total: usize = records.iter().map(|r| r.data.len()).sum();
    if total > MAX_BATCH_BYTES {
        return Err(ApiError::new(
            ErrorKind::InvalidArgument,
            "Records size exceeds 4 MB limit",
        ));
    }
    let name = input.stream.as_deref().unwrap_or_default();
    state.auth.load().allows(caller.as_ref(), name)?;
    let stream = &find_put_stream(state, name)?;
    let count = records.len();
    let unpacked = direct_put::unpack(stream, records.into(), claim).await?;
    let taken = unpacked.taken;
    direct_put::ingest(stream, unpacked.records).await?;
    telemetry::put_request(stream.name(), "PutRecordBatch");
    let first = state.record_ids.reserve(taken);
    let mut out = String::with_capacity(64 + count * 64);
    out.push_str("{\"FailedPutCount\":");
    out.push_str(&(count - taken).to_string());
    out.push_str(",\"Encrypted\":false,\"RequestResponses\":[");
    for i in 0..count {
        if i > 0 {
            out.push(',');
        }
        if i >= taken {
            // What the taken records unpacked to filled the cap: the producer
            // sends these again, as after any throttled record.
            out.push_str(
                "{\"ErrorCode\":\"ServiceUnavailableException\",\"ErrorMessage\":\"Slow down.\"}",
            );
            continue;
        }
        out.push_str("{\"RecordId\":\"");
        state.record_ids.write(&mut out, first + i as u64);
        out.push_str("\"}");
    }
    out.push_str("]}");
    Ok(out)
}

/// Decodes every record's base64 into one allocation that the records share.
/// Bad base64 is a `SerializationException`; size violations are collected.
fn decode(
    inputs: &[RecordInput<'_>],
    path: &str,
    violations: &mut Vec<String>,
) -> Result<Vec<Record>, ApiError> {
    let single = inputs.len() == 1 && path == "record";
    let estimate: usize = inputs
        .iter()
        .map(|r| r.data.as_ref().map_or(0, |d| d.len() / 4 * 3 + 3))
        .sum();
    let mut buf = Vec::with_capacity(estimate);
    let mut ends = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let member = if single {
            format!("{path}.data")
        } else {
            format!("{path}.{}.member.data", i + 1)
        };
        let Some(data) = &input.data else {
            violations.push(null_violation(&member));
            ends.push(buf.len());
            continue;
        };
        let start = buf.len();
        BASE64
            .decode_vec(data.as_bytes(), &mut buf)
            .map_err(|e| ApiError::serialization(format!("invalid base64 in '{member}': {e}")))?;
        let len = buf.len() - start;
        if len > MAX_RECORD_BYTES {
            violations.push(format!(
                "Value 'java.nio.HeapByteBuffer[pos=0 lim={len} cap={len}]' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {MAX_RECORD_BYTES}"
            ));
        }
        ends.push(buf.len());
    }
    let shared = Bytes::from(buf);
    let arrival = now_ms();
    let mut start = 0;
    Ok(ends
        .into_iter()
        .map(|end| {
            let record = Record::new(shared.slice(start..end), arrival);
            start = end;
            record
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::Strategy as _;

    use super::*;

    proptest::proptest! {
        /// Any `Data` string decodes or is refused as `SerializationException`,
        /// never a panic; valid base64 gives back exactly its bytes, each record
        /// its own.
        #[test]
        fn any_data_decodes_or_is_refused(
            datas in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)
                        .prop_map(|b| (BASE64.encode(&b), Some(b))),
                    "[A-Za-z0-9+/=\\-_ ]{0,40}".prop_map(|s| (s, None)),
                ],
                1..10,
            ),
        ) {
            let inputs: Vec<RecordInput<'_>> = datas
                .iter()
                .map(|(s, _)| RecordInput { data: Some(Cow::Borrowed(s.as_str())) })
                .collect();
            let mut violations = Vec::new();
            match decode(&inputs, "records", &mut violations) {
                Ok(records) => {
                    proptest::prop_assert_eq!(records.len(), datas.len());
                    for (record, (text, bytes)) in records.iter().zip(&datas) {
                        let want = match bytes {
                            Some(b) => b.clone(),
                            None => BASE64.decode(text).unwrap_or_default(),
                        };
                        proptest::prop_assert_eq!(&record.data[..], &want[..]);
                    }
                }
                Err(e) => {
                    proptest::prop_assert!(datas.iter().any(|(s, _)| BASE64.decode(s).is_err()), "{e:?}");
                }
            }
            proptest::prop_assert!(violations.is_empty());
        }
    }
}
