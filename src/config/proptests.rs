//! Property tests of config loading and validation (the I4): any text
//! loads or is refused with errors that each name a key; and of configs drawn
//! from odd but plausible values (prefixes with every expression kind and odd
//! literals, buffering and retry values in and out of range, names, compression),
//! every one that is accepted makes object and error keys a store takes, for any
//! arrival time and every error output type.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::load;
use crate::keys::{KeyContext, KeyLayout, check_key, object_suffix};

/// Loads `text` as a config file.
fn load_text(text: &str) -> Result<super::Config, super::ConfigErrors> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, text).expect("config written");
    load(Some(&path))
}

/// Mostly pieces a prefix may hold, some it may not: most drawn configs are
/// accepted, so the property about accepted ones has cases to check.
fn prefix() -> impl Strategy<Value = String> {
    let good = prop::sample::select(vec![
        "",
        "logs",
        "logs/",
        "a b/",
        "ünï/",
        "x=1/",
        "-",
        "'",
        "!{timestamp:yyyy}/",
        "!{timestamp:yyyy/MM/dd/HH}/",
        "!{timestamp:'it''s'}",
        "!{firehose:random-string}/",
        "!{partitionKeyFromLambda:k}/",
        "..x/",
        "a.b/",
    ]);
    let odd = prop::sample::select(vec![
        "/",
        "//",
        ".",
        "..",
        "\u{1}",
        "!{timestamp:'..'}",
        "!{timestamp:yyyy//MM}",
        "!{timestamp:}",
        "!{firehose:error-output-type}",
        "!{",
        "}",
        "!{unknown:x}",
    ]);
    let piece = prop_oneof![6 => good, 1 => odd];
    prop::collection::vec(piece, 0..4).prop_map(|p| p.concat())
}

fn error_prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        3 => prefix().prop_map(|p| format!("errors/{p}!{{firehose:error-output-type}}/")),
        1 => prefix(),
    ]
}

/// Over Firehose's 64-character limit on stream names.
const LONG_NAME: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

fn stream() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            6 => Just("s"),
            1 => prop::sample::select(vec!["", "a b", "ü", LONG_NAME]),
        ],
        prop_oneof![
            6 => prop::sample::select(vec!["none", "gzip", "zip", "snappy", "hadoop_snappy"]),
            1 => Just("lz4"),
        ],
        prop_oneof![6 => (1u64..=128, 0u64..=900), 1 => (0u64..200, 0u64..1000)],
        prefix(),
        error_prefix(),
        prop::sample::select(vec!["local", "s3"]),
        0u64..100_000,
    )
        .prop_map(
            |(name, compression, (size_mb, interval), prefix, error_prefix, kind, retry)| {
                let destination = match kind {
                    "s3" => format!(
                        "{{ type = \"s3\", bucket = \"b-1\", endpoint = \"http://127.0.0.1:9\", \
                         region = \"us-east-1\", prefix = {prefix:?}, error_output_prefix = {error_prefix:?}, \
                         retry_duration_seconds = {retry} }}"
                    ),
                    _ => format!(
                        "{{ type = \"local\", path = \"/tmp/out\", prefix = {prefix:?}, \
                         error_output_prefix = {error_prefix:?} }}"
                    ),
                };
                format!(
                    "[[delivery_streams]]\nname = {name:?}\ncompression = \"{compression}\"\n\
                     buffering = {{ size_mb = {size_mb}, interval_seconds = {interval} }}\n\
                     destination = {destination}\n"
                )
            },
        )
}

const ERROR_TYPES: &[&str] = &[
    "processing-failed",
    "delivery-failed",
    "format-conversion-failed",
    "record-too-large",
    "spool-corrupt",
    "http-endpoint-failed",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_text_loads_or_every_error_names_a_key(text in "(?s).{0,300}") {
        if let Err(errors) = load_text(&text) {
            prop_assert!(!errors.0.is_empty());
            for e in &errors.0 {
                prop_assert!(!e.key.is_empty() && !e.message.is_empty(), "{e:?}");
            }
        }
    }

    #[test]
    fn an_accepted_config_makes_keys_a_store_takes(
        stream in stream(),
        at in 0i64..4_102_444_800,
        value in prop::sample::select(vec!["x", "ok", "2026"]),
    ) {
        let config = match load_text(&stream) {
            Ok(config) => config,
            Err(errors) => {
                for e in &errors.0 {
                    prop_assert!(!e.key.is_empty() && !e.message.is_empty(), "{e:?}");
                }
                return Ok(());
            }
        };
        let instant = DateTime::<Utc>::from_timestamp(at, 0).expect("a time");
        let keys: BTreeMap<String, String> = [("k".to_string(), value.to_string())].into();
        for s in &config.delivery_streams {
            let layout = KeyLayout::new(&s.data_prefix(), s.destination.error_output_prefix())
                .map_err(|(field, e)| TestCaseError::fail(format!("accepted, yet {field:?}: {e}")))?;
            let instant = instant.fixed_offset();
            let suffix = object_suffix(&s.name, 1, instant, &uuid::Uuid::nil(), ".gz");
            let ctx = KeyContext { instant, error_output_type: None, partition_keys: &keys };
            let key = layout.prefix().render(&ctx).expect("an accepted prefix renders") + &suffix;
            prop_assert!(check_key(&key).is_ok(), "accepted, yet {key:?}: {:?}", check_key(&key));
            for kind in ERROR_TYPES {
                let ctx = KeyContext { error_output_type: Some(kind), ..ctx };
                let key = layout.render_error(&ctx).expect("an accepted error prefix renders") + &suffix;
                prop_assert!(check_key(&key).is_ok(), "accepted, yet {key:?}: {:?}", check_key(&key));
            }
        }
    }
}
