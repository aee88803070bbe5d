//! The time in keys: the subset of Java's `DateTimeFormatter` patterns that
//! Firehose's `!{timestamp:...}` takes, parsed once and formatted per object.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

use super::PrefixError;

/// The prefix Firehose appends when a prefix has no timestamp expression.
const DEFAULT_TIME_PATTERN: &str = "yyyy/MM/dd/HH/";

/// One element of a Java `DateTimeFormatter` pattern (the subset Firehose users write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DateToken {
    Literal(String),
    /// A numeric field and its minimum width (`yyyy` → 4, `yy` → the last two digits).
    Year(usize),
    Month(usize),
    MonthName {
        full: bool,
    },
    Day(usize),
    DayOfYear(usize),
    Hour(usize),
    Minute(usize),
    Second(usize),
    Fraction(usize),
    DayName {
        full: bool,
    },
}

pub(super) fn default_time_tokens() -> Vec<DateToken> {
    // The constant pattern always parses.
    parse_time_pattern(DEFAULT_TIME_PATTERN).unwrap_or_default()
}

/// Parses the subset of Java's `DateTimeFormatter` patterns that prefixes use:
/// `y u M d D H m s S E`, `'quoted text'` (`''` for a quote), other symbols verbatim.
pub(super) fn parse_time_pattern(pattern: &str) -> Result<Vec<DateToken>, PrefixError> {
    if pattern.is_empty() {
        return Err(PrefixError("`!{timestamp:}` needs a pattern".into()));
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut literal = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(PrefixError(format!(
                            "unterminated quote in timestamp pattern `{pattern}`"
                        )));
                    }
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        literal.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        literal.push(ch);
                        i += 1;
                    }
                }
            }
            if literal.is_empty() {
                literal.push('\''); // `''` outside quotes is one quote
            }
            tokens.push(DateToken::Literal(literal));
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        i += run;
        let token = match c {
            'y' | 'u' => DateToken::Year(run),
            'M' | 'L' if run >= 3 => DateToken::MonthName { full: run >= 4 },
            'M' | 'L' => DateToken::Month(run),
            'd' => DateToken::Day(run),
            'D' => DateToken::DayOfYear(run),
            'H' => DateToken::Hour(run),
            'm' => DateToken::Minute(run),
            's' => DateToken::Second(run),
            'S' => DateToken::Fraction(run.min(9)),
            'E' => DateToken::DayName { full: run >= 4 },
            c if c.is_ascii_alphabetic() => {
                return Err(PrefixError(format!(
                    "timestamp pattern letter `{c}` is not supported (accepted: y u M d D H m s S E, \
                     and 'quoted text')"
                )));
            }
            c => DateToken::Literal(c.to_string().repeat(run)),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

pub(super) fn format_time(out: &mut String, tokens: &[DateToken], t: DateTime<FixedOffset>) {
    for token in tokens {
        // Writing to a String cannot fail.
        let _ = match *token {
            DateToken::Literal(ref s) => {
                out.push_str(s);
                Ok(())
            }
            DateToken::Year(2) => write!(out, "{:02}", t.year().rem_euclid(100)),
            DateToken::Year(w) => write!(out, "{:0w$}", t.year()),
            DateToken::Month(w) => write!(out, "{:0w$}", t.month()),
            DateToken::MonthName { full: true } => write!(out, "{}", t.format("%B")),
            DateToken::MonthName { full: false } => write!(out, "{}", t.format("%b")),
            DateToken::Day(w) => write!(out, "{:0w$}", t.day()),
            DateToken::DayOfYear(w) => write!(out, "{:0w$}", t.ordinal()),
            DateToken::Hour(w) => write!(out, "{:0w$}", t.hour()),
            DateToken::Minute(w) => write!(out, "{:0w$}", t.minute()),
            DateToken::Second(w) => write!(out, "{:0w$}", t.second()),
            DateToken::Fraction(w) => {
                let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                out.push_str(&nanos[..w]);
                Ok(())
            }
            DateToken::DayName { full: true } => write!(out, "{}", t.format("%A")),
            DateToken::DayName { full: false } => write!(out, "{}", t.format("%a")),
        };
    }
}
