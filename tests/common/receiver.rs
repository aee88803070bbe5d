//! A receiver of Firehose's HTTP delivery protocol in the test process: it checks
//! every request strictly (headers, body, request ids, gzip, limits) and answers as
//! scripted, then in its standing mode (success unless a test changes it).

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

use super::Daemon;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// How the receiver answers the next request.
#[derive(Clone, Copy)]
pub enum Reply {
    Ok,
    Status(u16),
    WrongRequestId,
    Slow(Duration),
    /// 200 with the right JSON, but `Content-Type: text/plain`.
    TextPlain,
    /// 200 with JSON that has no `timestamp`.
    NoTimestamp,
    /// 200 with a body that is not JSON.
    NotJson,
}

/// A request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub request_id: String,
    pub headers: Vec<(String, String)>,
    pub query: Option<String>,
    pub gzip: bool,
    pub records: Vec<Vec<u8>>,
    /// Answered with a success that conforms (the daemon counts it delivered).
    pub accepted: bool,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Log {
    seen: Vec<Seen>,
    violations: Vec<String>,
    script: VecDeque<Reply>,
    /// How requests are answered once the script is done.
    mode: Option<Reply>,
}

pub struct Receiver {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// Starts a receiver that answers with `script`, then with success.
    pub fn start(script: &[Reply]) -> Self {
        let log = Arc::new(Mutex::new(Log {
            script: script.iter().copied().collect(),
            ..Log::default()
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/ingest", post(receive))
            .with_state(log.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            log,
            _runtime: runtime,
        }
    }

    /// Answers every request from now on with `mode` (after the script).
    pub fn set_mode(&self, mode: Reply) {
        self.log.lock().unwrap().mode = Some(mode);
    }

    pub fn url(&self) -> String {
        format!("http://{}/ingest?source=sluice", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        let log = self.log.lock().unwrap();
        assert!(
            log.violations.is_empty(),
            "protocol violations: {:?}",
            log.violations
        );
        log.seen.clone()
    }

    pub fn wait_for(&self, n: usize, d: &Daemon) -> Vec<Seen> {
        super::eventually(
            Duration::from_secs(60),
            || format!("{n} requests, seen {}:\n{}", self.seen().len(), d.log()),
            || Some(self.seen()).filter(|seen| seen.len() >= n),
        )
    }
}

/// Checks one request against the protocol and answers as scripted.
async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut violations = Vec::new();
    let gzip = header("content-encoding").as_deref() == Some("gzip");
    let raw = if gzip {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_err()
        {
            violations.push("Content-Encoding gzip but the body is not gzip".to_string());
        }
        out
    } else {
        body.to_vec()
    };
    let parsed: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let request_id = header("x-amz-firehose-request-id").unwrap_or_default();
    if header("content-type").as_deref() != Some("application/json") {
        violations.push(format!("Content-Type {:?}", header("content-type")));
    }
    if header("x-amz-firehose-protocol-version").as_deref() != Some("1.0") {
        violations.push("no X-Amz-Firehose-Protocol-Version: 1.0".into());
    }
    if parsed["requestId"].as_str() != Some(request_id.as_str()) || request_id.is_empty() {
        violations.push(format!(
            "body requestId {} vs header {request_id}",
            parsed["requestId"]
        ));
    }
    if !parsed["timestamp"].is_i64() {
        violations.push("timestamp is not a number".into());
    }
    let records: Vec<Vec<u8>> = parsed["records"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["data"].as_str().and_then(|d| B64.decode(d).ok()))
                .collect()
        })
        .unwrap_or_default();
    if records.is_empty() || records.len() != parsed["records"].as_array().map_or(0, Vec::len) {
        violations.push("records missing or not base64".into());
    }
    if records.len() > 10_000 || raw.len() > 64 * 1024 * 1024 {
        violations.push(format!(
            "{} records, {} bytes: over Firehose's limits",
            records.len(),
            raw.len()
        ));
    }
    let reply = {
        let mut log = log.lock().unwrap();
        log.violations.extend(violations);
        log.seen.push(Seen {
            request_id: request_id.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            query,
            gzip,
            records,
            accepted: false,
        });
        let reply = log
            .script
            .pop_front()
            .unwrap_or(log.mode.unwrap_or(Reply::Ok));
        if let (Reply::Ok | Reply::Slow(_), Some(seen)) = (reply, log.seen.last_mut()) {
            seen.accepted = true;
        }
        reply
    };
    const JSON: [(&str, &str); 1] = [("content-type", "application/json")];
    let ok = |id: &str| {
        (
            StatusCode::OK,
            JSON,
            json!({ "requestId": id, "timestamp": 1 }).to_string(),
        )
    };
    match reply {
        Reply::Ok => ok(&request_id),
        Reply::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            JSON,
            json!({ "requestId": request_id, "timestamp": 1, "errorMessage": "try later" })
                .to_string(),
        ),
        Reply::WrongRequestId => ok("not-the-request-id"),
        Reply::Slow(wait) => {
            // A slow endpoint: the delay is the answer the test scripted.
            tokio::time::sleep(wait).await;
            ok(&request_id)
        }
        Reply::TextPlain => {
            let (status, _, body) = ok(&request_id);
            (status, [("content-type", "text/plain")], body)
        }
        Reply::NoTimestamp => (
            StatusCode::OK,
            JSON,
            json!({ "requestId": request_id }).to_string(),
        ),
        Reply::NotJson => (StatusCode::OK, JSON, "<html>ok</html>".to_string()),
    }
}
