//! Checks that serde's types cannot express: ranges, names, prefixes, coupling rules.

use std::collections::HashSet;

use super::{
    Config, ConfigError, ConfigErrors, DestinationConfig, FormatConfig, HttpDestination,
    INGEST_MEMORY_MB_RANGE, KinesisSource, MAX_DECODED_BODY_MB, MAX_HTTP_RETRY_DURATION_SECONDS,
    MAX_RETRY_DURATION_SECONDS, MAX_SHUTDOWN_TIMEOUT_SECONDS, ObjectDestination, ParquetFormat,
    ProcessorConfig, S3Destination, SourceConfig, StartingPosition, StreamConfig, SubRecordType,
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
    if !INGEST_MEMORY_MB_RANGE.contains(&config.server.ingest_memory_mb) {
        errors.push(ConfigError::new(
            "server.ingest_memory_mb",
            format!(
                "{} is out of range (accepted: {} to {})",
                config.server.ingest_memory_mb,
                INGEST_MEMORY_MB_RANGE.start(),
                INGEST_MEMORY_MB_RANGE.end()
            ),
        ));
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

fn validate_s3(s3: &S3Destination, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
    if !is_valid_bucket_name(&s3.bucket) {
        errors.push(ConfigError::new(
            at("destination.bucket"),
            format!(
                "`{}` is not a valid bucket name (3 to 63 characters of a-z 0-9 . -, starting and ending with a letter or digit)",
                s3.bucket
            ),
        ));
    }
    if let Some(endpoint) = &s3.endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        errors.push(ConfigError::new(
            at("destination.endpoint"),
            format!("`{endpoint}` must start with http:// or https://"),
        ));
    }
    if s3.access_key_id.is_some() != s3.secret_access_key.is_some() {
        errors.push(ConfigError::new(
            at("destination.access_key_id"),
            "access_key_id and secret_access_key go together",
        ));
    }
}

/// The Iceberg table's own checks, and what does not go with a table: the
/// table's schema decides the columns and Parquet its file format, so the
/// stream's own format, compression and backup settings do not apply.
fn validate_iceberg(
    s: &StreamConfig,
    iceberg: &crate::sinks::iceberg::IcebergDestination,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    iceberg.validate(at, errors);
    if matches!(s.format, FormatConfig::Parquet(_)) {
        errors.push(ConfigError::new(
            at("format"),
            "an Iceberg destination converts records with its table's schema: remove `format`",
        ));
    }
    if s.compression != crate::encode::Compression::None {
        errors.push(ConfigError::new(
            at("compression"),
            "an Iceberg table's data files are Parquet: remove `compression`",
        ));
    }
}

fn validate_http(
    s: &StreamConfig,
    http: &HttpDestination,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    if !(http.url.starts_with("https://") || http.url.starts_with("http://"))
        || http.url.len() > 1000
    {
        errors.push(ConfigError::new(
            at("destination.url"),
            format!(
                "`{}` must be an https:// (or http://) URL of at most 1000 characters",
                http.url
            ),
        ));
    }
    if s.buffering.size_mb > 64 {
        errors.push(ConfigError::new(
            at("buffering.size_mb"),
            format!(
                "{} is out of range for an HTTP endpoint (accepted: 1 to 64)",
                s.buffering.size_mb
            ),
        ));
    }
    if s.compression != crate::encode::Compression::None {
        errors.push(ConfigError::new(
            at("compression"),
            "must be `none` for an HTTP endpoint: use destination.content_encoding = \"gzip\"",
        ));
    }
    if http.common_attributes.len() > 50 {
        errors.push(ConfigError::new(
            at("destination.common_attributes"),
            "at most 50 attributes",
        ));
    }
    if http.request_timeout_seconds == 0 {
        errors.push(ConfigError::new(
            at("destination.request_timeout_seconds"),
            "must be at least 1",
        ));
    }
    if let Some(path) = &http.ca_file
        && let Err(e) = std::fs::read(path)
    {
        errors.push(ConfigError::new(
            at("destination.ca_file"),
            format!("cannot read {}: {e}", path.display()),
        ));
    }
    if let ObjectDestination::S3(s3) = &http.error_destination {
        let at = |key: &str| {
            at(&format!(
                "destination.error_destination.{}",
                key.trim_start_matches("destination.")
            ))
        };
        validate_s3(s3, &at, errors);
    }
}

/// S3's bucket naming rules (the DNS-compatible ones every S3 store accepts).
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

fn is_valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
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
                for key in keys.iter().filter(|q| !used.contains(&q.as_str())) {
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
        } else if level > 9 {
            errors.push(ConfigError::new(
                at("compression_level"),
                format!("{level} is out of range (accepted: 0 to 9)"),
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
        DestinationConfig::Local(local) => {
            if local.path.as_os_str().is_empty() {
                errors.push(ConfigError::new(
                    at("destination.path"),
                    "must not be empty",
                ));
            }
        }
        DestinationConfig::S3(s3) => validate_s3(s3, at, errors),
        DestinationConfig::Http(http) => validate_http(s, http, at, errors),
        DestinationConfig::Iceberg(iceberg) => validate_iceberg(s, iceberg, at, errors),
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
    match KeyLayout::new(&s.destination.prefix(), s.destination.error_output_prefix()) {
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

    #[test]
    fn bucket_names_follow_s3() {
        assert!(is_valid_bucket_name("test-bucket"));
        assert!(is_valid_bucket_name("logs.example.com"));
        for bad in [
            "t1",
            "Test-Bucket",
            "-bucket",
            "bucket-",
            "a..b",
            "under_score",
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }
}
