//! The common shape of a metadata extraction query, `{name: .field, ...}` (each
//! key a top-level field of the record), answered in one pass of serde_json
//! over the record that keeps only the named fields' strings and skips the
//! rest without building it.
//!
//! jq (jaq) builds the whole record as a tree of values, which costs an
//! allocation per member; for this shape the answer needs none but the keys'.
//! The pass answers only where it is sure to agree with jq: a record of valid
//! UTF-8 holding one JSON object whose named fields are all strings. Anything
//! else (not JSON, not an object, a field missing, null, a number, an escape
//! serde_json and jq might read differently) is left to jq, so errors and
//! unusual values read exactly as jq has them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::Term;
use jaq_core::path::{Opt, Part};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A query of the shape `{name: .field, ...}`: for each key of the result, the
/// record's field it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldQuery {
    /// (key, field), in the query's order.
    keys: Vec<(String, String)>,
    /// The distinct fields, sorted.
    fields: Vec<String>,
}

impl FieldQuery {
    /// The query's keys and fields, if it has this shape.
    pub fn of(query: &str) -> Option<Self> {
        let term: Term<&str> = jaq_core::load::parse(query, |p| p.term())?;
        let Term::Obj(entries) = term else {
            return None;
        };
        let mut keys = Vec::with_capacity(entries.len());
        for (key, value) in &entries {
            let key = match key {
                Term::Str(None, parts) => plain(parts)?,
                Term::Call(name, args) if args.is_empty() => (*name).to_string(),
                _ => return None,
            };
            let field = match value {
                // `{a}` is `{a: .a}`.
                None => key.clone(),
                Some(Term::Path(base, path)) if matches!(**base, Term::Id) => match &path.0[..] {
                    [(Part::Index(Term::Str(None, parts)), Opt::Essential)] => plain(parts)?,
                    _ => return None,
                },
                Some(_) => return None,
            };
            keys.push((key, field));
        }
        let mut fields: Vec<String> = keys.iter().map(|(_, f)| f.clone()).collect();
        fields.sort();
        fields.dedup();
        Some(Self { keys, fields })
    }

    /// The keys of `record`, when one pass can tell them as jq would; `None`
    /// leaves the record to jq.
    pub fn extract(&self, record: &[u8]) -> Option<BTreeMap<String, String>> {
        let text = std::str::from_utf8(record).ok()?;
        let mut found: Vec<Found<'_>> = vec![Found::Missing; self.fields.len()];
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_map(Members {
            fields: &self.fields,
            found: &mut found,
        })
        .ok()?;
        de.end().ok()?;
        let mut keys = BTreeMap::new();
        for (key, field) in &self.keys {
            let at = self.fields.binary_search(field).ok()?;
            let Found::Str(value) = &found[at] else {
                return None;
            };
            keys.insert(key.clone(), value.to_string());
        }
        Some(keys)
    }
}

/// A string literal with no interpolation.
fn plain<T>(parts: &[StrPart<&str, T>]) -> Option<String> {
    match parts {
        [] => Some(String::new()),
        [StrPart::Str(s)] => Some((*s).to_string()),
        _ => None,
    }
}

/// What the pass found of one field (the last occurrence counts, as in jq).
#[derive(Clone)]
enum Found<'de> {
    Missing,
    Str(Cow<'de, str>),
    /// Not a string, or a string only jq should read.
    Other,
}

/// The record's top-level object.
struct Members<'a, 'de> {
    fields: &'a [String],
    found: &'a mut [Found<'de>],
}

impl<'de> Visitor<'de> for Members<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(named) = map.next_key_seed(Key(self.fields))? {
            match named {
                Some(at) => self.found[at] = map.next_value_seed(Value)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A member's name: which of the fields it is, if any (read without a copy).
struct Key<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(self.0.binary_search_by(|f| f.as_str().cmp(name)).ok())
    }
}

/// One named field's value.
struct Value;

impl<'de> DeserializeSeed<'de> for Value {
    type Value = Found<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found<'de>, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Found<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Found<'de>, E> {
        Ok(Found::Str(Cow::Borrowed(v)))
    }

    // An escaped string: jq decodes escapes as serde_json does, but a string
    // with escapes is rare in a partition key; leave it to jq to be sure.
    fn visit_str<E>(self, _: &str) -> Result<Found<'de>, E> {
        Ok(Found::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Found<'de>, E> {
        Ok(Found::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Found<'de>, E> {
        Ok(Found::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Found<'de>, E> {
        Ok(Found::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Found<'de>, E> {
        Ok(Found::Other)
    }

    fn visit_unit<E>(self) -> Result<Found<'de>, E> {
        Ok(Found::Other)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Found<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Found::Other)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::processors::MetadataExtraction;

    #[test]
    fn field_queries_are_recognised() {
        let q =
            FieldQuery::of(r#"{service: .service, "level": .level, host, "x y": ."a b"}"#).unwrap();
        assert_eq!(
            q.keys,
            [
                ("service", "service"),
                ("level", "level"),
                ("host", "host"),
                ("x y", "a b")
            ]
            .map(|(k, f)| (k.to_string(), f.to_string()))
        );
        for other in [
            ".a",
            "{a: .a.b}",
            "{a: .a?}",
            "{a: .a | tostring}",
            "{(.k): .v}",
            "{a: .[0]}",
            "{$x}",
            r#"{a: ."\(.b)"}"#,
        ] {
            assert_eq!(FieldQuery::of(other), None, "{other}");
        }
    }

    /// Values that exercise where the pass must step aside for jq.
    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("1.5e3".to_string()),
            Just("-0".to_string()),
            Just("1e400".to_string()),
            Just("NaN".to_string()),
            Just(r#""a\u0000b""#.to_string()),
            Just(r#""\ud83d\ude00""#.to_string()),
            Just(r#""\ud800""#.to_string()),
            Just("\"tab\there\"".to_string()),
            "[a-z/. ü]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(("[a-c]", inner), 0..4).prop_map(|m| {
                    let members: Vec<String> =
                        m.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest! {
        /// Whenever the pass answers, jq answers the same.
        #[test]
        fn the_pass_agrees_with_jq(
            members in proptest::collection::vec(("[a-c]", json_value()), 0..5),
            tail in prop_oneof![Just(""), Just(" \n"), Just(" {}"), Just("x")],
            wrap in 0u8..4,
        ) {
            let object: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let object = format!("{{{}}}", object.join(", "));
            let record = match wrap {
                0 => format!("{object}{tail}"),
                1 => format!("[{object}]"),
                2 => format!(" {object} "),
                _ => object.replace(':', " : "),
            };
            let query = "{a: .a, b: .b, again: .a}";
            let fast = FieldQuery::of(query).unwrap().extract(record.as_bytes());
            let jq = MetadataExtraction::new(query).unwrap().extract_with_jq(record.as_bytes());
            if let Some(keys) = fast {
                prop_assert_eq!(Ok(keys), jq, "{}", record);
            }
        }
    }

    #[test]
    fn plain_records_are_answered_by_the_pass() {
        let q = FieldQuery::of("{service: .service, level: .level}").unwrap();
        let keys = q
            .extract(br#"{"level":"INFO","n":[1,{"x":null}],"service":"auth","level":"WARN"}"#)
            .unwrap();
        assert_eq!(
            keys["level"], "WARN",
            "the last occurrence counts, as in jq"
        );
        assert_eq!(keys["service"], "auth");
        assert_eq!(
            q.extract(br#"{"service":"auth"}"#),
            None,
            "missing: jq says why"
        );
        assert_eq!(q.extract(br#"{"service":"a","level":1}"#), None);
        assert_eq!(q.extract(b"{\"service\":\"a\",\"level\":\"\xff\"}"), None);
    }
}
