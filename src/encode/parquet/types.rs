//! Glue/Hive column types (`decimal(10,2)`, `array<struct<a:int>>`, ...): parsed
//! from the config's type strings and mapped to the Arrow types the Parquet writer
//! takes. This is the schema contract, so parsing is strict and its errors say
//! where the string went wrong.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};
use serde::Deserialize;

/// Hive's default precision for a bare `decimal`.
const DEFAULT_DECIMAL_PRECISION: u8 = 10;
/// Arrow's `Decimal128` (and Glue) allow 38 digits.
const MAX_DECIMAL_PRECISION: u8 = 38;

/// A column type, as Glue and Hive spell it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum HiveType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Decimal {
        precision: u8,
        scale: u8,
    },
    String,
    /// `char(n)`: strings are cut to `n` characters.
    Char(u32),
    /// `varchar(n)`: strings are cut to `n` characters, as Hive does.
    Varchar(u32),
    Date,
    Timestamp,
    Binary,
    Array(Box<HiveType>),
    Map(Box<HiveType>, Box<HiveType>),
    Struct(Vec<(String, HiveType)>),
}

impl TryFrom<String> for HiveType {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl std::str::FromStr for HiveType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parser = Parser { text, at: 0 };
        let ty = parser.parse_type()?;
        parser.skip_space();
        if parser.at < text.len() {
            return Err(parser.error("unexpected text after the type"));
        }
        Ok(ty)
    }
}

impl HiveType {
    /// The Arrow type this column is built as. Timestamps are microseconds in UTC
    /// (Parquet `TIMESTAMP(MICROS, isAdjustedToUTC=true)`): nanoseconds are
    /// unreadable in Athena, Spark and older DuckDB.
    pub fn arrow_type(&self) -> DataType {
        match self {
            Self::Boolean => DataType::Boolean,
            Self::TinyInt => DataType::Int8,
            Self::SmallInt => DataType::Int16,
            Self::Int => DataType::Int32,
            Self::BigInt => DataType::Int64,
            Self::Float => DataType::Float32,
            Self::Double => DataType::Float64,
            Self::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
            Self::String | Self::Char(_) | Self::Varchar(_) => DataType::Utf8,
            Self::Date => DataType::Date32,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Self::Binary => DataType::Binary,
            Self::Array(element) => {
                DataType::List(Arc::new(Field::new("element", element.arrow_type(), true)))
            }
            Self::Map(key, value) => DataType::Map(Arc::new(map_entries(key, value)), false),
            Self::Struct(fields) => DataType::Struct(struct_fields(fields)),
        }
    }

    /// Whether the type can be a map key (Hive allows primitive keys only).
    fn is_primitive(&self) -> bool {
        !matches!(self, Self::Array(_) | Self::Map(..) | Self::Struct(_))
    }
}

/// The entries field of a map: a struct of a non-null key and a nullable value,
/// named as the Parquet spec's `key_value` group.
pub fn map_entries(key: &HiveType, value: &HiveType) -> Field {
    Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", key.arrow_type(), false),
            Field::new("value", value.arrow_type(), true),
        ])),
        false,
    )
}

/// The nullable fields of a struct (every column and field may be missing).
pub fn struct_fields(fields: &[(String, HiveType)]) -> Fields {
    fields
        .iter()
        .map(|(name, ty)| Field::new(name, ty.arrow_type(), true))
        .collect()
}

impl fmt::Display for HiveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Boolean => f.write_str("boolean"),
            Self::TinyInt => f.write_str("tinyint"),
            Self::SmallInt => f.write_str("smallint"),
            Self::Int => f.write_str("int"),
            Self::BigInt => f.write_str("bigint"),
            Self::Float => f.write_str("float"),
            Self::Double => f.write_str("double"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Self::String => f.write_str("string"),
            Self::Char(n) => write!(f, "char({n})"),
            Self::Varchar(n) => write!(f, "varchar({n})"),
            Self::Date => f.write_str("date"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::Binary => f.write_str("binary"),
            Self::Array(element) => write!(f, "array<{element}>"),
            Self::Map(key, value) => write!(f, "map<{key},{value}>"),
            Self::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}:{ty}")?;
                }
                f.write_str(">")
            }
        }
    }
}

/// A recursive-descent parser over a type string.
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("`{}`: {what} at character {}", self.text, self.at + 1)
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.text[self.at..].chars().next()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            Ok(())
        } else {
            Err(self.error(&format!("expected `{c}`")))
        }
    }

    /// A name: letters, digits and `_` (type names, struct field names).
    fn word(&mut self) -> Result<&str, String> {
        self.skip_space();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a name"));
        }
        self.at += len;
        Ok(&rest[..len])
    }

    fn number(&mut self) -> Result<u32, String> {
        self.skip_space();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n = rest[..len]
            .parse()
            .map_err(|_| self.error("expected a number"))?;
        self.at += len;
        Ok(n)
    }

    fn parse_type(&mut self) -> Result<HiveType, String> {
        let start = self.at;
        let name = self.word()?.to_ascii_lowercase();
        Ok(match name.as_str() {
            "boolean" => HiveType::Boolean,
            "tinyint" => HiveType::TinyInt,
            "smallint" => HiveType::SmallInt,
            "int" | "integer" => HiveType::Int,
            "bigint" => HiveType::BigInt,
            "float" => HiveType::Float,
            "double" => HiveType::Double,
            "string" => HiveType::String,
            "date" => HiveType::Date,
            "timestamp" => HiveType::Timestamp,
            "binary" => HiveType::Binary,
            "decimal" => self.decimal()?,
            "char" => HiveType::Char(self.length(255)?),
            "varchar" => HiveType::Varchar(self.length(65_535)?),
            "array" => {
                self.expect('<')?;
                let element = self.parse_type()?;
                self.expect('>')?;
                HiveType::Array(Box::new(element))
            }
            "map" => {
                self.expect('<')?;
                let key_at = self.at;
                let key = self.parse_type()?;
                if !key.is_primitive() {
                    self.at = key_at;
                    return Err(self.error("map keys must be of a primitive type"));
                }
                self.expect(',')?;
                let value = self.parse_type()?;
                self.expect('>')?;
                HiveType::Map(Box::new(key), Box::new(value))
            }
            "struct" => self.struct_fields()?,
            _ => {
                self.at = start;
                self.skip_space();
                return Err(self.error(&format!(
                    "unknown type `{name}` (accepted: boolean, tinyint, smallint, int, bigint, float, double, \
                     decimal(p,s), string, char(n), varchar(n), date, timestamp, binary, array<T>, map<K,V>, struct<name:T,...>)"
                )));
            }
        })
    }

    fn decimal(&mut self) -> Result<HiveType, String> {
        if self.peek() != Some('(') {
            return Ok(HiveType::Decimal {
                precision: DEFAULT_DECIMAL_PRECISION,
                scale: 0,
            });
        }
        self.expect('(')?;
        let precision = self.number()?;
        let scale = if self.peek() == Some(',') {
            self.expect(',')?;
            self.number()?
        } else {
            0
        };
        self.expect(')')?;
        if !(1..=u32::from(MAX_DECIMAL_PRECISION)).contains(&precision) || scale > precision {
            return Err(self.error(&format!(
                "decimal({precision},{scale}) needs a precision of 1 to {MAX_DECIMAL_PRECISION} and a scale of 0 to the precision"
            )));
        }
        Ok(HiveType::Decimal {
            precision: precision as u8,
            scale: scale as u8,
        })
    }

    fn length(&mut self, max: u32) -> Result<u32, String> {
        self.expect('(')?;
        let n = self.number()?;
        self.expect(')')?;
        if !(1..=max).contains(&n) {
            return Err(self.error(&format!(
                "length {n} is out of range (accepted: 1 to {max})"
            )));
        }
        Ok(n)
    }

    fn struct_fields(&mut self) -> Result<HiveType, String> {
        self.expect('<')?;
        let mut fields: Vec<(String, HiveType)> = Vec::new();
        loop {
            let name_at = self.at;
            let name = self.word()?.to_string();
            if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                self.at = name_at;
                return Err(self.error(&format!("field `{name}` appears twice")));
            }
            self.expect(':')?;
            let ty = self.parse_type()?;
            fields.push((name, ty));
            match self.peek() {
                Some(',') => self.expect(',')?,
                _ => break,
            }
        }
        self.expect('>')?;
        Ok(HiveType::Struct(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<HiveType, String> {
        s.parse()
    }

    #[test]
    fn every_glue_type_parses_and_prints_back() {
        for text in [
            "boolean",
            "tinyint",
            "smallint",
            "int",
            "bigint",
            "float",
            "double",
            "decimal(10,2)",
            "decimal(38,38)",
            "string",
            "char(3)",
            "varchar(65535)",
            "date",
            "timestamp",
            "binary",
            "array<string>",
            "map<string,array<int>>",
            "struct<lat:double,lon:double>",
            "array<struct<a:map<bigint,struct<b:array<array<decimal(5,1)>>>>>>",
        ] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn spelling_is_forgiving_where_hive_is() {
        assert_eq!(
            parse(" STRUCT < a : INTEGER , b:Decimal > ").unwrap(),
            HiveType::Struct(vec![
                ("a".into(), HiveType::Int),
                (
                    "b".into(),
                    HiveType::Decimal {
                        precision: 10,
                        scale: 0
                    }
                ),
            ])
        );
    }

    #[test]
    fn mistakes_are_pointed_at() {
        let e = parse("decmal(10,2)").unwrap_err();
        assert!(e.contains("unknown type `decmal`"), "{e}");
        let e = parse("decimal(40,2)").unwrap_err();
        assert!(e.contains("precision of 1 to 38"), "{e}");
        let e = parse("decimal(5,6)").unwrap_err();
        assert!(e.contains("scale of 0 to the precision"), "{e}");
        let e = parse("array<string").unwrap_err();
        assert!(e.contains("expected `>`"), "{e}");
        let e = parse("map<array<int>,int>").unwrap_err();
        assert!(e.contains("primitive"), "{e}");
        let e = parse("struct<a:int,A:int>").unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        let e = parse("int int").unwrap_err();
        assert!(e.contains("after the type"), "{e}");
        let e = parse("varchar(0)").unwrap_err();
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn timestamps_are_utc_microseconds() {
        assert_eq!(
            HiveType::Timestamp.arrow_type(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }
}
