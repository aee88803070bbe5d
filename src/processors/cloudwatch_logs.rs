//! Firehose's `CloudWatchLogProcessing` with `DataMessageExtraction`: a CloudWatch
//! Logs subscription message (decompressed) becomes one record per log event,
//! holding the event's message; control messages (CloudWatch Logs checking that
//! the destination is reachable) are dropped; anything else is refused as not
//! coming from CloudWatch Logs.

use bytes::Bytes;
use serde::Deserialize;

use super::settings::ProcessorKind;
use super::unpacking::{Refused, Unpacker};
use crate::config::{ConfigError, StreamConfig};
use crate::output::PROCESSING_FAILED;

/// `{ type = "cloudwatch_logs", data_message_extraction = true }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchLogsProcessor {
    /// Firehose's `DataMessageExtraction`: each log event's message becomes a
    /// record. Must be true, as in Firehose (without it, decompression alone
    /// delivers the subscription messages whole).
    pub data_message_extraction: bool,
}

impl ProcessorKind for CloudWatchLogsProcessor {
    fn firehose_type(&self) -> &'static str {
        "CloudWatchLogProcessing"
    }

    fn type_name(&self) -> &'static str {
        "cloudwatch_logs"
    }

    fn stage(&self) -> u8 {
        1
    }

    fn check(
        &self,
        _s: &StreamConfig,
        key: &dyn Fn(&str) -> String,
        errors: &mut Vec<ConfigError>,
    ) {
        if !self.data_message_extraction {
            errors.push(ConfigError::new(
                key("data_message_extraction"),
                "must be true, as in Firehose (without it, use decompression alone to deliver the subscription messages whole)",
            ));
        }
    }

    fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![(
            "DataMessageExtraction",
            self.data_message_extraction.to_string(),
        )]
    }
}

/// The error code of a record that is not a CloudWatch Logs subscription
/// message (Firehose guards such input with `InvalidSourceException`).
pub const INVALID_SOURCE: &str = "CloudWatchLogProcessing.InvalidSource";

/// Extracts log events' messages.
pub struct CloudWatchLogs;

/// The fields of a subscription message that matter here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    message_type: String,
    #[serde(default)]
    log_events: Vec<LogEvent>,
    // Required so that JSON of another shape is not taken for a message.
    #[allow(dead_code)]
    log_group: String,
    #[allow(dead_code)]
    log_stream: String,
}

#[derive(Deserialize)]
struct LogEvent {
    message: String,
}

impl Unpacker for CloudWatchLogs {
    fn firehose_type(&self) -> &'static str {
        "CloudWatchLogProcessing"
    }

    fn unpack(&self, data: Bytes, _cap: usize, out: &mut Vec<Bytes>) -> Result<(), Refused> {
        let refused = |message: String| Refused {
            output_type: PROCESSING_FAILED,
            code: INVALID_SOURCE,
            message,
        };
        let message: Message = serde_json::from_slice(&data).map_err(|e| {
            refused(format!(
                "the record is not a CloudWatch Logs subscription message: {e}"
            ))
        })?;
        match message.message_type.as_str() {
            "DATA_MESSAGE" => {
                out.extend(
                    message
                        .log_events
                        .into_iter()
                        .map(|e| Bytes::from(e.message.into_bytes())),
                );
                Ok(())
            }
            "CONTROL_MESSAGE" => Ok(()),
            other => Err(refused(format!(
                "the record's messageType is `{other}`, not DATA_MESSAGE or CONTROL_MESSAGE"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack(text: &str) -> Result<Vec<Bytes>, Refused> {
        let mut out = Vec::new();
        CloudWatchLogs
            .unpack(Bytes::copy_from_slice(text.as_bytes()), 1 << 20, &mut out)
            .map(|()| out)
    }

    #[test]
    fn each_log_event_becomes_a_record_of_its_message() {
        let out = unpack(
            r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":5,"message":"one"},{"id":"2","timestamp":6,"message":"{\"k\":\"ü\"}"}]}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            [Bytes::from_static(b"one"), Bytes::from("{\"k\":\"ü\"}")]
        );
    }

    #[test]
    fn control_messages_are_dropped() {
        let out = unpack(
            r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#,
        )
        .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn other_input_is_refused() {
        for text in [
            "not json",
            r#"{"some":"json"}"#,
            r#"{"messageType":"OTHER","logGroup":"g","logStream":"s","logEvents":[]}"#,
        ] {
            let err = unpack(text).unwrap_err();
            assert_eq!(
                (err.code, err.output_type),
                (INVALID_SOURCE, PROCESSING_FAILED)
            );
        }
    }
}
