//! How `DescribeDeliveryStream` shows an object destination (a local folder
//! or S3): Firehose's `ExtendedS3DestinationDescription`.

use serde_json::{Value, json};

use crate::config::{FormatConfig, ParquetFormat, StreamConfig};
use crate::encode::parquet::{DeserializerConfig, WriterVersion};

/// The stream's `ExtendedS3DestinationDescription`: `s3` holds the members
/// every destination shares (bucket ARN, prefixes, buffering).
pub fn description(
    config: &StreamConfig,
    processing: Value,
    mut s3: Value,
) -> (&'static str, Value) {
    let backup = config.destination.layout().backup_prefix.is_some();
    s3["S3BackupMode"] = json!(if backup { "Enabled" } else { "Disabled" });
    s3["ProcessingConfiguration"] = processing;
    if config.data_prefix().contains("!{partitionKeyFrom") {
        s3["DynamicPartitioningConfiguration"] = json!({
            "Enabled": true,
            "RetryOptions": { "DurationInSeconds": config.destination.layout().retry_duration_seconds },
        });
    }
    if let Some(zone) = config.destination.layout().time_zone {
        s3["CustomTimeZone"] = json!(zone);
    }
    if let Some(ext) = &config.file_extension {
        s3["FileExtension"] = json!(ext);
    }
    if let FormatConfig::Parquet(format) = &config.format {
        s3["DataFormatConversionConfiguration"] = data_format_conversion(format);
    }
    ("ExtendedS3DestinationDescription", s3)
}

/// Firehose's `DataFormatConversionConfiguration`; the schema is the declared
/// columns, so the Glue table reference names the stream.
fn data_format_conversion(format: &ParquetFormat) -> Value {
    let deserializer = match &format.deserializer {
        DeserializerConfig::Openx {
            case_insensitive,
            convert_dots_in_json_keys_to_underscores,
            column_to_json_key_mappings,
        } => json!({ "OpenXJsonSerDe": {
            "CaseInsensitive": case_insensitive,
            "ConvertDotsInJsonKeysToUnderscores": convert_dots_in_json_keys_to_underscores,
            "ColumnToJsonKeyMappings": column_to_json_key_mappings,
        }}),
        DeserializerConfig::Hive { timestamp_formats } => {
            json!({ "HiveJsonSerDe": { "TimestampFormats": timestamp_formats } })
        }
    };
    json!({
        "Enabled": true,
        "SchemaConfiguration": {
            "DatabaseName": "sluice",
            "TableName": "columns",
            "Region": "local",
            "VersionId": "LATEST",
        },
        "InputFormatConfiguration": { "Deserializer": deserializer },
        "OutputFormatConfiguration": { "Serializer": { "ParquetSerDe": {
            "BlockSizeBytes": format.block_size_mb << 20,
            "PageSizeBytes": format.page_size_kb << 10,
            "Compression": format.compression.firehose_name(),
            "EnableDictionaryCompression": format.enable_dictionary,
            "MaxPaddingBytes": 0,
            "WriterVersion": match format.writer_version {
                WriterVersion::V1 => "V1",
                WriterVersion::V2 => "V2",
            },
        }}},
    })
}
