//! The read-only control plane: `ListDeliveryStreams`, `DescribeDeliveryStream` and
//! `ListTagsForDeliveryStream`, answered from the configuration.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::error::{ApiError, ErrorKind};
use super::firehose::{check_stream_name, find_stream};
use crate::config::{DestinationConfig, ObjectDestination, StreamConfig};

/// Firehose's default page size for `ListDeliveryStreams`.
const DEFAULT_LIST_LIMIT: usize = 10;

#[derive(Deserialize)]
struct ListInput<'a> {
    #[serde(rename = "Limit")]
    limit: Option<usize>,
    #[serde(rename = "DeliveryStreamType", borrow)]
    stream_type: Option<Cow<'a, str>>,
    #[serde(rename = "ExclusiveStartDeliveryStreamName", borrow)]
    exclusive_start: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct NameInput<'a> {
    #[serde(rename = "DeliveryStreamName", borrow)]
    stream: Option<Cow<'a, str>>,
}

pub fn list(state: &ApiState, body: &[u8]) -> Result<String, ApiError> {
    let input: ListInput = parse(body)?;
    let limit = input.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::validation(&[format!(
            "Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000"
        )]));
    }
    // Every Sluice stream takes direct puts; other types list nothing.
    let type_matches = input
        .stream_type
        .as_deref()
        .is_none_or(|t| t == "DirectPut");
    let names: Vec<&String> = state
        .streams
        .keys()
        .filter(|_| type_matches)
        .filter(|n| {
            input
                .exclusive_start
                .as_deref()
                .is_none_or(|s| n.as_str() > s)
        })
        .collect();
    let page: Vec<&String> = names.iter().take(limit).copied().collect();
    Ok(json!({
        "DeliveryStreamNames": page,
        "HasMoreDeliveryStreams": names.len() > page.len(),
    })
    .to_string())
}

pub fn describe(state: &ApiState, body: &[u8]) -> Result<String, ApiError> {
    let name = required_name(body)?;
    let stream = find_stream(state, &name)?;
    let config = stream.config();
    let arn = state.server.stream_arn(&config.name);
    Ok(json!({
        "DeliveryStreamDescription": {
            "DeliveryStreamName": config.name,
            "DeliveryStreamARN": arn,
            "DeliveryStreamStatus": "ACTIVE",
            "DeliveryStreamType": "DirectPut",
            "VersionId": "1",
            "CreateTimestamp": state.started_at,
            "LastUpdateTimestamp": state.started_at,
            "DeliveryStreamEncryptionConfiguration": { "Status": "DISABLED" },
            "Source": { "DirectPutSourceDescription": { "ThroughputHintInMBs": 5 } },
            "Destinations": [destination_description(config)],
            "HasMoreDestinations": false,
        }
    })
    .to_string())
}

pub fn list_tags(state: &ApiState, body: &[u8]) -> Result<String, ApiError> {
    let name = required_name(body)?;
    find_stream(state, &name)?;
    Ok(json!({ "Tags": [], "HasMoreTags": false }).to_string())
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    // An empty body is an empty input, as AWS JSON services accept.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(ApiError::serialization)
}

fn required_name(body: &[u8]) -> Result<String, ApiError> {
    let input: NameInput = parse(body)?;
    let mut violations = Vec::new();
    check_stream_name(input.stream.as_deref(), &mut violations);
    if !violations.is_empty() {
        return Err(ApiError::validation(&violations));
    }
    input
        .stream
        .map(Cow::into_owned)
        .ok_or_else(|| ApiError::new(ErrorKind::Validation, "DeliveryStreamName is required"))
}

/// The destination as an `ExtendedS3DestinationDescription`, with every member the
/// model requires materialised. A local folder is shown with a `sluice` ARN.
fn destination_description(config: &StreamConfig) -> Value {
    let bucket_arn = match &config.destination {
        DestinationConfig::Local(local) => format!("arn:sluice:local:::{}", local.path.display()),
        DestinationConfig::S3(s3) => format!("arn:aws:s3:::{}", s3.bucket),
        DestinationConfig::Http(http) => match &http.error_destination {
            ObjectDestination::Local(local) => {
                format!("arn:sluice:local:::{}", local.path.display())
            }
            ObjectDestination::S3(s3) => format!("arn:aws:s3:::{}", s3.bucket),
        },
    };
    let mut s3 = json!({
        "RoleARN": "arn:aws:iam::000000000000:role/sluice",
        "BucketARN": bucket_arn,
        "Prefix": config.destination.prefix(),
        "ErrorOutputPrefix": config.destination.error_output_prefix(),
        "BufferingHints": {
            "SizeInMBs": config.buffering.size_mb,
            "IntervalInSeconds": config.buffering.interval_seconds,
        },
        "CompressionFormat": config.compression.firehose_name(),
        "EncryptionConfiguration": { "NoEncryptionConfig": "NoEncryption" },
        "S3BackupMode": "Disabled",
    });
    if let (Some(ext), Some(map)) = (&config.file_extension, s3.as_object_mut()) {
        map.insert("FileExtension".into(), json!(ext));
    }
    json!({
        "DestinationId": "destinationId-000000000001",
        "ExtendedS3DestinationDescription": s3,
    })
}
