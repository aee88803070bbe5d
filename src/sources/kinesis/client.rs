//! The few Kinesis Data Streams calls a consumer needs (ListShards,
//! GetShardIterator, GetRecords), over the JSON 1.1 protocol, signed with SigV4.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::aws::credentials::StaticKeys;

const TARGET_PREFIX: &str = "Kinesis_20131202.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TIMEOUT: Duration = Duration::from_secs(30);

/// A failed call: Kinesis's error type (`ProvisionedThroughputExceededException`,
/// `ExpiredIteratorException`, ...) or the transport's.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct KinesisError {
    pub kind: String,
    pub message: String,
}

impl KinesisError {
    fn transport(message: impl Into<String>) -> Self {
        Self {
            kind: "ConnectionFailed".into(),
            message: message.into(),
        }
    }

    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

/// A shard as `ListShards` gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Shard {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
    pub adjacent_parent_shard_id: Option<String>,
}

/// A record as `GetRecords` gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KinesisRecord {
    #[serde(with = "base64_data")]
    pub data: Vec<u8>,
    pub partition_key: String,
    pub sequence_number: String,
    /// Epoch seconds (with a fraction).
    pub approximate_arrival_timestamp: Option<f64>,
}

/// A `GetRecords` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Records {
    pub records: Vec<KinesisRecord>,
    /// `None` once a closed shard has been read to its end.
    pub next_shard_iterator: Option<String>,
    #[serde(default)]
    pub millis_behind_latest: Option<u64>,
}

/// Where a shard iterator starts.
#[derive(Debug, Clone)]
pub enum IteratorStart {
    TrimHorizon,
    Latest,
    AtTimestamp(f64),
    At(String),
    After(String),
}

/// A signed Kinesis client for one stream.
pub struct KinesisClient {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    region: String,
    keys: StaticKeys,
    stream: String,
}

impl KinesisClient {
    pub fn new(
        endpoint: &str,
        region: &str,
        keys: StaticKeys,
        stream: &str,
    ) -> Result<Self, String> {
        let url =
            reqwest::Url::parse(endpoint).map_err(|e| format!("endpoint `{endpoint}`: {e}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return Err(format!("endpoint `{endpoint}` has no host")),
        };
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string() + "/",
            host,
            region: region.to_string(),
            keys,
            stream: stream.to_string(),
        })
    }

    /// Every shard of the stream (all pages).
    pub async fn list_shards(&self) -> Result<Vec<Shard>, KinesisError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Page {
            shards: Vec<Shard>,
            next_token: Option<String>,
        }
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let body = match &token {
                Some(t) => json!({ "NextToken": t }),
                None => json!({ "StreamName": self.stream }),
            };
            let page: Page = self.call("ListShards", body).await?;
            shards.extend(page.shards);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(shards),
            }
        }
    }

    pub async fn shard_iterator(
        &self,
        shard: &str,
        start: &IteratorStart,
    ) -> Result<String, KinesisError> {
        let mut body = json!({ "StreamName": self.stream, "ShardId": shard });
        let kind = match start {
            IteratorStart::TrimHorizon => "TRIM_HORIZON",
            IteratorStart::Latest => "LATEST",
            IteratorStart::AtTimestamp(t) => {
                body["Timestamp"] = json!(t);
                "AT_TIMESTAMP"
            }
            IteratorStart::At(seq) => {
                body["StartingSequenceNumber"] = json!(seq);
                "AT_SEQUENCE_NUMBER"
            }
            IteratorStart::After(seq) => {
                body["StartingSequenceNumber"] = json!(seq);
                "AFTER_SEQUENCE_NUMBER"
            }
        };
        body["ShardIteratorType"] = json!(kind);
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            shard_iterator: String,
        }
        let answer: Answer = self.call("GetShardIterator", body).await?;
        Ok(answer.shard_iterator)
    }

    pub async fn get_records(&self, iterator: &str, limit: u32) -> Result<Records, KinesisError> {
        self.call(
            "GetRecords",
            json!({ "ShardIterator": iterator, "Limit": limit }),
        )
        .await
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        body: Value,
    ) -> Result<T, KinesisError> {
        let body = serde_json::to_vec(&body).map_err(|e| KinesisError::transport(e.to_string()))?;
        let target = format!("{TARGET_PREFIX}{operation}");
        let headers = [
            ("content-type", CONTENT_TYPE),
            ("x-amz-target", target.as_str()),
            ("host", self.host.as_str()),
        ];
        let signed = self.sign(&headers, &body)?;
        let mut request = self.http.post(&self.endpoint).body(body);
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            request = request.header(*name, *value);
        }
        for (name, value) in &signed {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| KinesisError::transport(format!("{}: {e}", self.endpoint)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| KinesisError::transport(e.to_string()))?;
        if !status.is_success() {
            return Err(error_of(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| KinesisError {
            kind: "SerializationException".into(),
            message: format!("{operation} answer: {e}"),
        })
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`, ...) for a request.
    fn sign(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, KinesisError> {
        let failed = |e: String| KinesisError {
            kind: "SigningFailed".into(),
            message: e,
        };
        let identity = Credentials::new(
            &self.keys.access_key_id,
            self.keys.secret_access_key.expose(),
            self.keys
                .session_token
                .as_ref()
                .map(|t| t.expose().to_string()),
            None,
            "sluice",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kinesis")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(e.to_string()))?
            .into();
        let request = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(e.to_string()))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| failed(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect())
    }
}

/// Kinesis's error answer: `{"__type": "...#Kind", "message": "..."}`.
fn error_of(status: u16, body: &[u8]) -> KinesisError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let kind = value["__type"]
        .as_str()
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| format!("HTTP{status}"));
    let message = value["message"]
        .as_str()
        .or(value["Message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    KinesisError { kind, message }
}

mod base64_data {
    use base64::Engine;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}
