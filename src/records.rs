//! What a source hands to the spool in one append: a list of records, or the
//! lines of one NDJSON body.
//!
//! A 16 MiB body of 2-byte lines is 8.4 million records: as a `Vec<Record>` (a
//! shared buffer, an arrival time and an optional Kinesis metadata each) that is
//! over a gigabyte. As [`Lines`] it is the body and a 4-byte offset per line, and
//! the spool's writer makes frames of them piece by piece.

use bytes::Bytes;

use crate::record::{KinesisMeta, MAX_RECORD_BYTES, Record, Refusal};

/// Records for one append, all accepted or none.
#[derive(Debug, Clone)]
pub enum Records {
    List(Vec<Record>),
    Lines(Lines),
}

/// One record as the spool stores it.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub data: &'a [u8],
    pub arrival_ms: i64,
    pub kinesis: Option<&'a KinesisMeta>,
    pub refused: Option<&'a Refusal>,
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Self::List(list) => list.len(),
            Self::Lines(lines) => lines.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records' bytes, in all.
    pub fn data_bytes(&self) -> u64 {
        match self {
            Self::List(list) => list.iter().map(|r| r.data.len() as u64).sum(),
            Self::Lines(lines) => lines.data_bytes,
        }
    }

    /// Each record, in order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = RecordRef<'_>> + '_> {
        match self {
            Self::List(list) => Box::new(list.iter().map(RecordRef::from)),
            Self::Lines(lines) => Box::new(lines.starts.iter().map(|&start| RecordRef {
                data: lines.line_at(start as usize),
                arrival_ms: lines.arrival_ms,
                kinesis: None,
                refused: None,
            })),
        }
    }
}

impl<'a> From<&'a Record> for RecordRef<'a> {
    fn from(r: &'a Record) -> Self {
        Self {
            data: &r.data,
            arrival_ms: r.arrival_ms,
            kinesis: r.kinesis.as_ref(),
            refused: r.refused.as_deref(),
        }
    }
}

impl From<Lines> for Records {
    fn from(lines: Lines) -> Self {
        Self::Lines(lines)
    }
}

impl From<Vec<Record>> for Records {
    fn from(list: Vec<Record>) -> Self {
        Self::List(list)
    }
}

/// The non-blank lines of a body, each a record that keeps its newline.
#[derive(Debug, Clone)]
pub struct Lines {
    body: Bytes,
    /// Where each record starts; it ends after the next `\n` (or at the body's end).
    /// Bodies are at most a few hundred MiB, far below 4 GiB.
    starts: Vec<u32>,
    data_bytes: u64,
    arrival_ms: i64,
}

/// A line over Firehose's record limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "line {line} is {len} bytes; a record must have length less than or equal to {MAX_RECORD_BYTES}"
)]
pub struct LineTooLong {
    pub line: usize,
    pub len: usize,
}

impl Lines {
    /// Each line as a record of its own (sharing the body), made as it is taken.
    pub fn into_records(self) -> impl Iterator<Item = Record> {
        (0..self.starts.len()).map(move |i| {
            let start = self.starts[i] as usize;
            let len = self.line_at(start).len();
            Record::new(self.body.slice(start..start + len), self.arrival_ms)
        })
    }

    /// Splits `body` into its non-blank lines (a line of only `\r` and `\n` is
    /// blank), all arriving at `arrival_ms`.
    pub fn split(body: Bytes, arrival_ms: i64) -> Result<Self, LineTooLong> {
        let mut starts = Vec::with_capacity(Self::most_lines(&body));
        let (mut start, mut line, mut data_bytes) = (0, 0, 0u64);
        while start < body.len() {
            line += 1;
            let end = newline(&body[start..]).map_or(body.len(), |i| start + i + 1);
            let text = &body[start..end];
            if !text.iter().all(|b| matches!(b, b'\n' | b'\r')) {
                if text.len() > MAX_RECORD_BYTES {
                    return Err(LineTooLong {
                        line,
                        len: text.len(),
                    });
                }
                starts.push(u32::try_from(start).unwrap_or(u32::MAX));
                data_bytes += text.len() as u64;
            }
            start = end;
        }
        Ok(Self {
            body,
            starts,
            data_bytes,
            arrival_ms,
        })
    }

    /// How many records `body` can split into at most, counted without
    /// allocating: a caller claims the memory of their offsets before splitting.
    pub fn most_lines(body: &[u8]) -> usize {
        memchr::memchr_iter(b'\n', body).count() + 1
    }

    /// Bytes the offsets of at most `lines` records take.
    pub fn overhead_of(lines: usize) -> usize {
        lines * std::mem::size_of::<u32>()
    }

    /// How many records (non-blank lines).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The body's size (what the lines hold, blank ones included).
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    fn line_at(&self, start: usize) -> &[u8] {
        let rest = self.body.get(start..).unwrap_or_default();
        let end = newline(rest).map_or(rest.len(), |i| i + 1);
        &rest[..end]
    }
}

fn newline(haystack: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', haystack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &'static [u8]) -> Vec<Vec<u8>> {
        let records = Records::Lines(Lines::split(Bytes::from_static(body), 7).unwrap());
        records.iter().map(|r| r.data.to_vec()).collect()
    }

    proptest::proptest! {
        /// Any body splits into its non-blank lines, each keeping its newline:
        /// together they are the body without its blank lines.
        #[test]
        fn any_body_splits_into_its_non_blank_lines(
            body in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\n', b'\r', 0xff, 0]), 0..300),
        ) {
            let split = Lines::split(Bytes::from(body.clone()), 1).unwrap();
            let records = Records::Lines(split);
            let blank = |l: &[u8]| l.iter().all(|b| matches!(b, b'\n' | b'\r'));
            let want: Vec<u8> = body
                .split_inclusive(|&b| b == b'\n')
                .filter(|l| !blank(l))
                .flatten()
                .copied()
                .collect();
            let got: Vec<u8> = records.iter().flat_map(|r| r.data.iter().copied()).collect();
            proptest::prop_assert_eq!(records.data_bytes(), want.len() as u64);
            proptest::prop_assert_eq!(got, want);
            for r in records.iter() {
                proptest::prop_assert!(!blank(r.data));
                proptest::prop_assert_eq!(r.arrival_ms, 1);
                let inner = &r.data[..r.data.len() - 1];
                proptest::prop_assert!(!inner.contains(&b'\n'), "one line per record");
            }
        }
    }

    #[test]
    fn lines_keep_their_newline_and_blank_lines_are_skipped() {
        assert_eq!(
            lines(b"{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}"),
            vec![
                b"{\"a\":1}\n".to_vec(),
                b"{\"a\":2}\r\n".to_vec(),
                b"{\"a\":3}".to_vec()
            ]
        );
    }

    #[test]
    fn an_oversized_line_is_refused_with_its_number() {
        let mut body = b"ok\n".to_vec();
        body.extend(vec![b'x'; MAX_RECORD_BYTES + 1]);
        let err = Lines::split(Bytes::from(body), 0).unwrap_err();
        assert_eq!(
            err,
            LineTooLong {
                line: 2,
                len: MAX_RECORD_BYTES + 1
            }
        );
    }

    #[test]
    fn a_line_costs_four_bytes_beside_the_body() {
        let body = b"a\n".repeat(1000);
        // 1000 newlines: at most 1001 lines (one after the last newline).
        assert_eq!(Lines::most_lines(&body), 1001);
        assert_eq!(Lines::overhead_of(1001), 4004);
        let split = Lines::split(Bytes::from(body), 0).unwrap();
        assert_eq!(split.starts.capacity(), 1001, "no room beyond the bound");
        assert_eq!(Records::Lines(split).len(), 1000);
    }
}
