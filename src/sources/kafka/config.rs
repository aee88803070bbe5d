//! The Kafka source's settings and checks.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};

use super::KafkaTail;
use crate::config::{ConfigError, ServerConfig};
use crate::pipeline::StreamHandle;
use crate::sources::settings::SourceKind;
use crate::sources::{Context, Source};

/// How long the broker waits for a member that stopped answering before it
/// gives its partitions to the others. librdkafka's own default (45 s) keeps a
/// crashed instance's partitions unread for over a minute; 10 s moves them in
/// seconds without taking a slow garbage-collecting broker for a dead member.
const DEFAULT_SESSION_TIMEOUT_MS: u64 = 10_000;
/// How often the offsets of what is in the spool are committed.
const DEFAULT_COMMIT_INTERVAL_MS: u64 = 1_000;

/// `source = { type = "kafka", ... }`: a topic read by a consumer group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSource {
    /// `host:port` of one or more brokers.
    pub bootstrap_servers: Vec<String>,
    pub topic: String,
    /// The consumer group: instances with the same `group_id` share the
    /// topic's partitions.
    pub group_id: String,
    /// Where a partition with no committed offset starts.
    #[serde(default)]
    pub start: StartPosition,
    /// TLS to the brokers (MSK's TLS listener).
    pub tls: Option<KafkaTls>,
    /// SASL authentication (MSK's SCRAM listener): PLAIN, SCRAM-SHA-256 or
    /// SCRAM-SHA-512.
    pub sasl: Option<KafkaSasl>,
    /// See [`DEFAULT_SESSION_TIMEOUT_MS`].
    #[serde(default = "default_session_timeout")]
    pub session_timeout_ms: u64,
    /// How often offsets are committed (also on a rebalance and at shutdown).
    #[serde(default = "default_commit_interval")]
    pub commit_interval_ms: u64,
}

fn default_session_timeout() -> u64 {
    DEFAULT_SESSION_TIMEOUT_MS
}

fn default_commit_interval() -> u64 {
    DEFAULT_COMMIT_INTERVAL_MS
}

/// `"earliest"`, `"latest"` (default, as Firehose's MSK source) or
/// `{ timestamp = "2026-12-01T00:00:00Z" }` (Firehose's `ReadFromTimestamp`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "start = \"earliest\", \"latest\" or { timestamp = \"<RFC 3339 time>\" }"
)]
pub enum StartPosition {
    Named(Named),
    At { timestamp: String },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Named {
    Earliest,
    #[default]
    Latest,
}

impl Default for StartPosition {
    fn default() -> Self {
        Self::Named(Named::Latest)
    }
}

impl StartPosition {
    /// The `timestamp`, in epoch milliseconds, or why it is not one.
    pub fn timestamp_ms(&self) -> Option<Result<i64, String>> {
        match self {
            Self::Named(_) => None,
            Self::At { timestamp } => Some(
                chrono::DateTime::parse_from_rfc3339(timestamp)
                    .map(|t| t.timestamp_millis())
                    .map_err(|e| format!("`{timestamp}` is not an RFC 3339 time: {e}")),
            ),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTls {
    /// Certificate authorities to trust (PEM), besides the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and key (PEM), for brokers that ask for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    /// A file holding the password (its first line), kept out of the config.
    pub password_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl SourceKind for KafkaSource {
    fn type_name(&self) -> &'static str {
        "kafka"
    }

    fn stream_type(&self) -> &'static str {
        "MSKAsSource"
    }

    fn check(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if self.bootstrap_servers.is_empty() {
            errors.push(ConfigError::new(
                at("source.bootstrap_servers"),
                "at least one broker (host:port) is required",
            ));
        }
        for (i, server) in self.bootstrap_servers.iter().enumerate() {
            let port = server.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                errors.push(ConfigError::new(
                    at(&format!("source.bootstrap_servers[{i}]")),
                    format!("`{server}` is not host:port"),
                ));
            }
        }
        // Kafka's topic names: 1 to 249 of a-z A-Z 0-9 . _ -
        let valid_topic = (1..=249).contains(&self.topic.len())
            && self
                .topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_topic {
            errors.push(ConfigError::new(
                at("source.topic"),
                format!(
                    "`{}` is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)",
                    self.topic
                ),
            ));
        }
        if self.group_id.is_empty() {
            errors.push(ConfigError::new(at("source.group_id"), "must not be empty"));
        }
        if let Some(Err(e)) = self.start.timestamp_ms() {
            errors.push(ConfigError::new(at("source.start.timestamp"), e));
        }
        if !(1_000..=3_600_000).contains(&self.session_timeout_ms) {
            errors.push(ConfigError::new(
                at("source.session_timeout_ms"),
                format!(
                    "{} is out of range (accepted: 1000 to 3600000)",
                    self.session_timeout_ms
                ),
            ));
        }
        if !(100..=60_000).contains(&self.commit_interval_ms) {
            errors.push(ConfigError::new(
                at("source.commit_interval_ms"),
                format!(
                    "{} is out of range (accepted: 100 to 60000)",
                    self.commit_interval_ms
                ),
            ));
        }
        if let Some(tls) = &self.tls {
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                errors.push(ConfigError::new(
                    at("source.tls.cert_file"),
                    "cert_file and key_file go together",
                ));
            }
            for (key, path) in [
                ("ca_file", &tls.ca_file),
                ("cert_file", &tls.cert_file),
                ("key_file", &tls.key_file),
            ] {
                if let Some(path) = path
                    && let Err(e) = std::fs::metadata(path)
                {
                    errors.push(ConfigError::new(
                        at(&format!("source.tls.{key}")),
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
            }
        }
        if let Some(sasl) = &self.sasl
            && let Err(e) = std::fs::metadata(&sasl.password_file)
        {
            errors.push(ConfigError::new(
                at("source.sasl.password_file"),
                format!("cannot read {}: {e}", sasl.password_file.display()),
            ));
        }
    }

    /// Firehose's `MSKSourceDescription`; the cluster ARN names the brokers.
    fn description(&self, server: &ServerConfig, started_at: f64) -> Value {
        let mut description = json!({
            "MSKClusterARN": format!(
                "arn:sluice:kafka:{}:{}:cluster/{}",
                server.region,
                server.account_id,
                self.bootstrap_servers.join(",")
            ),
            "TopicName": self.topic,
            "AuthenticationConfiguration": {
                "RoleARN": "arn:aws:iam::000000000000:role/sluice",
                "Connectivity": if self.tls.is_some() || self.sasl.is_some() { "PRIVATE" } else { "PUBLIC" },
            },
            "DeliveryStartTimestamp": started_at,
        });
        if let StartPosition::At { timestamp } = &self.start
            && let Ok(at) = chrono::DateTime::parse_from_rfc3339(timestamp)
        {
            description["ReadFromTimestamp"] = json!(at.timestamp_millis() as f64 / 1000.0);
        }
        json!({ "MSKSourceDescription": description })
    }

    fn open(
        &self,
        stream: &StreamHandle,
        _context: &Context,
    ) -> anyhow::Result<Option<Box<dyn Source>>> {
        Ok(Some(Box::new(KafkaTail::open(stream.clone(), self)?)))
    }
}
