//! Talking to the daemon: plain HTTP/1.1 and the Firehose API's JSON operations.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub const FIREHOSE_TARGET: &str = "Firehose_20150804";

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 request (one connection, closed after the answer).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Calls a Firehose operation with a raw JSON body.
pub fn firehose(addr: SocketAddr, op: &str, body: &str) -> Reply {
    try_firehose(addr, op, body).expect("request to sluice")
}

/// As `firehose`, with a connection failure returned rather than panicked on.
pub fn try_firehose(addr: SocketAddr, op: &str, body: &str) -> std::io::Result<Reply> {
    let target = format!("{FIREHOSE_TARGET}.{op}");
    http(
        addr,
        "POST",
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body.as_bytes(),
    )
}

/// Puts `records` with PutRecordBatch (each base64-encoded); true only if every
/// one was acknowledged (a refused connection is false, not a panic).
pub fn put_batch(addr: SocketAddr, stream: &str, records: &[String]) -> bool {
    let reply = try_firehose(addr, "PutRecordBatch", &batch_body(stream, records));
    matches!(reply, Ok(r) if r.status == 200 && r.json()["FailedPutCount"] == serde_json::json!(0))
}

/// A PutRecordBatch body of `records` (each base64-encoded).
pub fn batch_body(stream: &str, records: &[String]) -> String {
    use base64::Engine;
    let recs: Vec<_> = records
        .iter()
        .map(|r| serde_json::json!({ "Data": base64::engine::general_purpose::STANDARD.encode(r) }))
        .collect();
    serde_json::json!({ "DeliveryStreamName": stream, "Records": recs }).to_string()
}

/// `n` JSON records, one a line: `{"<tag>":<i>}`.
pub fn json_lines(n: usize, tag: &str) -> Vec<String> {
    (0..n).map(|i| format!("{{\"{tag}\":{i}}}\n")).collect()
}
