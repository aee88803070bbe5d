//! Checks that serde's types cannot express: ranges, names, prefixes, coupling rules.

use std::collections::HashSet;

use super::{
    Config, ConfigError, ConfigErrors, DELIVERY_MEMORY_MB_RANGE, DestinationConfig, FormatConfig,
    INGEST_MEMORY_MB_RANGE, KinesisSource, MAX_DECODED_BODY_MB, MAX_HTTP_RETRY_DURATION_SECONDS,
    MAX_RETRY_DURATION_SECONDS, MAX_SHUTDOWN_TIMEOUT_SECONDS, ParquetFormat, ProcessorConfig,
    SourceConfig, StartingPosition, StreamConfig, SubRecordType,
};
use crate::keys::{KeyLayout, PrefixField, parse_backup_prefix};

pub fn validate(config: &Config) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    if config.delivery_streams.is_empty() {
        errors.push(ConfigError::new(
            "delivery_streams",
            "at least one delivery stream is required",
        ));
    }
    if config.server.shutdown_timeout_seconds > MAX_SHUTDOWN_TIMEOUT_SECONDS {
        errors.push(ConfigError::new(
            "server.shutdown_timeout_seconds",
            format!(
                "{} is out of range (accepted: 0 to {MAX_SHUTDOWN_TIMEOUT_SECONDS})",
                config.server.shutdown_timeout_seconds
            ),
        ));
    }
    if !(1..=MAX_DECODED_BODY_MB).contains(&config.server.max_decoded_body_mb) {
        errors.push(ConfigError::new(
            "server.max_decoded_body_mb",
            format!(
                "{} is out of range (accepted: 1 to {MAX_DECODED_BODY_MB})",
                config.server.max_decoded_body_mb
            ),
        ));
    }
    for (key, value, range) in [
        (
            "server.ingest_memory_mb",
            config.server.ingest_memory_mb,
            INGEST_MEMORY_MB_RANGE,
        ),
        (
            "server.delivery_memory_mb",
            config.server.delivery_memory_mb,
            DELIVERY_MEMORY_MB_RANGE,
        ),
    ] {
        if !range.contains(&value) {
            errors.push(ConfigError::new(
                key,
                format!(
                    "{value} is out of range (accepted: {} to {})",
                    range.start(),
                    range.end()
                ),
            ));
        }
    }
    for (key, value) in [
        (
            "server.header_timeout_seconds",
            config.server.header_timeout_seconds,
        ),
        (
            "server.body_timeout_seconds",
            config.server.body_timeout_seconds,
        ),
    ] {
        if !(1..=3600).contains(&value) {
            errors.push(ConfigError::new(
                key,
                format!("{value} is out of range (accepted: 1 to 3600)"),
            ));
        }
    }
    if !(1..=1_000_000).contains(&config.server.max_connections) {
        errors.push(ConfigError::new(
            "server.max_connections",
            format!(
                "{} is out of range (accepted: 1 to 1000000)",
                config.server.max_connections
            ),
        ));
    }
    if let Some(tls) = &config.server.tls
        && let Err(e) = crate::tls::check(tls)
    {
        errors.push(ConfigError::new("server.tls", e.to_string()));
    }
    let stream_names: Vec<&str> = config
        .delivery_streams
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    config
        .server
        .auth
        .validate(&config.server.listen, &stream_names, &mut errors);
    if config.spool.max_size_mb == 0 {
        errors.push(ConfigError::new("spool.max_size_mb", "must be at least 1"));
    }
    let stdin_streams = config
        .delivery_streams
        .iter()
        .filter(|s| matches!(s.source, SourceConfig::Stdin(_)))
        .count();
    if stdin_streams > 1 {
        errors.push(ConfigError::new(
            "delivery_streams",
            format!("{stdin_streams} streams read standard input; at most one can"),
        ));
    }
    let mut names = HashSet::new();
    for (i, stream) in config.delivery_streams.iter().enumerate() {
        let at = |key: &str| format!("delivery_streams[{i}].{key}");
        if !names.insert(stream.name.as_str()) {
            errors.push(ConfigError::new(
                at("name"),
                format!("`{}` is used by another delivery stream", stream.name),
            ));
        }
        validate_stream(stream, &at, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Patterns, delimiters and multi-line expressions of file and stdin sources.
fn validate_source(
    source: &SourceConfig,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    let (delimiter, multiline) = match source {
        SourceConfig::DirectPut => return,
        SourceConfig::File(file) => {
            if file.paths.is_empty() {
                errors.push(ConfigError::new(
                    at("source.paths"),
                    "at least one path pattern is required",
                ));
            }
            for (i, pattern) in file.paths.iter().enumerate() {
                if let Err(e) = glob::Pattern::new(pattern) {
                    errors.push(ConfigError::new(
                        at(&format!("source.paths[{i}]")),
                        format!("`{pattern}` is not a valid glob pattern: {e}"),
                    ));
                }
            }
            if file.poll_interval_ms < 10 {
                errors.push(ConfigError::new(
                    at("source.poll_interval_ms"),
                    format!(
                        "{} is out of range (accepted: 10 or more)",
                        file.poll_interval_ms
                    ),
                ));
            }
            (&file.delimiter, &file.multiline)
        }
        SourceConfig::Stdin(stdin) => (&stdin.delimiter, &stdin.multiline),
        SourceConfig::Kinesis(kinesis) => {
            validate_kinesis(kinesis, at, errors);
            return;
        }
    };
    if delimiter.is_empty() {
        errors.push(ConfigError::new(
            at("source.delimiter"),
            "must not be empty",
        ));
    }
    if let Some(multiline) = multiline
        && let Err(e) = crate::sources::lines::Multiline::new(multiline)
    {
        errors.push(ConfigError::new(at("source.multiline.pattern"), e));
    }
}

fn validate_kinesis(k: &KinesisSource, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
    if !(1..=128).contains(&k.stream_name.len()) {
        errors.push(ConfigError::new(
            at("source.stream_name"),
            "must be 1 to 128 characters",
        ));
    }
    if let Some(endpoint) = &k.endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        errors.push(ConfigError::new(
            at("source.endpoint"),
            format!("`{endpoint}` must start with http:// or https://"),
        ));
    }
    if k.access_key_id.is_some() != k.secret_access_key.is_some() {
        errors.push(ConfigError::new(
            at("source.access_key_id"),
            "access_key_id and secret_access_key go together",
        ));
    }
    match (k.starting_position, &k.timestamp) {
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

/// Firehose's rules for record format conversion, and the columns' own.
fn validate_parquet(
    s: &StreamConfig,
    format: &ParquetFormat,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    if s.compression != crate::encode::Compression::None {
        errors.push(ConfigError::new(
            at("compression"),
            "must be `none` when format.type = \"parquet\": Parquet compresses inside the file (set format.compression)",
        ));
    }
    if matches!(s.destination, DestinationConfig::Http(_)) {
        errors.push(ConfigError::new(
            at("format.type"),
            "`parquet` needs an object destination (local or s3), as in Firehose",
        ));
    }
    if !(1..=1024).contains(&format.block_size_mb) {
        errors.push(ConfigError::new(
            at("format.block_size_mb"),
            format!(
                "{} is out of range (accepted: 1 to 1024)",
                format.block_size_mb
            ),
        ));
    }
    if !(64..=65_536).contains(&format.page_size_kb) {
        errors.push(ConfigError::new(
            at("format.page_size_kb"),
            format!(
                "{} is out of range (accepted: 64 to 65536)",
                format.page_size_kb
            ),
        ));
    }
    if format.columns.is_empty() {
        errors.push(ConfigError::new(
            at("format.columns"),
            "at least one column is required",
        ));
    }
    let hive = matches!(
        format.deserializer,
        crate::encode::parquet::DeserializerConfig::Hive { .. }
    );
    let mut names = HashSet::new();
    for (i, column) in format.columns.iter().enumerate() {
        let key = at(&format!("format.columns[{i}].name"));
        if column.name.is_empty() {
            errors.push(ConfigError::new(key, "must not be empty"));
        } else if !names.insert(column.name.to_lowercase()) {
            errors.push(ConfigError::new(
                key,
                format!(
                    "`{}` is used by another column (names are case-insensitive)",
                    column.name
                ),
            ));
        } else if hive && column.name.contains('.') {
            errors.push(ConfigError::new(
                key,
                format!(
                    "`{}`: the hive deserializer takes no dots in column names",
                    column.name
                ),
            ));
        }
    }
    if let crate::encode::parquet::DeserializerConfig::Openx {
        column_to_json_key_mappings,
        ..
    } = &format.deserializer
    {
        for column in column_to_json_key_mappings.keys() {
            if !names.contains(&column.to_lowercase()) {
                errors.push(ConfigError::new(
                    at("format.deserializer.column_to_json_key_mappings"),
                    format!("`{column}` is not a column"),
                ));
            }
        }
    }
    if let Err(e) = format.encoder() {
        errors.push(ConfigError::new(at("format.deserializer"), e));
    }
}

/// Firehose's `DeliveryStreamName` rule: 1–64 characters of `[a-zA-Z0-9_.-]`.
pub fn is_valid_stream_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A metadata extraction query compiles, and names at most Firehose's 50 keys.
fn validate_query(query: &str, at: &str, errors: &mut Vec<ConfigError>) {
    use crate::processors::metadata_extraction::{MAX_KEYS, MetadataExtraction};
    if let Err(e) = MetadataExtraction::new(query) {
        errors.push(ConfigError::new(at, format!("does not compile: {e}")));
    } else if let Some(keys) = MetadataExtraction::key_names(query)
        && keys.len() > MAX_KEYS
    {
        errors.push(ConfigError::new(
            at,
            format!(
                "names {} keys, over Firehose's limit of {MAX_KEYS}",
                keys.len()
            ),
        ));
    }
}

/// Plugin limits: Lambda's bounds where Firehose has them (6 MB payloads, 5 minute
/// calls), and a memory cap a 64-bit host can give.
fn validate_processors(
    s: &StreamConfig,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, processor) in s.processors.iter().enumerate() {
        let key = |field: &str| at(&format!("processors[{i}].{field}"));
        // Every built-in processor is taken once; plugins chain.
        if !matches!(processor, ProcessorConfig::Wasm(_)) && !seen.insert(processor.firehose_type())
        {
            let hint = match processor {
                ProcessorConfig::MetadataExtraction(_) => " (one query of up to 50 keys)",
                _ => "",
            };
            errors.push(ConfigError::new(
                key("type"),
                format!("a stream takes one {}{hint}", processor.type_name()),
            ));
        }
        let p = match processor {
            ProcessorConfig::Decompression(_) => continue,
            ProcessorConfig::CloudwatchLogs(c) => {
                if !c.data_message_extraction {
                    errors.push(ConfigError::new(
                        key("data_message_extraction"),
                        "must be true, as in Firehose (without it, use decompression alone to deliver the subscription messages whole)",
                    ));
                }
                continue;
            }
            ProcessorConfig::Deaggregation(d) => {
                match (d.sub_record_type, d.delimiter.as_deref()) {
                    (SubRecordType::Delimited, None | Some("")) => errors.push(ConfigError::new(
                        key("delimiter"),
                        "is required for sub_record_type = \"delimited\"",
                    )),
                    (SubRecordType::Json, Some(_)) => errors.push(ConfigError::new(
                        key("delimiter"),
                        "applies only to sub_record_type = \"delimited\"",
                    )),
                    _ => {}
                }
                continue;
            }
            ProcessorConfig::Wasm(p) => p,
            ProcessorConfig::MetadataExtraction(m) => {
                validate_query(&m.query, &key("query"), errors);
                continue;
            }
            ProcessorConfig::AppendDelimiter(d) => {
                if d.delimiter.is_empty() || d.delimiter.len() > 1024 {
                    errors.push(ConfigError::new(
                        key("delimiter"),
                        "must be 1 to 1,024 bytes",
                    ));
                }
                if matches!(s.format, FormatConfig::Parquet(_)) {
                    errors.push(ConfigError::new(
                        key("type"),
                        "does not apply to Parquet: records become rows, not delimited bytes",
                    ));
                }
                continue;
            }
        };
        let ranges: [(&str, u64, u64, u64); 5] = [
            ("timeout_ms", p.timeout_ms, 1, 300_000),
            ("memory_mb", p.memory_mb, 1, 4096),
            ("batch_records", p.batch_records as u64, 1, 10_000),
            ("batch_mb", p.batch_mb, 1, 6),
            ("retries", u64::from(p.retries), 0, 300),
        ];
        for (field, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                errors.push(ConfigError::new(
                    key(field),
                    format!("{value} is out of range (accepted: {min} to {max})"),
                ));
            }
        }
        if p.module.as_os_str().is_empty() {
            errors.push(ConfigError::new(key("module"), "is empty"));
        }
    }
}

/// Every partition key the prefix uses has a processor that supplies it; the
/// query's written-out keys all appear in the prefix, as Firehose requires.
fn validate_partition_keys(
    s: &StreamConfig,
    prefix: &crate::keys::Prefix,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    let used: Vec<&str> = prefix.query_key_names().collect();
    match s.metadata_query() {
        None => {
            if let Some(key) = used.first() {
                errors.push(ConfigError::new(
                    at("destination.prefix"),
                    format!("`!{{partitionKeyFromQuery:{key}}}` needs a processor {{ type = \"metadata_extraction\", query = \"{{{key}: ...}}\" }}"),
                ));
            }
        }
        Some(query) => {
            if let Some(keys) =
                crate::processors::metadata_extraction::MetadataExtraction::key_names(query)
            {
                for key in used.iter().filter(|k| !keys.iter().any(|q| q == *k)) {
                    errors.push(ConfigError::new(
                        at("destination.prefix"),
                        format!("uses `!{{partitionKeyFromQuery:{key}}}`, but the metadata_extraction query has no key `{key}`"),
                    ));
                }
                // An Iceberg table's routing metadata may also name the
                // record's `operation` (refused unless `insert` as it is routed).
                let iceberg = matches!(s.destination, DestinationConfig::Iceberg(_));
                for key in keys
                    .iter()
                    .filter(|q| !used.contains(&q.as_str()))
                    .filter(|q| !(iceberg && q.as_str() == "operation"))
                {
                    errors.push(ConfigError::new(
                        at("destination.prefix"),
                        format!("must use every key of the metadata_extraction query, as in Firehose: add `!{{partitionKeyFromQuery:{key}}}`"),
                    ));
                }
            }
        }
    }
    if let Some(key) = prefix.lambda_key_names().next()
        && s.plugins().next().is_none()
    {
        errors.push(ConfigError::new(
            at("destination.prefix"),
            format!("`!{{partitionKeyFromLambda:{key}}}` is a partition key, but this stream has no plugin that supplies partition keys"),
        ));
    }
}

fn validate_stream(s: &StreamConfig, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
    validate_processors(s, at, errors);
    if !is_valid_stream_name(&s.name) {
        errors.push(ConfigError::new(
            at("name"),
            format!(
                "`{}` must be 1 to 64 characters of a-z A-Z 0-9 _ . -",
                s.name
            ),
        ));
    }
    if !(1..=128).contains(&s.buffering.size_mb) {
        errors.push(ConfigError::new(
            at("buffering.size_mb"),
            format!(
                "{} is out of range (accepted: 1 to 128)",
                s.buffering.size_mb
            ),
        ));
    }
    if s.buffering.interval_seconds > 900 {
        errors.push(ConfigError::new(
            at("buffering.interval_seconds"),
            format!(
                "{} is out of range (accepted: 0 to 900)",
                s.buffering.interval_seconds
            ),
        ));
    }
    if let Some(level) = s.compression_level {
        if !s.compression.takes_level() {
            errors.push(ConfigError::new(
                at("compression_level"),
                "only applies to gzip and zip compression",
            ));
        } else if level > crate::encode::Compression::MAX_LEVEL {
            errors.push(ConfigError::new(
                at("compression_level"),
                format!(
                    "{level} is out of range (accepted: 0 to {})",
                    crate::encode::Compression::MAX_LEVEL
                ),
            ));
        }
    }
    if let Some(ext) = &s.file_extension {
        let valid_char =
            |c: char| c.is_ascii_digit() || c.is_ascii_lowercase() || "!-_.*'()".contains(c);
        if ext.len() > 128 || !ext.starts_with('.') || ext.len() < 2 || !ext.chars().all(valid_char)
        {
            errors.push(ConfigError::new(
                at("file_extension"),
                format!("`{ext}` must start with `.` and hold only 0-9 a-z ! - _ . * ' ( ) (at most 128)"),
            ));
        }
    }
    if s.processing_threads.is_some_and(|n| !(1..=64).contains(&n)) {
        errors.push(ConfigError::new(
            at("processing_threads"),
            "must be 1 to 64",
        ));
    }
    if s.max_in_flight_objects == 0 {
        errors.push(ConfigError::new(
            at("max_in_flight_objects"),
            "must be at least 1",
        ));
    }
    validate_source(&s.source, at, errors);
    if let FormatConfig::Parquet(format) = &s.format {
        validate_parquet(s, format, at, errors);
    }
    match &s.destination {
        DestinationConfig::Local(local) => local.validate(at, errors),
        DestinationConfig::S3(s3) => s3.validate(at, errors),
        DestinationConfig::Http(http) => http.validate(s, at, errors),
        DestinationConfig::Iceberg(iceberg) => iceberg.validate(s, at, errors),
    }
    let layout = s.destination.layout();
    let max_retry = match s.destination {
        DestinationConfig::Http(_) | DestinationConfig::Iceberg(_) => {
            MAX_HTTP_RETRY_DURATION_SECONDS
        }
        _ => MAX_RETRY_DURATION_SECONDS,
    };
    if layout.retry_duration_seconds > max_retry {
        errors.push(ConfigError::new(
            at("destination.retry_duration_seconds"),
            format!(
                "{} is out of range (accepted: 0 to {max_retry})",
                layout.retry_duration_seconds
            ),
        ));
    }
    if let Some(zone) = layout.time_zone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        errors.push(ConfigError::new(
            at("destination.time_zone"),
            format!("`{zone}` is not an IANA time zone name (such as `Asia/Tokyo` or `America/New_York`)"),
        ));
    }
    if let Some(backup) = layout.backup_prefix
        && let Err(e) = parse_backup_prefix(backup)
    {
        errors.push(ConfigError::new(at("destination.backup_prefix"), e.0));
    }
    match KeyLayout::new(&s.data_prefix(), s.destination.error_output_prefix()) {
        Ok(layout) => validate_partition_keys(s, layout.prefix(), at, errors),
        Err((field, e)) => {
            let key = match field {
                PrefixField::Prefix => "destination.prefix",
                PrefixField::ErrorOutputPrefix => "destination.error_output_prefix",
            };
            errors.push(ConfigError::new(at(key), e.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_follow_firehose() {
        assert!(is_valid_stream_name("my-stream_1.x"));
        assert!(!is_valid_stream_name(""));
        assert!(!is_valid_stream_name("has space"));
        assert!(!is_valid_stream_name(&"a".repeat(65)));
    }
}
