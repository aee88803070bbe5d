//! Firehose's `MetadataExtraction` processor: one jq object expression, evaluated
//! per JSON record, whose values fill `!{partitionKeyFromQuery:...}` (contract
//! §6.2). The query runs on jaq, a maintained jq implementation in Rust, with its
//! standard library (`strftime`, `tostring`, `split`, slicing, `//`, ...).

use std::collections::BTreeMap;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::Term;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde::Deserialize;

use super::field_query::FieldQuery;
use super::settings::ProcessorKind;
use super::{Batch, METADATA_EXTRACTION_FAILED, Processor};
use crate::config::{ConfigError, StreamConfig};
use crate::keys::query_key;
use crate::transform::{Failure, Verdict};

/// `{ type = "metadata_extraction", query = "{customer: .customer_id}" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataExtractionProcessor {
    /// One jq object expression, up to 50 keys: `{customer: .customer_id}`.
    pub query: String,
}

impl ProcessorKind for MetadataExtractionProcessor {
    fn firehose_type(&self) -> &'static str {
        "MetadataExtraction"
    }

    fn type_name(&self) -> &'static str {
        "metadata_extraction"
    }

    fn stage(&self) -> u8 {
        4
    }

    fn one_per_stream_hint(&self) -> &'static str {
        " (one query of up to 50 keys)"
    }

    /// The query compiles, and names at most Firehose's 50 keys.
    fn check(
        &self,
        _s: &StreamConfig,
        key: &dyn Fn(&str) -> String,
        errors: &mut Vec<ConfigError>,
    ) {
        let at = key("query");
        if let Err(e) = MetadataExtraction::new(&self.query) {
            errors.push(ConfigError::new(at, format!("does not compile: {e}")));
        } else if let Some(keys) = MetadataExtraction::key_names(&self.query)
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

    fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MetadataExtractionQuery", self.query.clone()),
            ("JsonParsingEngine", "JQ-1.6".to_string()),
        ]
    }
}

/// Firehose's limit of keys in one query.
pub const MAX_KEYS: usize = 50;

/// A compiled query.
pub struct MetadataExtraction {
    filter: jaq_core::Filter<data::JustLut<Val>>,
    /// The one-pass answer of queries of the shape `{name: .field, ...}`.
    fields: Option<FieldQuery>,
    /// Keys left out of a record's partition keys when null, rather than
    /// failing the record (they have defaults downstream).
    optional: Vec<String>,
}

/// Why a query does not compile, in words that point at the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl MetadataExtraction {
    /// Compiles `query`; the error says what is wrong and where.
    pub fn new(query: &str) -> Result<Self, QueryError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let program = File {
            code: query,
            path: (),
        };
        let modules = loader
            .load(&arena, program)
            .map_err(|errors| QueryError(load_errors(query, errors)))?;
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let undefined: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, errs)| errs)
                    .map(|(name, kind)| {
                        format!(
                            "undefined {} `{name}` at offset {}",
                            kind.as_str(),
                            offset(query, name)
                        )
                    })
                    .collect();
                QueryError(undefined.join("; "))
            })?;
        Ok(Self {
            filter,
            fields: FieldQuery::of(query),
            optional: Vec::new(),
        })
    }

    /// Leaves these keys out when a record's value for them is null or
    /// missing, instead of failing the record.
    pub fn with_optional(mut self, keys: Vec<String>) -> Self {
        self.optional = keys;
        self
    }

    /// The keys the query's object names, when they are written out (`{a: .x,
    /// "b": .y}`); `None` when the query is not an object expression with fixed
    /// keys, and the keys are only known per record.
    pub fn key_names(query: &str) -> Option<Vec<String>> {
        let term: Term<&str> = jaq_core::load::parse(query, |p| p.term())?;
        let Term::Obj(entries) = term else {
            return None;
        };
        entries
            .iter()
            .map(|(key, _)| match key {
                Term::Str(None, parts) => match parts.as_slice() {
                    [StrPart::Str(s)] => Some((*s).to_string()),
                    [] => Some(String::new()),
                    _ => None,
                },
                Term::Call(name, args) if args.is_empty() => Some((*name).to_string()),
                Term::Var(name) => Some(name.trim_start_matches('$').to_string()),
                _ => None,
            })
            .collect()
    }

    /// The partition keys of one record: the query's object, each value a string
    /// (numbers and booleans as jq prints them). A record that is not JSON, a
    /// query that fails or yields no object, and a null or missing value are
    /// errors, in words for the error record.
    pub fn extract(&self, record: &[u8]) -> Result<BTreeMap<String, String>, String> {
        if let Some(keys) = self.fields.as_ref().and_then(|f| f.extract(record)) {
            return Ok(keys);
        }
        self.extract_with_jq(record)
    }

    /// [`MetadataExtraction::extract`] by jq alone.
    pub fn extract_with_jq(&self, record: &[u8]) -> Result<BTreeMap<String, String>, String> {
        let input = jaq_json::read::parse_single(record)
            .map_err(|e| format!("Non JSON record provided: {e}"))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = self.filter.id.run((ctx, input)).map(unwrap_valr);
        let value = match out.next() {
            Some(Ok(value)) => value,
            Some(Err(e)) => return Err(format!("the query failed: {e}")),
            None => return Err("the query yielded nothing".into()),
        };
        let Val::Obj(object) = value else {
            return Err(format!("the query yielded {value}, not an object"));
        };
        if object.len() > MAX_KEYS {
            return Err(format!(
                "the query yielded {} keys, over Firehose's limit of {MAX_KEYS}",
                object.len()
            ));
        }
        let mut keys = BTreeMap::new();
        for (key, value) in object.iter() {
            let key =
                text(key).ok_or_else(|| format!("the query yielded a key {key}, not a string"))?;
            let value = match value {
                Val::Null if self.optional.contains(&key) => continue,
                Val::Null => return Err(format!("key `{key}` is null for this record")),
                Val::Arr(_) | Val::Obj(_) => {
                    return Err(format!(
                        "key `{key}` is {value}, not a string, number or boolean"
                    ));
                }
                other => text(other).unwrap_or_else(|| other.to_string()),
            };
            keys.insert(key, value);
        }
        Ok(keys)
    }
}

impl Processor for MetadataExtraction {
    fn firehose_type(&self) -> &'static str {
        "MetadataExtraction"
    }

    /// Adds each record's keys to those the plugins returned, under
    /// [`query_key`] names; a record whose keys cannot be had fails.
    fn process(&mut self, batch: &mut Batch<'_>) {
        for i in 0..batch.verdicts.len() {
            if !matches!(batch.verdicts[i], Verdict::Ok { .. }) {
                continue;
            }
            let extracted = self.extract(batch.data(i));
            let verdict = &mut batch.verdicts[i];
            match (extracted, verdict) {
                (Ok(keys), Verdict::Ok { partition_keys, .. }) => {
                    partition_keys.extend(keys.into_iter().map(|(k, v)| (query_key(&k), v)));
                }
                (Err(message), verdict) => {
                    *verdict =
                        Verdict::Failed(Failure::by_host(METADATA_EXTRACTION_FAILED, message));
                }
                (Ok(_), _) => {}
            }
        }
    }
}

/// A string value's text, without quotes.
fn text(v: &Val) -> Option<String> {
    match v {
        Val::TStr(b) | Val::BStr(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// Where `part` (a slice of `whole`) starts.
fn offset(whole: &str, part: &str) -> usize {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    if p >= w && p <= w + whole.len() {
        p - w
    } else {
        0
    }
}

fn load_errors<P>(query: &str, errors: jaq_core::load::Errors<&str, P>) -> String {
    use jaq_core::load::Error;
    let mut out = Vec::new();
    for (_, error) in errors {
        match error {
            Error::Io(errs) => out.extend(
                errs.into_iter()
                    .map(|(path, e)| format!("cannot load `{path}`: {e}")),
            ),
            Error::Lex(errs) => out.extend(errs.into_iter().map(|(expect, at)| {
                format!(
                    "expected {} at offset {}",
                    lex_expect(&expect),
                    offset(query, at)
                )
            })),
            Error::Parse(errs) => out.extend(errs.into_iter().map(|(expect, at)| {
                let found = if at.is_empty() {
                    "the end".to_string()
                } else {
                    format!("`{at}`")
                };
                format!(
                    "expected {} but found {found} at offset {}",
                    expect.as_str(),
                    offset(query, at)
                )
            })),
        }
    }
    out.join("; ")
}

/// What the lexer wanted, without `as_str`'s panic on unusual delimiters.
fn lex_expect(expect: &jaq_core::load::lex::Expect<&str>) -> &'static str {
    use jaq_core::load::lex::Expect;
    match expect {
        Expect::Delim("(" | "[" | "{" | "\"")
        | Expect::Digit
        | Expect::Ident
        | Expect::Escape
        | Expect::Unicode
        | Expect::Token => expect.as_str(),
        _ => "a closing delimiter",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(query: &str, record: &str) -> Result<BTreeMap<String, String>, String> {
        MetadataExtraction::new(query)
            .unwrap()
            .extract(record.as_bytes())
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Firehose's documented example (contract §6.1).
    #[test]
    fn the_documented_query_gives_the_documented_keys() {
        let query = r#"{"customer_id":.customer_id,"year":.event_timestamp|strftime("%Y")}"#;
        let record =
            r#"{"customer_id":"1234567890","event_timestamp":1565382027,"region":"us-east-1"}"#;
        assert_eq!(
            keys(query, record).unwrap(),
            map(&[("customer_id", "1234567890"), ("year", "2019")])
        );
    }

    #[test]
    fn the_functions_firehose_users_write_work() {
        let record =
            r#"{"id":42,"ok":true,"path":"a/b/c","name":"sluice","ts":1704067200,"m":{"n":"x"}}"#;
        let query = r#"{id: .id | tostring, ok: .ok, first: (.path | split("/")[0]), head: .name[0:3],
            fallback: (.missing // "none"), nested: .m.n, month: (.ts | strftime("%m")), n: .id}"#;
        assert_eq!(
            keys(query, record).unwrap(),
            map(&[
                ("id", "42"),
                ("ok", "true"),
                ("first", "a"),
                ("head", "slu"),
                ("fallback", "none"),
                ("nested", "x"),
                ("month", "01"),
                ("n", "42")
            ])
        );
    }

    #[test]
    fn optional_keys_are_left_out_when_null_or_missing() {
        let q = MetadataExtraction::new("{destinationTableName: .kind, day: .d}")
            .unwrap()
            .with_optional(vec!["destinationTableName".to_string()]);
        assert_eq!(q.extract(br#"{"d":"01"}"#).unwrap(), map(&[("day", "01")]));
        assert_eq!(
            q.extract(br#"{"kind":null,"d":"01"}"#).unwrap(),
            map(&[("day", "01")])
        );
        assert_eq!(
            q.extract(br#"{"kind":"clicks","d":"01"}"#).unwrap(),
            map(&[("day", "01"), ("destinationTableName", "clicks")])
        );
        assert!(
            q.extract(br#"{"kind":"clicks"}"#).is_err(),
            "others stay required"
        );
    }

    #[test]
    fn what_cannot_make_keys_says_why() {
        let q = "{a: .a}";
        assert!(
            keys(q, "not json")
                .unwrap_err()
                .starts_with("Non JSON record provided")
        );
        assert_eq!(
            keys(q, r#"{"b":1}"#).unwrap_err(),
            "key `a` is null for this record"
        );
        assert!(
            keys(q, r#"{"a":[1]}"#)
                .unwrap_err()
                .contains("not a string")
        );
        assert!(
            keys(".a", r#"{"a":1}"#)
                .unwrap_err()
                .contains("not an object")
        );
        assert!(
            keys("{a: (.a | strftime(1))}", r#"{"a":"x"}"#)
                .unwrap_err()
                .starts_with("the query failed")
        );
        assert_eq!(
            keys("empty", "{}").unwrap_err(),
            "the query yielded nothing"
        );
    }

    #[test]
    fn a_bad_query_is_refused_with_where() {
        let e = MetadataExtraction::new("{a: .a | strftme(\"%Y\")}")
            .err()
            .unwrap()
            .0;
        assert!(e.contains("strftme"), "{e}");
        let e = MetadataExtraction::new("{a: .a").err().unwrap().0;
        assert!(e.contains("expected"), "{e}");
        let e = MetadataExtraction::new("{a: .a, (b): }").err().unwrap().0;
        assert!(e.contains("offset"), "{e}");
    }

    #[test]
    fn written_out_keys_are_known_before_any_record() {
        assert_eq!(
            MetadataExtraction::key_names(r#"{customer: .c, "year": .y, $__loc__}"#),
            Some(vec!["customer".into(), "year".into(), "__loc__".into()])
        );
        assert_eq!(MetadataExtraction::key_names("{(.k): .v}"), None);
        assert_eq!(MetadataExtraction::key_names(".a"), None);
    }
}
