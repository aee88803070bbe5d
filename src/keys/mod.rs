//! Object keys: Firehose's prefix expression language and its fixed key suffix.
//!
//! A key is `<evaluated prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><ext>`.
//! Prefixes may hold `!{timestamp:<pattern>}`, `!{firehose:random-string}`,
//! `!{firehose:error-output-type}`, `!{partitionKeyFromQuery:k}` and
//! `!{partitionKeyFromLambda:k}`. Parsing happens at config time, so a bad prefix is a
//! config error, never a runtime surprise. `valid` says which evaluated keys a store
//! can take. This module knows nothing of sinks.

mod time_pattern;
mod valid;

pub use valid::{KeyError, check_key};

use time_pattern::{DateToken, default_time_tokens, format_time, parse_time_pattern};

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};

/// Firehose's limit on a prefix as configured.
const MAX_PREFIX_LEN: usize = 1024;
/// Firehose's limit on an evaluated prefix.
pub const MAX_EVALUATED_PREFIX_LEN: usize = 512;

/// Why a prefix is not valid; the message is written for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PrefixError(pub String);

/// Why a key could not be evaluated for a record (its partition key is missing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("partition key `{0}` is missing for this record")]
    MissingPartitionKey(String),
    #[error("the evaluated prefix is {0} characters, over Firehose's limit of 512")]
    TooLong(usize),
    #[error("the evaluated prefix makes an object key that cannot be written: {0}")]
    InvalidKey(#[from] KeyError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Timestamp(Vec<DateToken>),
    RandomString,
    ErrorOutputType,
    PartitionKeyFromQuery(String),
    PartitionKeyFromLambda(String),
}

/// A parsed prefix, ready to evaluate for each object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prefix {
    segments: Vec<Segment>,
}

/// What a prefix is evaluated against.
pub struct KeyContext<'a> {
    /// The arrival time of the oldest record in the object, in the destination's
    /// time zone.
    pub instant: DateTime<FixedOffset>,
    /// For error objects: `processing-failed`, `http-endpoint-failed`, ...
    pub error_output_type: Option<&'a str>,
    /// The record's partition keys (from queries or plugins).
    pub partition_keys: &'a BTreeMap<String, String>,
}

impl Prefix {
    /// Parses a prefix as Firehose does: `!{` may only start an expression.
    pub fn parse(text: &str) -> Result<Self, PrefixError> {
        if text.len() > MAX_PREFIX_LEN {
            return Err(PrefixError(format!(
                "is {} characters; Firehose's limit is {MAX_PREFIX_LEN}",
                text.len()
            )));
        }
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("!{") {
            if start > 0 {
                segments.push(Segment::Literal(rest[..start].to_string()));
            }
            let body_start = start + 2;
            let Some(len) = rest[body_start..].find('}') else {
                return Err(PrefixError(format!(
                    "expression at `{}` is not closed with `}}`",
                    &rest[start..]
                )));
            };
            segments.push(parse_expression(&rest[body_start..body_start + len])?);
            rest = &rest[body_start + len + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        Ok(Self { segments })
    }

    /// The default prefix: no text, so only the appended `yyyy/MM/dd/HH/`.
    pub fn empty() -> Self {
        Self::default()
    }

    fn has(&self, pred: impl Fn(&Segment) -> bool) -> bool {
        self.segments.iter().any(pred)
    }

    /// Whether the prefix holds any `!{...}` expression.
    pub fn has_expressions(&self) -> bool {
        self.has(|s| !matches!(s, Segment::Literal(_)))
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    fn has_timestamp(&self) -> bool {
        self.has(|s| matches!(s, Segment::Timestamp(_)))
    }

    fn has_partition_keys(&self) -> bool {
        self.has(|s| {
            matches!(
                s,
                Segment::PartitionKeyFromQuery(_) | Segment::PartitionKeyFromLambda(_)
            )
        })
    }

    /// The keys of a record's partition map that the prefix uses: Lambda keys by
    /// name, query keys as [`query_key`] names them.
    pub fn partition_key_names(&self) -> impl Iterator<Item = String> {
        self.segments.iter().filter_map(|s| match s {
            Segment::PartitionKeyFromQuery(k) => Some(query_key(k)),
            Segment::PartitionKeyFromLambda(k) => Some(k.clone()),
            _ => None,
        })
    }

    /// The names used by `!{partitionKeyFromLambda:...}` alone.
    pub fn lambda_key_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::PartitionKeyFromLambda(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// The names used by `!{partitionKeyFromQuery:...}` alone.
    pub fn query_key_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::PartitionKeyFromQuery(k) => Some(k.as_str()),
            _ => None,
        })
    }

    /// Evaluates the prefix of a delivered object. As Firehose, a prefix with no
    /// timestamp expression gets `yyyy/MM/dd/HH/` appended by plain concatenation
    /// (`logs` → `logs2024/...`), except a dynamic-partitioning prefix.
    pub fn render(&self, ctx: &KeyContext<'_>) -> Result<String, RenderError> {
        let mut out = String::with_capacity(64);
        // Every timestamp expression in one prefix evaluates to the same instant.
        self.render_into(&mut out, ctx)?;
        if !self.has_timestamp() && !self.has_partition_keys() {
            format_time(&mut out, &default_time_tokens(), ctx.instant);
        }
        if out.len() > MAX_EVALUATED_PREFIX_LEN {
            return Err(RenderError::TooLong(out.len()));
        }
        Ok(out)
    }

    fn render_into(&self, out: &mut String, ctx: &KeyContext<'_>) -> Result<(), RenderError> {
        for segment in &self.segments {
            match segment {
                Segment::Literal(s) => out.push_str(s),
                Segment::Timestamp(tokens) => format_time(out, tokens, ctx.instant),
                Segment::RandomString => out.push_str(&random_string()),
                Segment::ErrorOutputType => out.push_str(ctx.error_output_type.unwrap_or("")),
                Segment::PartitionKeyFromQuery(k) | Segment::PartitionKeyFromLambda(k) => {
                    let held = match segment {
                        Segment::PartitionKeyFromQuery(_) => ctx.partition_keys.get(&query_key(k)),
                        _ => ctx.partition_keys.get(k),
                    };
                    out.push_str(held.ok_or_else(|| RenderError::MissingPartitionKey(k.clone()))?);
                }
            }
        }
        Ok(())
    }
}

/// How a `!{partitionKeyFromQuery:name}` value is held in a record's partition
/// map, beside the plugins' keys: under its expression, so a query key and a
/// Lambda key of the same name stay apart.
pub fn query_key(name: &str) -> String {
    format!("partitionKeyFromQuery:{name}")
}

/// The key prefixes of one destination: where delivered objects go and where failed
/// records go, checked together against Firehose's coupling rules.
#[derive(Debug, Clone)]
pub struct KeyLayout {
    prefix: Prefix,
    prefix_text: String,
    error_prefix: Option<Prefix>,
}

/// Which of the two prefixes a validation error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixField {
    Prefix,
    ErrorOutputPrefix,
}

impl KeyLayout {
    /// Validates a destination's `prefix` and `error_output_prefix` with Firehose's
    /// rules (contract §3.2).
    pub fn new(prefix: &str, error_prefix: &str) -> Result<Self, (PrefixField, PrefixError)> {
        let main = Prefix::parse(prefix).map_err(|e| (PrefixField::Prefix, e))?;
        if main.has(|s| matches!(s, Segment::ErrorOutputType)) {
            return Err((
                PrefixField::Prefix,
                PrefixError(
                    "`!{firehose:error-output-type}` is only allowed in error_output_prefix".into(),
                ),
            ));
        }
        let error = if error_prefix.is_empty() {
            if main.has_expressions() {
                return Err((
                    PrefixField::ErrorOutputPrefix,
                    PrefixError(
                        "is required when prefix uses `!{...}` expressions (as in Firehose)".into(),
                    ),
                ));
            }
            None
        } else {
            let error =
                Prefix::parse(error_prefix).map_err(|e| (PrefixField::ErrorOutputPrefix, e))?;
            if error.has_partition_keys() {
                return Err((
                    PrefixField::ErrorOutputPrefix,
                    PrefixError("`!{partitionKeyFrom...}` expressions are not allowed here".into()),
                ));
            }
            if error.has_expressions() && !error.has(|s| matches!(s, Segment::ErrorOutputType)) {
                return Err((
                    PrefixField::ErrorOutputPrefix,
                    PrefixError(
                        "uses expressions, so it must contain `!{firehose:error-output-type}`"
                            .into(),
                    ),
                ));
            }
            Some(error)
        };
        let layout = Self {
            prefix: main,
            prefix_text: prefix.to_string(),
            error_prefix: error,
        };
        layout.check_evaluated()?;
        Ok(layout)
    }

    /// Firehose's 512-character limit on an evaluated prefix, and keys a store can
    /// take, checked at config time with the widest values a time pattern and an
    /// error type can take. Partition key values are stood in for by `x`: the
    /// values themselves are checked per record (`PartitionCheck`).
    fn check_evaluated(&self) -> Result<(), (PrefixField, PrefixError)> {
        let placeholders: BTreeMap<String, String> = self
            .prefix
            .partition_key_names()
            .map(|k| (k.to_string(), "x".to_string()))
            .collect();
        let ctx = widest_context(&placeholders);
        match self.prefix.render(&ctx) {
            // With partition keys the length depends on the values: checked per record.
            Err(RenderError::TooLong(_)) if self.prefix.has_partition_keys() => {}
            rendered => evaluated(rendered).map_err(|e| (PrefixField::Prefix, e))?,
        }
        evaluated(self.render_error(&ctx)).map_err(|e| (PrefixField::ErrorOutputPrefix, e))
    }

    /// What the partition keys of each record are checked against before it is
    /// buffered; `suffix_len` is the length of the objects' fixed suffix.
    pub fn partition_check(&self, suffix_len: usize) -> PartitionCheck {
        PartitionCheck {
            prefix: self.prefix.clone(),
            names: self.prefix.partition_key_names().collect(),
            suffix: "s".repeat(suffix_len),
        }
    }

    /// The main prefix (for delivered objects).
    pub fn prefix(&self) -> &Prefix {
        &self.prefix
    }

    /// The evaluated prefix of an error object. With no error prefix configured,
    /// Firehose's layout `<prefix><error-output-type>/yyyy/MM/dd/HH/` is used.
    pub fn render_error(&self, ctx: &KeyContext<'_>) -> Result<String, RenderError> {
        match &self.error_prefix {
            Some(p) => p.render(ctx),
            None => {
                let mut out = self.prefix_text.clone();
                out.push_str(ctx.error_output_type.unwrap_or(""));
                out.push('/');
                format_time(&mut out, &default_time_tokens(), ctx.instant);
                if out.len() > MAX_EVALUATED_PREFIX_LEN {
                    return Err(RenderError::TooLong(out.len()));
                }
                Ok(out)
            }
        }
    }
}

/// Whether a prefix evaluated at config time makes keys that can be written.
fn evaluated(rendered: Result<String, RenderError>) -> Result<(), PrefixError> {
    match rendered.and_then(|prefix| Ok(check_key(&(prefix + "f"))?)) {
        Err(RenderError::TooLong(n)) => Err(PrefixError(format!(
            "evaluates to up to {n} characters, over Firehose's limit of {MAX_EVALUATED_PREFIX_LEN}"
        ))),
        Err(RenderError::InvalidKey(e)) => Err(PrefixError(format!(
            "makes object keys that cannot be written: {e}"
        ))),
        Err(RenderError::MissingPartitionKey(_)) | Ok(()) => Ok(()),
    }
}

/// The instant and error type that evaluate a prefix to its longest: a Wednesday
/// in September (the longest day and month names) and the longest error type.
fn widest_context(keys: &BTreeMap<String, String>) -> KeyContext<'_> {
    use chrono::TimeZone;
    KeyContext {
        instant: Utc
            .with_ymd_and_hms(2027, 9, 29, 23, 59, 59)
            .single()
            .unwrap_or_default()
            .fixed_offset(),
        error_output_type: Some("format-conversion-failed"),
        partition_keys: keys,
    }
}

/// The partition keys a destination's prefix uses, and the check a record's values
/// must pass before the record is buffered: the prefix evaluated with them is
/// within Firehose's 512 characters and makes a key a store can take. A record
/// that fails goes to the error output at once; its key could never be written.
#[derive(Debug, Clone, Default)]
pub struct PartitionCheck {
    prefix: Prefix,
    names: Vec<String>,
    /// Stands in for the object's fixed suffix, which ends the last segment.
    suffix: String,
}

impl PartitionCheck {
    /// The keys the prefix uses (`!{partitionKeyFrom...:name}`), in prefix order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether records go to buffers by partition (else all to the one buffer).
    pub fn partitions(&self) -> bool {
        !self.names.is_empty()
    }

    /// Checks one partition's values.
    pub fn check(&self, keys: &BTreeMap<String, String>) -> Result<(), RenderError> {
        let mut key = self.prefix.render(&widest_context(keys))?;
        key.push_str(&self.suffix);
        check_key(&key)?;
        Ok(())
    }
}

/// Parses a source-backup prefix (`backup_prefix`): Firehose's rules for a prefix,
/// without error output types or partition keys, which a backup has neither of.
pub fn parse_backup_prefix(text: &str) -> Result<Prefix, PrefixError> {
    let prefix = Prefix::parse(text)?;
    if prefix.has(|s| matches!(s, Segment::ErrorOutputType)) || prefix.has_partition_keys() {
        return Err(PrefixError(
            "`!{firehose:error-output-type}` and `!{partitionKeyFrom...}` are not allowed in a backup prefix".into(),
        ));
    }
    evaluated(prefix.render(&widest_context(&BTreeMap::new())))?;
    Ok(prefix)
}

/// The fixed part of every key Firehose writes:
/// `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><ext>`.
pub fn object_suffix(
    stream: &str,
    version: u64,
    instant: DateTime<FixedOffset>,
    id: &uuid::Uuid,
    extension: &str,
) -> String {
    format!(
        "{stream}-{version}-{}-{id}{extension}",
        instant.format("%Y-%m-%d-%H-%M-%S")
    )
}

/// Eleven random characters, shaped like the doc examples (a UUID's first 11).
fn random_string() -> String {
    uuid::Uuid::new_v4().to_string()[..11].to_string()
}

fn parse_expression(body: &str) -> Result<Segment, PrefixError> {
    let Some((namespace, value)) = body.split_once(':') else {
        return Err(PrefixError(format!(
            "`!{{{body}}}` is not of the form `!{{namespace:value}}`"
        )));
    };
    match (namespace, value) {
        ("timestamp", pattern) => parse_time_pattern(pattern).map(Segment::Timestamp),
        ("firehose", "random-string") => Ok(Segment::RandomString),
        ("firehose", "error-output-type") => Ok(Segment::ErrorOutputType),
        ("firehose", other) => Err(PrefixError(format!(
            "unknown `firehose:` expression `{other}` (accepted: random-string, error-output-type)"
        ))),
        ("partitionKeyFromQuery" | "partitionKeyFromLambda", "") => {
            Err(PrefixError(format!("`!{{{body}}}` needs a key name")))
        }
        ("partitionKeyFromQuery", key) => Ok(Segment::PartitionKeyFromQuery(key.to_string())),
        ("partitionKeyFromLambda", key) => Ok(Segment::PartitionKeyFromLambda(key.to_string())),
        (other, _) => Err(PrefixError(format!(
            "unknown expression namespace `{other}` (accepted: timestamp, firehose, \
             partitionKeyFromQuery, partitionKeyFromLambda)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<FixedOffset> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
            .fixed_offset()
    }

    /// Firehose's `CustomTimeZone`: keys carry the zone's wall time, DST
    /// included (New York's clocks jump from 02:00 to 03:00 on 2024-03-10 and
    /// from 02:00 back to 01:00 on 2024-11-03), prefix and suffix alike.
    #[test]
    fn keys_take_the_time_zone_across_dst_changes() {
        let zone: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let local = |t: DateTime<FixedOffset>| t.with_timezone(&zone).fixed_offset();
        let id = uuid::Uuid::nil();
        for (utc, prefix, suffix) in [
            (
                at(2024, 3, 10, 6, 59, 0),
                "2024/03/10/01/",
                "s-1-2024-03-10-01-59-00-",
            ),
            (
                at(2024, 3, 10, 7, 0, 0),
                "2024/03/10/03/",
                "s-1-2024-03-10-03-00-00-",
            ),
            (
                at(2024, 11, 3, 5, 30, 0),
                "2024/11/03/01/",
                "s-1-2024-11-03-01-30-00-",
            ),
            (
                at(2024, 11, 3, 6, 30, 0),
                "2024/11/03/01/",
                "s-1-2024-11-03-01-30-00-",
            ),
            (
                at(2024, 11, 3, 7, 0, 0),
                "2024/11/03/02/",
                "s-1-2024-11-03-02-00-00-",
            ),
        ] {
            assert_eq!(render("", local(utc)), prefix, "{utc}");
            assert!(
                object_suffix("s", 1, local(utc), &id, "").starts_with(suffix),
                "{utc}"
            );
        }
        let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
        let t = at(2018, 8, 27, 20, 30, 0)
            .with_timezone(&tokyo)
            .fixed_offset();
        assert_eq!(
            render("day=!{timestamp:yyyy-MM-dd}/h=!{timestamp:HH}/", t),
            "day=2018-08-28/h=05/"
        );
    }

    fn render(prefix: &str, t: DateTime<FixedOffset>) -> String {
        let keys = BTreeMap::new();
        let ctx = KeyContext {
            instant: t,
            error_output_type: None,
            partition_keys: &keys,
        };
        Prefix::parse(prefix).unwrap().render(&ctx).unwrap()
    }

    #[test]
    fn default_time_is_appended_by_plain_concatenation() {
        let t = at(2018, 8, 27, 10, 30, 0);
        assert_eq!(render("", t), "2018/08/27/10/");
        assert_eq!(render("logs/", t), "logs/2018/08/27/10/");
        assert_eq!(render("logs", t), "logs2018/08/27/10/");
    }

    #[test]
    fn timestamp_expressions_follow_the_doc_example() {
        let t = at(2018, 8, 27, 10, 30, 0);
        let p = "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
        assert_eq!(render(p, t), "myPrefix/year=2018/month=08/day=27/hour=10/");
        assert_eq!(render("!{timestamp:yy-M-d'T'H''mm}", t), "18-8-27T10'30");
        assert_eq!(render("!{timestamp:MMM EEE D}/", t), "Aug Mon 239/");
    }

    #[test]
    fn random_string_is_fresh_each_time_and_11_chars() {
        let t = at(2020, 1, 1, 0, 0, 0);
        let out = render("a/!{firehose:random-string}/!{firehose:random-string}/", t);
        let parts: Vec<&str> = out.split('/').collect();
        assert_eq!(parts[1].len(), 11);
        assert_eq!(parts[2].len(), 11);
        assert_ne!(parts[1], parts[2]);
        assert!(out.ends_with("/2020/01/01/00/"), "{out}");
    }

    #[test]
    fn partition_keys_fill_and_suppress_the_default_time() {
        let mut keys = BTreeMap::new();
        keys.insert("customer".to_string(), "42".to_string());
        let ctx = KeyContext {
            instant: at(2020, 1, 1, 0, 0, 0),
            error_output_type: None,
            partition_keys: &keys,
        };
        let p = Prefix::parse("c=!{partitionKeyFromLambda:customer}/").unwrap();
        assert_eq!(p.render(&ctx).unwrap(), "c=42/");
        let missing = Prefix::parse("!{partitionKeyFromQuery:nope}/").unwrap();
        assert_eq!(
            missing.render(&ctx),
            Err(RenderError::MissingPartitionKey("nope".into()))
        );
    }

    #[test]
    fn coupling_rules_are_firehose_s() {
        use PrefixField::*;
        let field = |p: &str, e: &str| KeyLayout::new(p, e).err().map(|(f, _)| f);
        assert_eq!(field("!{firehose:error-output-type}/", "e/"), Some(Prefix));
        assert_eq!(field("!{timestamp:yyyy}/", ""), Some(ErrorOutputPrefix));
        assert_eq!(
            field("x/", "err/!{timestamp:yyyy}/"),
            Some(ErrorOutputPrefix)
        );
        assert_eq!(
            field("x/", "err/!{partitionKeyFromQuery:a}/"),
            Some(ErrorOutputPrefix)
        );
        assert_eq!(field("!{nope:x}", "e/"), Some(Prefix));
        assert_eq!(field("!{timestamp:yyyy", "e/"), Some(Prefix));
        assert_eq!(field("!{timestamp:yyyy-QQ}", "e/"), Some(Prefix));
        assert_eq!(
            field("x/!{timestamp:yyyy}/", "e/!{firehose:error-output-type}/"),
            None
        );
        assert_eq!(field("logs/", ""), None);
        // Evaluated length: 500 literal characters plus `yyyy/MM/dd/HH/` is over 512
        // (in short segments: one over 255 bytes is refused on its own).
        let segmented = |n: usize| "abcd/".repeat(n / 5 + 1)[..n].to_string();
        let long = segmented(500);
        assert_eq!(field(&long, ""), Some(Prefix));
        assert_eq!(field(&segmented(498), "e/"), None);
        // ... and its default error layout (prefix + error type + time) is over too.
        assert_eq!(field(&segmented(498), ""), Some(ErrorOutputPrefix));
        assert_eq!(
            field(&"a".repeat(300), "e/"),
            Some(Prefix),
            "one long segment"
        );
        assert_eq!(
            field("x/", &format!("{long}!{{firehose:error-output-type}}")),
            Some(ErrorOutputPrefix)
        );
    }

    #[test]
    fn error_layout_without_error_prefix_is_firehose_s_default() {
        let keys = BTreeMap::new();
        let ctx = KeyContext {
            instant: at(2018, 8, 27, 10, 30, 0),
            error_output_type: Some("processing-failed"),
            partition_keys: &keys,
        };
        let layout = KeyLayout::new("logs/", "").unwrap();
        assert_eq!(
            layout.render_error(&ctx).unwrap(),
            "logs/processing-failed/2018/08/27/10/"
        );
        let layout = KeyLayout::new("", "errors/!{firehose:error-output-type}/").unwrap();
        assert_eq!(
            layout.render_error(&ctx).unwrap(),
            "errors/processing-failed/2018/08/27/10/"
        );
    }

    #[test]
    fn suffix_has_stream_version_time_and_uuid() {
        let id = uuid::Uuid::nil();
        let s = object_suffix("orders", 1, at(2019, 10, 1, 9, 20, 18), &id, ".gz");
        assert_eq!(
            s,
            "orders-1-2019-10-01-09-20-18-00000000-0000-0000-0000-000000000000.gz"
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn ctx_at(keys: &BTreeMap<String, String>) -> KeyContext<'_> {
        KeyContext {
            instant: Utc
                .with_ymd_and_hms(2024, 2, 29, 23, 59, 58)
                .unwrap()
                .fixed_offset(),
            error_output_type: Some("processing-failed"),
            partition_keys: keys,
        }
    }

    proptest! {
        /// Any text parses to a prefix or a clear error; it never panics, and an
        /// error always says what is wrong.
        #[test]
        fn parsing_never_panics(text in ".{0,80}") {
            match Prefix::parse(&text) {
                Ok(p) => { let _ = p.render(&ctx_at(&BTreeMap::new())); }
                Err(e) => prop_assert!(!e.0.is_empty()),
            }
        }

        /// Text without `!{` is literal: the prefix is itself plus Firehose's time path.
        #[test]
        fn literal_prefixes_get_the_time_appended(text in "[a-zA-Z0-9/=_.-]{0,60}") {
            let rendered = Prefix::parse(&text).unwrap().render(&ctx_at(&BTreeMap::new())).unwrap();
            prop_assert_eq!(rendered, format!("{text}2024/02/29/23/"));
        }

        /// Partition key values land verbatim wherever their expression stands.
        #[test]
        fn partition_keys_are_substituted(
            name in "[a-z]{1,8}", value in "[a-zA-Z0-9_-]{1,20}", before in "[a-z/]{0,10}", after in "[a-z/]{0,10}",
        ) {
            let mut keys = BTreeMap::new();
            keys.insert(name.clone(), value.clone());
            let text = format!("{before}!{{partitionKeyFromLambda:{name}}}{after}");
            let rendered = Prefix::parse(&text).unwrap().render(&ctx_at(&keys)).unwrap();
            prop_assert_eq!(rendered, format!("{before}{value}{after}"));
        }
    }
}
