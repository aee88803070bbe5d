//! The read-only control plane: `ListDeliveryStreams`, `DescribeDeliveryStream` and
//! `ListTagsForDeliveryStream`, answered from the configuration.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ErrorKind};
use super::streams::{check_stream_name, find_stream};
use super::{ApiState, Caller};
use crate::config::{
    DestinationConfig, ObjectDestination, ProcessorConfig, SourceConfig, StreamConfig,
    SubRecordType,
};

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
                .is_none_or(|t| t == stream_type(&s.config().source))
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
            "DeliveryStreamType": stream_type(&config.source),
            "VersionId": stream.version().to_string(),
            "CreateTimestamp": state.started_at,
            "LastUpdateTimestamp": state.started_at,
            "DeliveryStreamEncryptionConfiguration": { "Status": "DISABLED" },
            "Source": source_description(&config.source, state),
            "Destinations": [destination_description(config)],
            "HasMoreDestinations": false,
        }
    })
    .to_string())
}

/// Firehose's `DeliveryStreamType`; file and stdin sources are Sluice's own.
fn stream_type(source: &SourceConfig) -> &'static str {
    match source {
        SourceConfig::DirectPut => "DirectPut",
        SourceConfig::Kinesis(_) => "KinesisStreamAsSource",
        SourceConfig::File(_) => "FileAsSource",
        SourceConfig::Stdin(_) => "StdinAsSource",
    }
}

fn source_description(source: &SourceConfig, state: &ApiState) -> Value {
    match source {
        SourceConfig::DirectPut => {
            json!({ "DirectPutSourceDescription": { "ThroughputHintInMBs": 5 } })
        }
        SourceConfig::Kinesis(k) => json!({ "KinesisStreamSourceDescription": {
            "KinesisStreamARN": format!(
                "arn:aws:kinesis:{}:{}:stream/{}",
                k.region.as_deref().unwrap_or(&state.server.region),
                state.server.account_id,
                k.stream_name
            ),
            "RoleARN": "arn:aws:iam::000000000000:role/sluice",
            "DeliveryStartTimestamp": state.started_at,
        }}),
        SourceConfig::File(f) => json!({ "FileSourceDescription": { "Paths": f.paths } }),
        SourceConfig::Stdin(_) => json!({ "StdinSourceDescription": {} }),
    }
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
    let (bucket_arn, description) = match &config.destination {
        DestinationConfig::Local(local) => (local.arn(), "ExtendedS3DestinationDescription"),
        DestinationConfig::S3(s3) => (s3.arn(), "ExtendedS3DestinationDescription"),
        DestinationConfig::Http(http) => (
            match &http.error_destination {
                ObjectDestination::Local(local) => local.arn(),
                ObjectDestination::S3(s3) => s3.arn(),
            },
            "HttpEndpointDestinationDescription",
        ),
        DestinationConfig::Iceberg(iceberg) => (
            match iceberg.error_destination() {
                Ok(ObjectDestination::Local(local)) => local.arn(),
                Ok(ObjectDestination::S3(s3)) => s3.arn(),
                Err(_) => String::new(),
            },
            "IcebergDestinationDescription",
        ),
    };
    s3["BucketARN"] = json!(bucket_arn);
    let backup = config.destination.layout().backup_prefix.is_some();
    let processing = processing_configuration(config);
    let destination = match &config.destination {
        DestinationConfig::Http(http) => {
            let name = http.name.as_deref().unwrap_or(&config.name);
            http.description(name, processing, backup, s3)
        }
        DestinationConfig::Iceberg(iceberg) => iceberg.description(processing, s3),
        _ => crate::sinks::objects::description(config, processing, backup, s3),
    };
    json!({ "DestinationId": "destinationId-000000000001", description: destination })
}

/// Firehose's `ProcessingConfiguration`: each WASM plugin shown as the Lambda
/// processor it stands for, its module path as the `LambdaArn`.
fn processing_configuration(config: &StreamConfig) -> Value {
    let processors: Vec<Value> = config
        .processors
        .iter()
        .map(|p| {
            let parameter = |name: &str, value: String| json!({ "ParameterName": name, "ParameterValue": value });
            let parameters = match p {
                ProcessorConfig::Decompression(_) => {
                    vec![parameter("CompressionFormat", "GZIP".to_string())]
                }
                ProcessorConfig::CloudwatchLogs(c) => vec![parameter(
                    "DataMessageExtraction",
                    c.data_message_extraction.to_string(),
                )],
                ProcessorConfig::Deaggregation(d) => {
                    let mut list = vec![parameter(
                        "SubRecordType",
                        match d.sub_record_type {
                            SubRecordType::Json => "JSON",
                            SubRecordType::Delimited => "DELIMITED",
                        }
                        .to_string(),
                    )];
                    if let Some(delimiter) = &d.delimiter {
                        list.push(parameter("Delimiter", BASE64.encode(delimiter)));
                    }
                    list
                }
                ProcessorConfig::Wasm(wasm) => vec![
                    parameter("LambdaArn", wasm.module.display().to_string()),
                    parameter("NumberOfRetries", wasm.retries.to_string()),
                    parameter("BufferSizeInMBs", wasm.batch_mb.to_string()),
                ],
                ProcessorConfig::MetadataExtraction(m) => vec![
                    parameter("MetadataExtractionQuery", m.query.clone()),
                    parameter("JsonParsingEngine", "JQ-1.6".to_string()),
                ],
                // Firehose's takes no parameters: its delimiter is a newline.
                ProcessorConfig::AppendDelimiter(d) if d.delimiter == "\n" => Vec::new(),
                ProcessorConfig::AppendDelimiter(d) => {
                    vec![parameter("Delimiter", BASE64.encode(&d.delimiter))]
                }
            };
            json!({ "Type": p.firehose_type(), "Parameters": parameters })
        })
        .collect();
    json!({ "Enabled": !processors.is_empty(), "Processors": processors })
}
