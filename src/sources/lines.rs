//! Cutting a byte stream (a file, standard input) into records: one per line, the
//! delimiter kept, continuation lines optionally joined to the line they continue.
//!
//! Each record comes with the stream offset just past it, so a source can checkpoint
//! exactly what it has handed over: bytes after the last record (an unfinished
//! line, a multi-line record still open) are read again after a restart.
//!
//! Memory stays bounded whatever the input: a line longer than the record limit is
//! cut into pieces that are each still over the limit, so every piece goes to the
//! error output (with its bytes) rather than a piece passing as a short record.

use std::time::{Duration, Instant};

use regex::bytes::Regex;
use serde::Deserialize;

use crate::config::ConfigError;
use crate::record::MAX_RECORD_BYTES;

/// Multi-line records (stack traces): a line matching `pattern` starts a record and
/// the lines that do not match are joined to it; `negate = false` inverts this: a
/// matching line continues the record before it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A regular expression (Rust `regex` syntax).
    pub pattern: String,
    #[serde(default)]
    pub negate: bool,
    /// A record waiting for continuation lines is sent after this long without one.
    #[serde(default = "default_multiline_timeout")]
    pub timeout_ms: u64,
}

fn default_multiline_timeout() -> u64 {
    1000
}

/// A line source's default delimiter: a newline.
pub fn default_delimiter() -> String {
    "\n".into()
}

/// `sluice check`'s checks of a line source's delimiter and multi-line rules;
/// `at` turns a key under the stream into its path in the file.
pub fn check_cutting(
    delimiter: &str,
    multiline: Option<&MultilineConfig>,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    if delimiter.is_empty() {
        errors.push(ConfigError::new(
            at("source.delimiter"),
            "must not be empty",
        ));
    }
    if let Some(multiline) = multiline
        && let Err(e) = Multiline::new(multiline)
    {
        errors.push(ConfigError::new(at("source.multiline.pattern"), e));
    }
}

/// A record cut from the stream, and the offset just past its last byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub data: Vec<u8>,
    pub end: u64,
}

/// Multi-line joining rules.
#[derive(Debug, Clone)]
pub struct Multiline {
    pattern: Regex,
    negate: bool,
    timeout: Duration,
}

impl Multiline {
    pub fn new(config: &MultilineConfig) -> Result<Self, String> {
        Ok(Self {
            pattern: Regex::new(&config.pattern)
                .map_err(|e| format!("`{}` is not a valid pattern: {e}", config.pattern))?,
            negate: config.negate,
            timeout: Duration::from_millis(config.timeout_ms),
        })
    }

    /// Whether `line` continues the record before it.
    fn continues(&self, line: &[u8]) -> bool {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        self.pattern.is_match(body) != self.negate
    }
}

/// A multi-line record being assembled.
struct Open {
    data: Vec<u8>,
    end: u64,
    last_line: Instant,
}

/// Cuts records out of consecutive chunks of one stream.
pub struct LineCutter {
    delimiter: Vec<u8>,
    multiline: Option<Multiline>,
    /// Bytes after the last complete line, and the offset where they start.
    partial: Vec<u8>,
    partial_start: u64,
    open: Option<Open>,
    limit: usize,
}

impl LineCutter {
    /// A cutter for a stream read from `offset` on.
    pub fn new(delimiter: &str, multiline: Option<Multiline>, offset: u64) -> Self {
        Self::with_limit(delimiter, multiline, offset, MAX_RECORD_BYTES)
    }

    fn with_limit(
        delimiter: &str,
        multiline: Option<Multiline>,
        offset: u64,
        limit: usize,
    ) -> Self {
        Self {
            delimiter: if delimiter.is_empty() {
                b"\n".to_vec()
            } else {
                delimiter.as_bytes().to_vec()
            },
            multiline,
            partial: Vec::new(),
            partial_start: offset,
            open: None,
            limit,
        }
    }

    /// Takes the next chunk of the stream; returns the records it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Cut> {
        let mut out = Vec::new();
        let search_from = self.partial.len().saturating_sub(self.delimiter.len() - 1);
        self.partial.extend_from_slice(chunk);
        let mut start = 0;
        let mut from = search_from;
        while let Some(at) = find(&self.partial[from..], &self.delimiter) {
            let end = from + at + self.delimiter.len();
            let line = self.partial[start..end].to_vec();
            let line_end = self.partial_start + end as u64;
            self.line(line, line_end, &mut out);
            start = end;
            from = end;
        }
        self.partial.drain(..start);
        self.partial_start += start as u64;
        // An endless line: hand over pieces that each stay over the limit.
        while self.partial.len() >= 2 * self.limit + 2 {
            let piece: Vec<u8> = self.partial.drain(..=self.limit).collect();
            self.partial_start += piece.len() as u64;
            self.close_open(&mut out);
            out.push(Cut {
                data: piece,
                end: self.partial_start,
            });
        }
        out
    }

    /// A multi-line record whose last line came longer ago than the timeout.
    pub fn expire(&mut self, now: Instant) -> Option<Cut> {
        let timeout = self.multiline.as_ref()?.timeout;
        if self
            .open
            .as_ref()
            .is_some_and(|o| now.duration_since(o.last_line) >= timeout)
        {
            let mut out = Vec::new();
            self.close_open(&mut out);
            return out.pop();
        }
        None
    }

    /// The end of the stream: whatever is held becomes records (an unfinished last
    /// line included).
    pub fn finish(&mut self) -> Vec<Cut> {
        let mut out = Vec::new();
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.partial_start += line.len() as u64;
            let end = self.partial_start;
            self.line(line, end, &mut out);
        }
        self.close_open(&mut out);
        out
    }

    /// Whether bytes are held that no record has taken yet.
    pub fn holds_data(&self) -> bool {
        !self.partial.is_empty() || self.open.is_some()
    }

    fn line(&mut self, line: Vec<u8>, end: u64, out: &mut Vec<Cut>) {
        let Some(multiline) = &self.multiline else {
            out.push(Cut { data: line, end });
            return;
        };
        let continues = multiline.continues(&line);
        match &mut self.open {
            Some(open) if continues && open.data.len() + line.len() <= self.limit => {
                open.data.extend_from_slice(&line);
                open.end = end;
                open.last_line = Instant::now();
            }
            _ => {
                self.close_open(out);
                self.open = Some(Open {
                    data: line,
                    end,
                    last_line: Instant::now(),
                });
            }
        }
    }

    fn close_open(&mut self, out: &mut Vec<Cut>) {
        if let Some(open) = self.open.take() {
            out.push(Cut {
                data: open.data,
                end: open.end,
            });
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return haystack.iter().position(|b| *b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(cuts: &[Cut]) -> Vec<(String, u64)> {
        cuts.iter()
            .map(|c| (String::from_utf8_lossy(&c.data).into_owned(), c.end))
            .collect()
    }

    #[test]
    fn lines_keep_their_delimiter_and_offsets_across_chunks() {
        let mut c = LineCutter::new("\n", None, 100);
        assert_eq!(texts(&c.push(b"ab\ncd")), vec![("ab\n".into(), 103)]);
        assert!(c.holds_data());
        assert_eq!(
            texts(&c.push(b"e\n\nf")),
            vec![("cde\n".into(), 107), ("\n".into(), 108)]
        );
        assert_eq!(texts(&c.finish()), vec![("f".into(), 109)]);
    }

    #[test]
    fn a_delimiter_split_across_chunks_is_found() {
        let mut c = LineCutter::new("\r\n", None, 0);
        assert!(c.push(b"ab\r").is_empty());
        assert_eq!(
            texts(&c.push(b"\ncd\r\n")),
            vec![("ab\r\n".into(), 4), ("cd\r\n".into(), 8)]
        );
    }

    #[test]
    fn continuation_lines_join_the_line_they_continue() {
        let multiline = Multiline::new(&MultilineConfig {
            pattern: r"^\S".into(),
            negate: true,
            timeout_ms: 60_000,
        })
        .unwrap();
        let mut c = LineCutter::new("\n", Some(multiline), 0);
        let cuts = c.push(b"Exception: x\n  at a\n  at b\nnext\n");
        assert_eq!(
            texts(&cuts),
            vec![("Exception: x\n  at a\n  at b\n".into(), 27)]
        );
        assert!(c.holds_data(), "`next` waits for continuation lines");
        assert!(c.expire(Instant::now()).is_none());
        assert_eq!(texts(&c.finish()), vec![("next\n".into(), 32)]);
    }

    #[test]
    fn an_open_multiline_record_expires() {
        let multiline = Multiline::new(&MultilineConfig {
            pattern: r"^\s".into(),
            negate: false,
            timeout_ms: 0,
        })
        .unwrap();
        let mut c = LineCutter::new("\n", Some(multiline), 0);
        assert!(c.push(b"a\n b\n").is_empty());
        assert_eq!(
            texts(&[c.expire(Instant::now()).unwrap()]),
            vec![("a\n b\n".into(), 5)]
        );
    }

    #[test]
    fn an_endless_line_is_cut_into_pieces_over_the_limit() {
        let mut c = LineCutter::with_limit("\n", None, 0, 10);
        let cuts = c.push(&[b'x'; 45]);
        // Pieces of 11 while at least 22 bytes are held: 45 → 34 → 23 → 12 held.
        assert_eq!(
            cuts.iter().map(|c| c.data.len()).collect::<Vec<_>>(),
            vec![11, 11, 11]
        );
        let rest = c.push(b"\n");
        assert_eq!(rest[0].data.len(), 13);
        assert!(cuts.iter().chain(&rest).all(|c| c.data.len() > 10));
        assert_eq!(rest[0].end, 46);
    }
}
