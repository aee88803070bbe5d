//! One JSON record to one row of typed cells, or the reason it does not fit the
//! schema. A record is converted whole before any of it is appended to the column
//! builders, so a bad record leaves no partial row behind.

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::deserializer::Rules;
use super::schema::{Node, StructNode};
use super::types::HiveType;

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// A value typed for its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// The unscaled value of a decimal.
    Decimal(i128),
    Text(String),
    Bytes(Vec<u8>),
    /// Days since the epoch.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
    List(Vec<Cell>),
    Map(Vec<(Cell, Cell)>),
    Struct(Vec<Cell>),
}

/// Why a value does not fit its column, and where it is (`geo.lat`, `tags[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Path segments, innermost first (they are added while unwinding).
    path: Vec<String>,
    pub message: String,
}

impl Mismatch {
    fn new(message: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            message: message.into(),
        }
    }

    fn at(mut self, segment: String) -> Self {
        self.path.push(segment);
        self
    }

    /// The column path, outermost first: `geo.lat`, `tags[2]`.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in self.path.iter().rev() {
            if !segment.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
        out
    }
}

/// Converts a JSON object into the row of its columns. Missing keys are nulls,
/// extra keys are ignored.
pub fn row(
    root: &StructNode,
    object: Map<String, Value>,
    rules: &Rules,
) -> Result<Vec<Cell>, Mismatch> {
    fields(root, object, rules)
}

fn fields(
    node: &StructNode,
    object: Map<String, Value>,
    rules: &Rules,
) -> Result<Vec<Cell>, Mismatch> {
    let mut cells: Vec<Cell> = node.children.iter().map(|_| Cell::Null).collect();
    for (key, value) in object {
        let Some(i) = node.field(&rules.key(&key)) else {
            continue;
        };
        cells[i] =
            convert(&node.children[i], value, rules).map_err(|m| m.at(node.names[i].clone()))?;
    }
    Ok(cells)
}

fn convert(node: &Node, value: Value, rules: &Rules) -> Result<Cell, Mismatch> {
    if value.is_null() {
        return Ok(Cell::Null);
    }
    match node {
        Node::Leaf(ty) => leaf(ty, value, rules),
        Node::List(element) => match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| convert(element, item, rules).map_err(|m| m.at(format!("[{i}]"))))
                .collect::<Result<_, _>>()
                .map(Cell::List),
            other => Err(expected("Start of Array expected", &other)),
        },
        Node::Map(key_type, value_node) => match value {
            Value::Object(entries) => entries
                .into_iter()
                .map(|(k, v)| {
                    let key = leaf(
                        key_type,
                        Value::String(k.clone()),
                        &Rules {
                            lenient: true,
                            ..rules.clone()
                        },
                    )
                    .map_err(|m| m.at(format!("[{k:?}]")))?;
                    let value =
                        convert(value_node, v, rules).map_err(|m| m.at(format!("[{k:?}]")))?;
                    Ok((key, value))
                })
                .collect::<Result<_, _>>()
                .map(Cell::Map),
            other => Err(expected("Start of Object expected", &other)),
        },
        Node::Struct(fields_node) => match value {
            Value::Object(object) => fields(fields_node, object, rules).map(Cell::Struct),
            other => Err(expected("Start of Object expected", &other)),
        },
    }
}

fn expected(what: &str, found: &Value) -> Mismatch {
    Mismatch::new(format!("{what}, found {}", describe(found)))
}

/// A short description of a value for messages: its JSON type and a prefix of it.
pub fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let text = value.to_string();
    let cut: String = text.chars().take(40).collect();
    let ellipsis = if cut.len() < text.len() { "..." } else { "" };
    format!("{kind} {cut}{ellipsis}")
}

fn leaf(ty: &HiveType, value: Value, rules: &Rules) -> Result<Cell, Mismatch> {
    match ty {
        HiveType::String => return text(value, rules, None),
        HiveType::Char(n) | HiveType::Varchar(n) => return text(value, rules, Some(*n as usize)),
        _ => {}
    }
    let lenient_text = |v: &Value| match v {
        Value::String(s) if rules.lenient => Some(s.trim().to_string()),
        _ => None,
    };
    let cell = match (ty, &value) {
        (HiveType::Boolean, Value::Bool(b)) => Some(Cell::Bool(*b)),
        (HiveType::Boolean, value) => match lenient_text(value)
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            Some("true") => Some(Cell::Bool(true)),
            Some("false") => Some(Cell::Bool(false)),
            _ => None,
        },
        (HiveType::TinyInt | HiveType::SmallInt | HiveType::Int | HiveType::BigInt, value) => {
            let n = match value {
                Value::Number(n) => integer(n),
                value => lenient_text(value)
                    .and_then(|s| s.parse::<Number>().ok())
                    .as_ref()
                    .and_then(integer),
            };
            let bits = match ty {
                HiveType::TinyInt => 8,
                HiveType::SmallInt => 16,
                HiveType::Int => 32,
                _ => 64,
            };
            match n {
                Some(n) if bits == 64 || (-(1 << (bits - 1))..(1 << (bits - 1))).contains(&n) => {
                    Some(Cell::Int(n))
                }
                Some(_) => {
                    return Err(Mismatch::new(format!(
                        "{} is out of range for {ty}",
                        describe(value)
                    )));
                }
                None => None,
            }
        }
        (HiveType::Float | HiveType::Double, Value::Number(n)) => n.as_f64().map(Cell::Float),
        (HiveType::Float | HiveType::Double, value) => lenient_text(value)
            .and_then(|s| s.parse::<f64>().ok())
            .map(Cell::Float),
        (HiveType::Decimal { precision, scale }, value) => {
            let digits = match value {
                Value::Number(n) => Some(n.to_string()),
                value => lenient_text(value),
            };
            match digits.map(|t| decimal(&t, *precision, *scale)) {
                Some(Ok(v)) => Some(Cell::Decimal(v)),
                Some(Err(DecimalError::Overflow)) => {
                    return Err(Mismatch::new(format!(
                        "{} does not fit {ty}",
                        describe(value)
                    )));
                }
                _ => None,
            }
        }
        (HiveType::Date, Value::String(s)) => date(s).map(Cell::Date),
        (HiveType::Timestamp, Value::String(s)) => {
            rules.timestamps.read_text(s).map(Cell::Timestamp)
        }
        (HiveType::Timestamp, Value::Number(n)) => rules
            .timestamps
            .read_number(&n.to_string())
            .map(Cell::Timestamp),
        (HiveType::Binary, Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .ok()
            .map(Cell::Bytes),
        _ => None,
    };
    cell.ok_or_else(|| Mismatch::new(format!("{} is not a valid {ty}", describe(&value))))
}

/// A JSON number as an integer: integers, and floats with no fraction.
fn integer(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
}

/// A string column: strings as they are; numbers and booleans as their JSON text;
/// with OpenX, objects and arrays as their JSON text too. `limit` cuts to so many
/// characters (`char(n)`, `varchar(n)`).
fn text(value: Value, rules: &Rules, limit: Option<usize>) -> Result<Cell, Mismatch> {
    let mut s = match value {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        nested @ (Value::Array(_) | Value::Object(_)) if rules.lenient => nested.to_string(),
        other => {
            let what = if other.is_array() {
                "Start of Array"
            } else {
                "Start of Object"
            };
            return Err(Mismatch::new(format!(
                "{what} found where a string is expected"
            )));
        }
    };
    if let Some(limit) = limit
        && let Some((cut, _)) = s.char_indices().nth(limit)
    {
        s.truncate(cut);
    }
    Ok(Cell::Text(s))
}

/// `yyyy-MM-dd`, or a timestamp string's date.
fn date(s: &str) -> Option<i32> {
    let s = s.trim();
    let day = s
        .get(..10)
        .filter(|_| s.len() == 10 || s[10..].starts_with(['T', ' ']))?;
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(chrono::Datelike::num_days_from_ce(&d) - UNIX_EPOCH_DAYS_FROM_CE)
}

#[derive(Debug, PartialEq, Eq)]
enum DecimalError {
    Syntax,
    Overflow,
}

/// A decimal's text (`-12.345`, `1e-3`) as the unscaled integer at `scale`,
/// rounded half away from zero as Hive does; more than `precision` digits overflow.
fn decimal(text: &str, precision: u8, scale: u8) -> Result<i128, DecimalError> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (
            &text[..at],
            text[at + 1..]
                .parse::<i32>()
                .map_err(|_| DecimalError::Syntax)?,
        ),
        None => (text, 0),
    };
    let (negative, digits) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(DecimalError::Syntax);
    }
    // All the digits as one integer, and where the point is after scaling.
    let all: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = whole.len() as i64 + i64::from(exponent) + i64::from(scale);
    let limit = 10i128.pow(u32::from(precision));
    let mut value: i128 = 0;
    for (i, digit) in all.iter().enumerate() {
        if i as i64 >= point {
            if *digit >= 5 {
                value += 1;
            }
            break;
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(*digit)))
            .ok_or(DecimalError::Overflow)?;
    }
    // Trailing zeros up to the scale (an overflow ends a huge exponent early).
    for _ in (all.len() as i64)..point.max(0) {
        value = value.checked_mul(10).ok_or(DecimalError::Overflow)?;
    }
    if value >= limit {
        return Err(DecimalError::Overflow);
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::parquet::deserializer::DeserializerConfig;
    use crate::encode::parquet::schema::{Column, RecordSchema};

    fn convert_one(ty: &str, json: &str, rules: &Rules) -> Result<Cell, Mismatch> {
        let schema = RecordSchema::new(
            &[Column {
                name: "c".into(),
                ty: ty.parse().unwrap(),
            }],
            rules,
        );
        let object: Map<String, Value> =
            serde_json::from_str(&format!("{{\"c\":{json}}}")).unwrap();
        row(&schema.root, object, rules).map(|mut r| r.remove(0))
    }

    fn openx() -> Rules {
        Rules::new(&DeserializerConfig::default()).unwrap()
    }

    fn hive() -> Rules {
        Rules::new(&DeserializerConfig::Hive {
            timestamp_formats: vec![],
        })
        .unwrap()
    }

    #[test]
    fn decimals_are_exact_and_rounded_half_up() {
        assert_eq!(decimal("12.345", 10, 2), Ok(1235));
        assert_eq!(decimal("-12.344", 10, 2), Ok(-1234));
        assert_eq!(decimal("7", 10, 2), Ok(700));
        assert_eq!(decimal("1e-2", 10, 2), Ok(1));
        assert_eq!(decimal("1.5E3", 10, 0), Ok(1500));
        assert_eq!(decimal("99999999.99", 10, 2), Ok(9_999_999_999));
        assert_eq!(decimal("99999999.995", 10, 2), Err(DecimalError::Overflow));
        assert_eq!(decimal("100000000", 10, 2), Err(DecimalError::Overflow));
        assert_eq!(
            decimal("12345678901234567890123456789.123456789", 38, 9),
            Ok(12_345_678_901_234_567_890_123_456_789_123_456_789)
        );
        assert_eq!(decimal("1.2.3", 10, 2), Err(DecimalError::Syntax));
        assert_eq!(decimal("abc", 10, 2), Err(DecimalError::Syntax));
    }

    #[test]
    fn openx_coerces_and_hive_does_not() {
        assert_eq!(convert_one("int", "\"42\"", &openx()), Ok(Cell::Int(42)));
        assert_eq!(
            convert_one("double", "\"2.5\"", &openx()),
            Ok(Cell::Float(2.5))
        );
        assert_eq!(
            convert_one("boolean", "\"TRUE\"", &openx()),
            Ok(Cell::Bool(true))
        );
        assert_eq!(
            convert_one("string", "{\"a\":[1]}", &openx()),
            Ok(Cell::Text("{\"a\":[1]}".into()))
        );
        assert!(convert_one("int", "\"42\"", &hive()).is_err());
        assert!(convert_one("string", "{\"a\":1}", &hive()).is_err());
        assert_eq!(
            convert_one("string", "12", &hive()),
            Ok(Cell::Text("12".into()))
        );
    }

    #[test]
    fn integers_keep_to_their_width() {
        assert_eq!(
            convert_one("tinyint", "-128", &openx()),
            Ok(Cell::Int(-128))
        );
        let e = convert_one("tinyint", "128", &openx()).unwrap_err();
        assert!(e.message.contains("out of range for tinyint"), "{e:?}");
        assert_eq!(convert_one("bigint", "3.0", &openx()), Ok(Cell::Int(3)));
        assert!(convert_one("int", "3.5", &openx()).is_err());
        assert!(convert_one("bigint", "18446744073709551615", &openx()).is_err());
    }

    #[test]
    fn nested_mismatches_name_their_path() {
        let e = convert_one(
            "array<struct<lat:double>>",
            "[{\"lat\":1},{\"lat\":\"x\"}]",
            &openx(),
        )
        .unwrap_err();
        assert_eq!(e.path(), "c[1].lat");
        let e = convert_one("struct<a:int>", "[1]", &openx()).unwrap_err();
        assert!(e.message.starts_with("Start of Object expected"), "{e:?}");
        let e = convert_one("array<int>", "{\"a\":1}", &openx()).unwrap_err();
        assert!(e.message.starts_with("Start of Array expected"), "{e:?}");
    }

    #[test]
    fn maps_parse_their_keys() {
        assert_eq!(
            convert_one("map<int,string>", "{\"1\":\"a\",\"2\":null}", &hive()),
            Ok(Cell::Map(vec![
                (Cell::Int(1), Cell::Text("a".into())),
                (Cell::Int(2), Cell::Null)
            ]))
        );
        assert!(convert_one("map<int,string>", "{\"x\":\"a\"}", &hive()).is_err());
    }

    #[test]
    fn strings_are_cut_to_their_length_by_characters() {
        assert_eq!(
            convert_one("varchar(3)", "\"héllo\"", &openx()),
            Ok(Cell::Text("hél".into()))
        );
        assert_eq!(
            convert_one("char(10)", "\"ok\"", &openx()),
            Ok(Cell::Text("ok".into()))
        );
    }

    #[test]
    fn dates_and_binary() {
        assert_eq!(
            convert_one("date", "\"1970-01-02\"", &openx()),
            Ok(Cell::Date(1))
        );
        assert_eq!(
            convert_one("date", "\"2024-02-29T10:00:00Z\"", &openx()),
            Ok(Cell::Date(19782))
        );
        assert!(convert_one("date", "\"2023-02-29\"", &openx()).is_err());
        assert_eq!(
            convert_one("binary", "\"AAEC\"", &openx()),
            Ok(Cell::Bytes(vec![0, 1, 2]))
        );
        assert!(convert_one("binary", "\"not base64!\"", &openx()).is_err());
    }
}
