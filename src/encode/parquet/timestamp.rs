//! Reading timestamps from JSON the way Firehose's deserializers do, into
//! microseconds since the epoch (UTC).
//!
//! OpenX accepts ISO-8601 strings (`2026-01-02T03:04:05.123Z`, an offset, or no
//! zone), `yyyy-[M]M-[d]d HH:mm:ss[.S]`, epoch seconds, epoch milliseconds and
//! fractional epoch seconds. Hive accepts its `TimestampFormats` (Joda-Time
//! patterns, or `millis`), then `java.sql.Timestamp.valueOf`'s form. A time without
//! a zone is taken as UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Epoch numbers at or above this magnitude are milliseconds: as seconds they
/// would be past the year 5000.
const MILLIS_FROM: i128 = 100_000_000_000;

/// `java.sql.Timestamp.valueOf`'s form, Hive's default (fraction optional).
const HIVE_DEFAULT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// How a deserializer reads timestamps.
#[derive(Debug, Clone)]
pub enum TimestampRules {
    OpenX,
    Hive(Vec<Format>),
}

/// One of Hive's `TimestampFormats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Epoch milliseconds, as a number or a string of digits.
    Millis,
    /// A Joda-Time pattern, translated to chrono's syntax.
    Pattern { chrono: String, zoned: bool },
}

impl Format {
    /// Parses one `TimestampFormats` entry: `millis` or a Joda-Time pattern of the
    /// fields `y M d H h m s S a Z` and quoted literals.
    pub fn parse(joda: &str) -> Result<Self, String> {
        if joda == "millis" {
            return Ok(Self::Millis);
        }
        let mut chrono = String::new();
        let mut zoned = false;
        let mut chars = joda.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                // A quoted literal; '' is a quote.
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    chrono.push('\'');
                    continue;
                }
                for l in chars.by_ref() {
                    if l == '\'' {
                        break;
                    }
                    push_literal(&mut chrono, l);
                }
                continue;
            }
            if !c.is_ascii_alphabetic() {
                push_literal(&mut chrono, c);
                continue;
            }
            let mut count = 1;
            while chars.peek() == Some(&c) {
                chars.next();
                count += 1;
            }
            let spec = match (c, count) {
                ('y' | 'Y', 2) => "%y",
                ('y' | 'Y', _) => "%Y",
                ('M', 1 | 2) => "%m",
                ('M', 3) => "%b",
                ('M', _) => "%B",
                ('d', 1 | 2) => "%d",
                ('H', 1 | 2) => "%H",
                ('h', 1 | 2) => "%I",
                ('m', 1 | 2) => "%M",
                ('s', 1 | 2) => "%S",
                ('S', 3) => "%3f",
                ('S', 6) => "%6f",
                ('S', 9) => "%9f",
                ('a', _) => "%p",
                ('E', 1..=3) => "%a",
                ('E', _) => "%A",
                ('Z', 1) => {
                    zoned = true;
                    "%z"
                }
                ('Z', _) => {
                    zoned = true;
                    "%:z"
                }
                _ => {
                    return Err(format!(
                        "`{joda}`: the field `{}` is not supported (supported: y M d H h m s, S as SSS, SSSSSS or SSSSSSSSS, a E Z, 'literals', or the format `millis`)",
                        c.to_string().repeat(count)
                    ));
                }
            };
            chrono.push_str(spec);
        }
        Ok(Self::Pattern { chrono, zoned })
    }

    fn read(&self, text: &str) -> Option<i64> {
        match self {
            Self::Millis => millis_text(text),
            Self::Pattern { chrono, zoned } => {
                if *zoned {
                    return DateTime::parse_from_str(text, chrono)
                        .ok()
                        .map(|t| t.timestamp_micros());
                }
                match NaiveDateTime::parse_from_str(text, chrono) {
                    Ok(t) => Some(t.and_utc().timestamp_micros()),
                    // A pattern without a time of day reads as midnight.
                    Err(_) => NaiveDate::parse_from_str(text, chrono)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|t| t.and_utc().timestamp_micros()),
                }
            }
        }
    }
}

fn push_literal(chrono: &mut String, c: char) {
    if c == '%' {
        chrono.push_str("%%");
    } else {
        chrono.push(c);
    }
}

impl TimestampRules {
    /// A timestamp from a JSON string.
    pub fn read_text(&self, text: &str) -> Option<i64> {
        match self {
            Self::OpenX => openx_text(text.trim()),
            Self::Hive(formats) => formats
                .iter()
                .find_map(|f| f.read(text))
                .or_else(|| naive(text, HIVE_DEFAULT)),
        }
    }

    /// A timestamp from a JSON number (given as its text, for exact fractions).
    pub fn read_number(&self, number: &str) -> Option<i64> {
        match self {
            Self::OpenX => epoch(number),
            Self::Hive(formats) => formats
                .contains(&Format::Millis)
                .then(|| millis_text(number))
                .flatten(),
        }
    }
}

fn openx_text(text: &str) -> Option<i64> {
    if text.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && !text[1..].contains('-')
    {
        return epoch(text);
    }
    if let Some(utc) = text.strip_suffix(['Z', 'z']) {
        return naive(utc, "%Y-%m-%dT%H:%M:%S%.f").or_else(|| naive(utc, HIVE_DEFAULT));
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
        .or_else(|| naive(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|| naive(text, HIVE_DEFAULT))
}

fn naive(text: &str, format: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(text, format)
        .ok()
        .map(|t| t.and_utc().timestamp_micros())
}

fn millis_text(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok()?.checked_mul(1000)
}

/// Epoch seconds, milliseconds (by magnitude) or fractional seconds, read from the
/// number's decimal text so that `1518033528.123` is exactly 123 ms past.
fn epoch(text: &str) -> Option<i64> {
    if text.contains(['e', 'E']) {
        let seconds = text.parse::<f64>().ok()?;
        return Some((seconds * 1e6).round() as i64).filter(|_| seconds.is_finite());
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let negative = whole.starts_with('-');
    let units: i128 = whole.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros = if fraction.is_empty() && units.abs() >= MILLIS_FROM {
        units * 1000
    } else {
        // Fraction digits past microseconds are dropped.
        let digits: String = fraction.chars().chain("000000".chars()).take(6).collect();
        let sub: i128 = digits.parse().ok()?;
        units * 1_000_000 + if negative { -sub } else { sub }
    };
    i64::try_from(micros).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: i64 = 1_518_033_528_000_000;

    #[test]
    fn openx_reads_every_documented_form() {
        let r = TimestampRules::OpenX;
        assert_eq!(r.read_number("1518033528"), Some(AT));
        assert_eq!(r.read_number("1518033528123"), Some(AT + 123_000));
        assert_eq!(r.read_number("1518033528.123"), Some(AT + 123_000));
        assert_eq!(r.read_number("1.518033528123e9"), Some(AT + 123_000));
        assert_eq!(r.read_text("1518033528"), Some(AT));
        assert_eq!(r.read_text("2018-02-07T19:58:48Z"), Some(AT));
        assert_eq!(
            r.read_text("2018-02-07T19:58:48.123456789Z"),
            Some(AT + 123_456)
        );
        assert_eq!(r.read_text("2018-02-07T20:58:48+01:00"), Some(AT));
        assert_eq!(r.read_text("2018-2-7 19:58:48.5"), Some(AT + 500_000));
        assert_eq!(r.read_text("2018-02-07T19:58:48"), Some(AT));
        assert_eq!(r.read_text("yesterday"), None);
        assert_eq!(r.read_text("2018-02-30 00:00:00"), None);
    }

    #[test]
    fn hive_reads_its_formats_then_its_default() {
        let formats = vec![
            Format::parse("dd/MM/yyyy HH:mm:ss.SSS").unwrap(),
            Format::parse("yyyy-MM-dd'T'HH:mm:ssZ").unwrap(),
            Format::parse("millis").unwrap(),
        ];
        let r = TimestampRules::Hive(formats);
        assert_eq!(r.read_text("07/02/2018 19:58:48.123"), Some(AT + 123_000));
        assert_eq!(r.read_text("2018-02-07T20:58:48+0100"), Some(AT));
        assert_eq!(r.read_text("2018-02-07 19:58:48"), Some(AT));
        assert_eq!(r.read_number("1518033528000"), Some(AT));
        assert_eq!(r.read_text("1518033528000"), Some(AT));
        // Without `millis`, Hive takes no numbers.
        assert_eq!(TimestampRules::Hive(vec![]).read_number("1518033528"), None);
        assert_eq!(
            TimestampRules::Hive(vec![]).read_text("2018-02-07T19:58:48Z"),
            None
        );
    }

    #[test]
    fn a_date_pattern_reads_as_midnight() {
        let r = TimestampRules::Hive(vec![Format::parse("yyyy.MM.dd").unwrap()]);
        assert_eq!(r.read_text("2018.02.07"), Some(1_517_961_600_000_000));
    }

    #[test]
    fn unsupported_joda_fields_are_refused() {
        let e = Format::parse("yyyy-ww").unwrap_err();
        assert!(e.contains("`ww` is not supported"), "{e}");
        assert!(Format::parse("HH:mm:ss.SS").is_err());
    }
}
