//! Firehose's HTTP endpoint delivery protocol (contract §9): one `POST` per request
//! body, and success only on HTTP 200 with a JSON answer echoing the request id.
//! Anything else is a failure with Firehose's error code, retried by the stream.
//! The client sends one request; `super::HttpEndpoint` splits batches into them.

use std::time::Duration;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue};

use super::HttpDestination;
use crate::sinks::{FailureKind, Object, SinkError};

/// The largest answer read (Firehose's limit).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends request bodies to an HTTP endpoint.
pub struct HttpClient {
    client: reqwest::Client,
    url: String,
    /// Headers every request carries: protocol version, source ARN, access key,
    /// common attributes.
    headers: HeaderMap,
}

fn invalid(message: String) -> SinkError {
    SinkError {
        kind: FailureKind::Configuration,
        code: "HttpEndpoint.InvalidConfiguration".into(),
        message,
    }
}

impl HttpClient {
    /// `source_arn` identifies the delivery stream to the receiver.
    pub fn new(config: &HttpDestination, source_arn: &str) -> Result<Self, SinkError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.request_timeout_seconds))
            .connect_timeout(CONNECT_TIMEOUT)
            // Firehose does not follow redirects: a 3xx is a failed delivery.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| invalid(format!("ca_file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| invalid(format!("ca_file {}: {e}", path.display())))?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder
            .build()
            .map_err(|e| invalid(format!("http client: {e}")))?;
        let mut headers = HeaderMap::new();
        let value =
            |v: &str| HeaderValue::from_str(v).map_err(|e| invalid(format!("header value: {e}")));
        headers.insert(
            "X-Amz-Firehose-Protocol-Version",
            HeaderValue::from_static("1.0"),
        );
        headers.insert("X-Amz-Firehose-Source-Arn", value(source_arn)?);
        if let Some(key) = &config.access_key {
            let mut key = value(key.expose())?;
            key.set_sensitive(true);
            headers.insert("X-Amz-Firehose-Access-Key", key);
        }
        let attributes = serde_json::json!({ "commonAttributes": config.common_attributes });
        headers.insert(
            "X-Amz-Firehose-Common-Attributes",
            value(&attributes.to_string())?,
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Self {
            client,
            url: config.url.clone(),
            headers,
        })
    }

    /// Posts one request body (`object.key` is its request id).
    pub async fn send(&self, object: Object) -> Result<(), SinkError> {
        let mut request = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header("X-Amz-Firehose-Request-Id", &object.key);
        if let Some(encoding) = object.content_encoding {
            request = request.header(CONTENT_ENCODING, encoding);
        }
        let mut response = request
            .body(object.body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(failure(
                    "HttpEndpoint.ResponseTooLarge",
                    format!("the endpoint's answer is over {MAX_RESPONSE_BYTES} bytes"),
                ));
            }
        }
        let text = String::from_utf8_lossy(&body);
        if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
            return Err(SinkError {
                kind: FailureKind::Permanent,
                code: "HttpEndpoint.DestinationException".into(),
                message: format!(
                    "Received the following response from the endpoint destination. 413: {text}"
                ),
            });
        }
        if status != reqwest::StatusCode::OK {
            return Err(failure(
                "HttpEndpoint.DestinationException",
                format!(
                    "Received the following response from the endpoint destination. {}: {text}",
                    status.as_u16()
                ),
            ));
        }
        check_answer(content_type.as_deref(), &body, &object.key)
    }
}

/// Whether a 200 answer conforms (contract §9.3): `Content-Type: application/json`
/// and a JSON body with the request's `requestId` and a numeric `timestamp`.
/// Anything else is treated as a failed attempt, as Firehose treats it.
fn check_answer(
    content_type: Option<&str>,
    body: &[u8],
    request_id: &str,
) -> Result<(), SinkError> {
    let text = String::from_utf8_lossy(body);
    let invalid = |why: String| {
        failure(
            "HttpEndpoint.InvalidResponseFromDestination",
            format!("{why}: {text}"),
        )
    };
    let media_type = content_type
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !media_type.is_some_and(|t| t.eq_ignore_ascii_case("application/json")) {
        return Err(invalid(format!(
            "the answer's Content-Type is {content_type:?}, not application/json"
        )));
    }
    let answer: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the answer is not JSON ({e})")))?;
    match answer["requestId"].as_str() {
        Some(id) if id == request_id => {}
        other => {
            return Err(invalid(format!(
                "the answer's requestId is {other:?}, not the request's {request_id}"
            )));
        }
    }
    if !answer["timestamp"].is_number() {
        return Err(invalid("the answer has no numeric timestamp".into()));
    }
    Ok(())
}

fn failure(code: &str, message: String) -> SinkError {
    SinkError {
        kind: FailureKind::Transient,
        code: code.into(),
        message,
    }
}

fn transport_error(e: &reqwest::Error) -> SinkError {
    let code = if e.is_timeout() {
        "HttpEndpoint.RequestTimeout"
    } else if e.is_connect() {
        "HttpEndpoint.ConnectionFailed"
    } else {
        "HttpEndpoint.ConnectionReset"
    };
    // The source chain holds the useful part (connection refused, timed out).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    failure(code, message)
}

impl HttpClient {
    /// The endpoint's URL, for logs.
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (seams issue, case 6): a 200 counts only with a JSON content
    /// type, the request's id and a timestamp.
    #[test]
    fn only_a_conforming_answer_counts_as_delivered() {
        let ok = br#"{"requestId":"r1","timestamp":1578090903599}"#;
        assert!(check_answer(Some("application/json"), ok, "r1").is_ok());
        assert!(check_answer(Some("Application/JSON; charset=utf-8"), ok, "r1").is_ok());
        for (content_type, body, why) in [
            (None, &ok[..], "Content-Type"),
            (Some("text/plain"), &ok[..], "Content-Type"),
            (
                Some("application/json"),
                &br#"{"requestId":"r1"}"#[..],
                "timestamp",
            ),
            (
                Some("application/json"),
                &br#"{"requestId":"r1","timestamp":"soon"}"#[..],
                "timestamp",
            ),
            (
                Some("application/json"),
                &br#"{"requestId":"r2","timestamp":1}"#[..],
                "requestId",
            ),
            (Some("application/json"), &b"ok"[..], "not JSON"),
        ] {
            let e = check_answer(content_type, body, "r1").unwrap_err();
            assert_eq!(e.code, "HttpEndpoint.InvalidResponseFromDestination");
            assert_eq!(e.kind, FailureKind::Transient);
            assert!(e.message.contains(why), "{content_type:?}: {}", e.message);
        }
    }
}
