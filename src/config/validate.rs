//! Checks that serde's types cannot express: ranges, names, prefixes, coupling rules.

use std::collections::HashSet;

use super::{Config, ConfigError, ConfigErrors, DestinationConfig, StreamConfig};
use crate::keys::{KeyLayout, PrefixField};

pub fn validate(config: &Config) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    if config.delivery_streams.is_empty() {
        errors.push(ConfigError::new(
            "delivery_streams",
            "at least one delivery stream is required",
        ));
    }
    if config.spool.max_size_mb == 0 {
        errors.push(ConfigError::new("spool.max_size_mb", "must be at least 1"));
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

/// Firehose's `DeliveryStreamName` rule: 1–64 characters of `[a-zA-Z0-9_.-]`.
pub fn is_valid_stream_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn validate_stream(s: &StreamConfig, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
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
    if s.max_in_flight_objects == 0 {
        errors.push(ConfigError::new(
            at("max_in_flight_objects"),
            "must be at least 1",
        ));
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
    }
    match KeyLayout::new(s.destination.prefix(), s.destination.error_output_prefix()) {
        Ok(layout) => {
            if let Some(key) = layout.prefix().partition_key_names().next() {
                errors.push(ConfigError::new(
                    at("destination.prefix"),
                    format!("`{key}` is a partition key, but this stream has no processor that supplies partition keys"),
                ));
            }
        }
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
