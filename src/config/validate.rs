//! Checks that serde's types cannot express: ranges, names, prefixes, coupling rules.

use std::collections::HashSet;

use super::{
    Config, ConfigError, ConfigErrors, DELIVERY_MEMORY_MB_RANGE, FormatConfig,
    INGEST_MEMORY_MB_RANGE, MAX_DECODED_BODY_MB, MAX_SHUTDOWN_TIMEOUT_SECONDS, ParquetFormat,
    StreamConfig,
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
        .filter(|s| s.source.kind().reads_stdin())
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

/// Each processor's own checks, and Firehose's rule that a stream takes each
/// built-in processor once (plugins chain).
fn validate_processors(
    s: &StreamConfig,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, processor) in s.processors.iter().enumerate() {
        let kind = processor.kind();
        let key = |field: &str| at(&format!("processors[{i}].{field}"));
        if !kind.chains() && !seen.insert(kind.firehose_type()) {
            errors.push(ConfigError::new(
                key("type"),
                format!(
                    "a stream takes one {}{}",
                    kind.type_name(),
                    kind.one_per_stream_hint()
                ),
            ));
        }
        kind.check(s, &key, errors);
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
                // Records routed to a table may also name their `operation`
                // (refused unless `insert` as it is routed).
                let inserts_only = s.routing().inserts_only;
                for key in keys
                    .iter()
                    .filter(|q| !used.contains(&q.as_str()))
                    .filter(|q| !(inserts_only && q.as_str() == "operation"))
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
    s.source.kind().check(at, errors);
    if let FormatConfig::Parquet(format) = &s.format {
        validate_parquet(s, format, at, errors);
    }
    let destination = s.destination.kind();
    destination.check(s, at, errors);
    let layout = destination.layout();
    let max_retry = destination.max_retry_duration_seconds();
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
