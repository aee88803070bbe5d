//! The Kinesis source's settings and checks.

use serde::Deserialize;
use serde_json::{Value, json};

use super::KinesisTail;
use crate::aws::AwsConnection;
use crate::config::{ConfigError, ServerConfig};
use crate::pipeline::StreamHandle;
use crate::sources::settings::SourceKind;
use crate::sources::{Context, Source};

/// Where reading starts in a shard with no checkpoint (Firehose's default: LATEST).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum StartingPosition {
    #[serde(rename = "TRIM_HORIZON", alias = "trim_horizon")]
    TrimHorizon,
    #[default]
    #[serde(rename = "LATEST", alias = "latest")]
    Latest,
    /// From `timestamp` on.
    #[serde(rename = "AT_TIMESTAMP", alias = "at_timestamp")]
    AtTimestamp,
}

/// Reading a Kinesis data stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisSource {
    pub stream_name: String,
    /// Endpoint (`http://127.0.0.1:4568` for a compatible server), region and
    /// credentials, as every AWS-backed component's.
    #[serde(flatten)]
    pub aws: AwsConnection,
    /// For shards with no checkpoint: `TRIM_HORIZON`, `LATEST` (default) or
    /// `AT_TIMESTAMP` (with `timestamp`). Shards created by a reshard are read
    /// from their start.
    #[serde(default)]
    pub starting_position: StartingPosition,
    /// RFC 3339 time for `AT_TIMESTAMP`.
    pub timestamp: Option<String>,
    /// How long a shard with no new records waits before asking again.
    #[serde(default = "default_idle_poll_ms")]
    pub idle_poll_ms: u64,
}

fn default_idle_poll_ms() -> u64 {
    1000
}

impl SourceKind for KinesisSource {
    fn type_name(&self) -> &'static str {
        "kinesis"
    }

    fn stream_type(&self) -> &'static str {
        "KinesisStreamAsSource"
    }

    fn check(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if !(1..=128).contains(&self.stream_name.len()) {
            errors.push(ConfigError::new(
                at("source.stream_name"),
                "must be 1 to 128 characters",
            ));
        }
        self.aws.check(&|key| at(&format!("source.{key}")), errors);
        match (self.starting_position, &self.timestamp) {
            (StartingPosition::AtTimestamp, None) => errors.push(ConfigError::new(
                at("source.timestamp"),
                "AT_TIMESTAMP needs a timestamp (RFC 3339, such as 2026-11-24T12:00:00Z)",
            )),
            (StartingPosition::AtTimestamp, Some(t))
                if chrono::DateTime::parse_from_rfc3339(t).is_err() =>
            {
                errors.push(ConfigError::new(
                    at("source.timestamp"),
                    format!("`{t}` is not an RFC 3339 time (such as 2026-11-24T12:00:00Z)"),
                ))
            }
            (StartingPosition::AtTimestamp, Some(_)) => {}
            (_, Some(_)) => errors.push(ConfigError::new(
                at("source.timestamp"),
                "only applies to starting_position = \"AT_TIMESTAMP\"",
            )),
            (_, None) => {}
        }
    }

    fn description(&self, server: &ServerConfig, started_at: f64) -> Value {
        json!({ "KinesisStreamSourceDescription": {
            "KinesisStreamARN": format!(
                "arn:aws:kinesis:{}:{}:stream/{}",
                self.aws.region.as_deref().unwrap_or(&server.region),
                server.account_id,
                self.stream_name
            ),
            "RoleARN": "arn:aws:iam::000000000000:role/sluice",
            "DeliveryStartTimestamp": started_at,
        }})
    }

    fn open(
        &self,
        stream: &StreamHandle,
        _context: &Context,
    ) -> anyhow::Result<Option<Box<dyn Source>>> {
        Ok(Some(Box::new(KinesisTail::open(stream.clone(), self)?)))
    }

    fn records_carry_ids(&self) -> bool {
        true
    }
}
