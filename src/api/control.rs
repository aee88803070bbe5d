//! The read-only control plane: `ListDeliveryStreams`, `DescribeDeliveryStream` and
//! `ListTagsForDeliveryStream`, answered from the configuration.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ErrorKind};
use super::streams::{check_stream_name, find_stream};
use super::{ApiState, Caller};
use crate::config::StreamConfig;

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

pub fn list(state: &ApiState, caller: &Caller, body: &[u8]) -> Result<String, ApiError> {
    let input: ListInput = parse(body)?;
    let limit = input.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::validation(&[format!(
            "Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000"
        )]));
    }
    let (streams, auth) = (state.streams.load(), state.auth.load());
    let names: Vec<&String> = streams
        .iter()
        .filter(|(_, s)| {
            input
                .stream_type
                .as_deref()
                .is_none_or(|t| t == s.config().source.kind().stream_type())
        })
        .map(|(name, _)| name)
        .filter(|n| auth.allows(caller.as_ref(), n).is_ok())
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

pub fn describe(state: &ApiState, caller: &Caller, body: &[u8]) -> Result<String, ApiError> {
    let name = required_name(body)?;
    state.auth.load().allows(caller.as_ref(), &name)?;
    let stream = find_stream(state, &name)?;
    let config = stream.config();
    let arn = state.server.stream_arn(&config.name);
    Ok(json!({
        "DeliveryStreamDescription": {
            "DeliveryStreamName": config.name,
            "DeliveryStreamARN": arn,
            "DeliveryStreamStatus": "ACTIVE",
            "DeliveryStreamType": config.source.kind().stream_type(),
            "VersionId": stream.version().to_string(),
            "CreateTimestamp": state.started_at,
            "LastUpdateTimestamp": state.started_at,
            "DeliveryStreamEncryptionConfiguration": { "Status": "DISABLED" },
            "Source": config.source.kind().description(&state.server, state.started_at),
            "Destinations": [destination_description(config)],
            "HasMoreDestinations": false,
        }
    })
    .to_string())
}

pub fn list_tags(state: &ApiState, caller: &Caller, body: &[u8]) -> Result<String, ApiError> {
    let name = required_name(body)?;
    state.auth.load().allows(caller.as_ref(), &name)?;
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

/// The destination as Firehose describes it, with every member the model requires
/// materialised: an `ExtendedS3DestinationDescription` for object destinations (a
/// local folder gets a `sluice` ARN), an `HttpEndpointDestinationDescription` with
/// its error destination as the S3 configuration for HTTP endpoints.
fn destination_description(config: &StreamConfig) -> Value {
    let mut s3 = json!({
        "RoleARN": "arn:aws:iam::000000000000:role/sluice",
        "Prefix": config.data_prefix(),
        "ErrorOutputPrefix": config.destination.error_output_prefix(),
        "BufferingHints": {
            "SizeInMBs": config.buffering.size_mb,
            "IntervalInSeconds": config.buffering.interval_seconds,
        },
        "CompressionFormat": config.compression.firehose_name(),
        "EncryptionConfiguration": { "NoEncryptionConfig": "NoEncryption" },
    });
    let kind = config.destination.kind();
    s3["BucketARN"] = json!(kind.error_bucket_arn());
    let (description, destination) = kind.description(config, processing_configuration(config), s3);
    json!({ "DestinationId": "destinationId-000000000001", description: destination })
}

/// Firehose's `ProcessingConfiguration`: each WASM plugin shown as the Lambda
/// processor it stands for, its module path as the `LambdaArn`.
fn processing_configuration(config: &StreamConfig) -> Value {
    let processors: Vec<Value> = config
        .processors
        .iter()
        .map(|p| {
            let parameters: Vec<Value> = p
                .kind()
                .parameters()
                .into_iter()
                .map(|(name, value)| json!({ "ParameterName": name, "ParameterValue": value }))
                .collect();
            json!({ "Type": p.firehose_type(), "Parameters": parameters })
        })
        .collect();
    json!({ "Enabled": !processors.is_empty(), "Processors": processors })
}
