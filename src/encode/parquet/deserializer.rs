//! Firehose's two JSON deserializers, as options: how JSON keys find columns and how
//! leniently values are read.
//!
//! - OpenX (`OpenXJsonSerDe`): keys are matched case-insensitively by default,
//!   dotted keys may become underscores, columns may read from another key, strings
//!   are read as numbers and booleans, and objects or arrays in a string column are
//!   kept as their JSON text.
//! - Hive (`HiveJsonSerDe`): keys are matched case-insensitively, values must have
//!   the column's JSON type (a string in a numeric column fails), and timestamps are
//!   read with the configured `TimestampFormats`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::timestamp::{Format, TimestampRules};

/// The `deserializer` key of a Parquet format.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeserializerConfig {
    Openx {
        /// Lower-case JSON keys before matching them to columns (default true).
        #[serde(default = "yes")]
        case_insensitive: bool,
        /// Read the key `a.b` into the column `a_b` (default false).
        #[serde(default)]
        convert_dots_in_json_keys_to_underscores: bool,
        /// Column name → the JSON key it is read from, for keys that are not valid
        /// column names (top-level keys).
        #[serde(default)]
        column_to_json_key_mappings: BTreeMap<String, String>,
    },
    Hive {
        /// Joda-Time patterns (or `millis`) tried in order before
        /// `yyyy-MM-dd HH:mm:ss[.fffffffff]`.
        #[serde(default)]
        timestamp_formats: Vec<String>,
    },
}

fn yes() -> bool {
    true
}

impl Default for DeserializerConfig {
    fn default() -> Self {
        Self::Openx {
            case_insensitive: true,
            convert_dots_in_json_keys_to_underscores: false,
            column_to_json_key_mappings: BTreeMap::new(),
        }
    }
}

impl DeserializerConfig {
    /// Firehose's name for it, as `DescribeDeliveryStream` shows it.
    pub fn firehose_name(&self) -> &'static str {
        match self {
            Self::Openx { .. } => "OpenXJsonSerDe",
            Self::Hive { .. } => "HiveJsonSerDe",
        }
    }
}

/// The compiled options the converter applies.
#[derive(Debug, Clone)]
pub struct Rules {
    /// OpenX's coercions: strings to numbers and booleans, nested values to text.
    pub lenient: bool,
    pub case_insensitive: bool,
    pub dots_to_underscores: bool,
    pub timestamps: TimestampRules,
    /// Column → JSON key, already normalised as keys are.
    pub mappings: BTreeMap<String, String>,
}

impl Rules {
    pub fn new(config: &DeserializerConfig) -> Result<Self, String> {
        Ok(match config {
            DeserializerConfig::Openx {
                case_insensitive,
                convert_dots_in_json_keys_to_underscores,
                column_to_json_key_mappings,
            } => {
                let mut rules = Self {
                    lenient: true,
                    case_insensitive: *case_insensitive,
                    dots_to_underscores: *convert_dots_in_json_keys_to_underscores,
                    timestamps: TimestampRules::OpenX,
                    mappings: BTreeMap::new(),
                };
                rules.mappings = column_to_json_key_mappings
                    .iter()
                    .map(|(column, key)| (rules.name(column), rules.key(key).into_owned()))
                    .collect();
                rules
            }
            DeserializerConfig::Hive { timestamp_formats } => Self {
                lenient: false,
                case_insensitive: true,
                dots_to_underscores: false,
                timestamps: TimestampRules::Hive(
                    timestamp_formats
                        .iter()
                        .map(|f| Format::parse(f))
                        .collect::<Result<_, _>>()?,
                ),
                mappings: BTreeMap::new(),
            },
        })
    }

    /// A JSON key as it is matched against column and field names.
    pub fn key<'a>(&self, key: &'a str) -> Cow<'a, str> {
        let mut key = Cow::Borrowed(key);
        if self.dots_to_underscores && key.contains('.') {
            key = Cow::Owned(key.replace('.', "_"));
        }
        if self.case_insensitive && key.chars().any(char::is_uppercase) {
            key = Cow::Owned(key.to_lowercase());
        }
        key
    }

    /// A column or field name as keys are matched against it.
    pub fn name(&self, name: &str) -> String {
        if self.case_insensitive {
            name.to_lowercase()
        } else {
            name.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openx_folds_case_and_dots_as_configured() {
        let rules = Rules::new(&DeserializerConfig::Openx {
            case_insensitive: true,
            convert_dots_in_json_keys_to_underscores: true,
            column_to_json_key_mappings: BTreeMap::from([("ts".into(), "Time.Stamp".into())]),
        })
        .unwrap();
        assert_eq!(rules.key("User.ID"), "user_id");
        assert_eq!(rules.mappings["ts"], "time_stamp");
        let exact = Rules::new(&DeserializerConfig::Openx {
            case_insensitive: false,
            convert_dots_in_json_keys_to_underscores: false,
            column_to_json_key_mappings: BTreeMap::new(),
        })
        .unwrap();
        assert_eq!(exact.key("User.ID"), "User.ID");
    }

    #[test]
    fn hive_refuses_a_bad_timestamp_format() {
        let e = Rules::new(&DeserializerConfig::Hive {
            timestamp_formats: vec!["yyyy-QQ".into()],
        })
        .unwrap_err();
        assert!(e.contains("`QQ` is not supported"), "{e}");
    }
}
