//! Firehose's HTTP endpoint request bodies: `{"requestId", "timestamp", "records":
//! [{"data": <base64>}]}`, at most 10,000 records and 64 MiB (before compression)
//! each, so a large batch becomes several requests.

use std::ops::Range;

use base64::Engine;
use uuid::Uuid;

use crate::encode::EncodeError;

/// Firehose's limits on one request.
pub const MAX_RECORDS: usize = 10_000;
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One request: its id, body, and which of the batch's records it carries.
#[derive(Debug, Clone)]
pub struct Request {
    pub request_id: String,
    pub body: Vec<u8>,
    pub records: Range<usize>,
}

/// The request id of the `index`-th request of a batch: derived from the batch's
/// UUID, so retries and re-deliveries after a restart reuse it and the receiver
/// can drop duplicates.
pub fn request_id(batch: Uuid, index: usize) -> String {
    Uuid::from_u128(batch.as_u128() ^ index as u128).to_string()
}

/// Splits records (`data` cut at `ends`) into requests; `gzip` compresses bodies
/// at `level`. `timestamp_ms` is the time written into every body.
pub fn encode(
    data: &[u8],
    ends: &[usize],
    batch: Uuid,
    timestamp_ms: i64,
    gzip: Option<u32>,
) -> Result<Vec<Request>, EncodeError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut requests = Vec::new();
    let mut first = 0;
    while first < ends.len() || (first == 0 && ends.is_empty()) {
        let request_id = request_id(batch, requests.len());
        let mut body =
            format!("{{\"requestId\":\"{request_id}\",\"timestamp\":{timestamp_ms},\"records\":[")
                .into_bytes();
        let mut last = first;
        while last < ends.len() && last - first < MAX_RECORDS {
            let start = if last == 0 { 0 } else { ends[last - 1] };
            let record = &data[start..ends[last]];
            let encoded_len = record.len().div_ceil(3) * 4 + 12;
            if last > first && body.len() + encoded_len + 2 > MAX_BODY_BYTES {
                break;
            }
            if last > first {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"data\":\"");
            body.extend_from_slice(b64.encode(record).as_bytes());
            body.extend_from_slice(b"\"}");
            last += 1;
        }
        body.extend_from_slice(b"]}");
        if let Some(level) = gzip {
            body = crate::encode::compression::gzip(&body, level)?;
        }
        requests.push(Request {
            request_id,
            body,
            records: first..last,
        });
        if ends.is_empty() {
            break;
        }
        first = last;
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(sizes: &[usize]) -> Vec<usize> {
        sizes
            .iter()
            .scan(0, |at, n| {
                *at += n;
                Some(*at)
            })
            .collect()
    }

    #[test]
    fn bodies_follow_the_protocol_and_split_at_10000_records() {
        let data = vec![b'a'; 12_000];
        let id = Uuid::new_v4();
        let requests = encode(&data, &ends(&[1; 12_000]), id, 42, None).unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            (requests[0].records.clone(), requests[1].records.clone()),
            (0..10_000, 10_000..12_000)
        );
        let body: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
        assert_eq!(body["requestId"], requests[1].request_id);
        assert_eq!(body["timestamp"], 42);
        assert_eq!(body["records"].as_array().unwrap().len(), 2_000);
        assert_eq!(body["records"][0]["data"], "YQ==");
        assert_ne!(requests[0].request_id, requests[1].request_id);
        assert_eq!(requests[0].request_id, request_id(id, 0));
    }

    #[test]
    fn bodies_stay_under_64_mib() {
        // 60 records of 1 MB: base64 makes each 1.33 MB, so 48 fit in 64 MiB.
        let data = vec![b'z'; 60 * 1_000_000];
        let requests = encode(&data, &ends(&[1_000_000; 60]), Uuid::new_v4(), 0, None).unwrap();
        assert_eq!(requests.len(), 2);
        assert!(requests.iter().all(|r| r.body.len() <= MAX_BODY_BYTES));
        assert_eq!(requests[0].records.end + requests[1].records.len(), 60);
    }
}
