//! Where each record of a buffer ends, when it arrived and which spool record it
//! came from, in about four bytes a record.
//!
//! A buffer of tiny records holds millions of them (5 MiB of 2-byte lines is 2.6
//! million), so a mark per record must not cost what a struct of three words
//! would (24 bytes, 63 MB for that buffer, again for each batch in flight).
//! Records arrive in runs that share an arrival time and follow one another in
//! the spool (one request's records), so each run is stored once and each record
//! adds only its end offset.

/// One record's place in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMark {
    /// Where the record's bytes end in the buffer.
    pub end: usize,
    pub arrival_ms: i64,
    /// The spool record it came from (the first of its range: an error line for
    /// damaged data covers several).
    pub seq: u64,
}

/// Records `first..` of a run share `arrival_ms` and number `seq`, `seq + 1`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: usize,
    seq: u64,
    arrival_ms: i64,
}

/// The marks of a buffer's records, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// Each record's end. A buffer holds at most its limit (128 MiB) plus one
    /// record, far below 4 GiB.
    ends: Vec<u32>,
    runs: Vec<Run>,
}

impl Marks {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Where the last record ends (0 when there is none).
    pub fn last_end(&self) -> usize {
        self.ends.last().map_or(0, |&e| e as usize)
    }

    pub fn push(&mut self, mark: RecordMark) {
        let index = self.ends.len();
        let continues = self.runs.last().is_some_and(|run| {
            run.arrival_ms == mark.arrival_ms && run.seq + (index - run.first) as u64 == mark.seq
        });
        if !continues {
            self.runs.push(Run {
                first: index,
                seq: mark.seq,
                arrival_ms: mark.arrival_ms,
            });
        }
        self.ends.push(u32::try_from(mark.end).unwrap_or(u32::MAX));
    }

    /// The mark of record `index`.
    pub fn get(&self, index: usize) -> Option<RecordMark> {
        let end = *self.ends.get(index)? as usize;
        let run = self.runs[self.runs.partition_point(|r| r.first <= index) - 1];
        Some(RecordMark {
            end,
            arrival_ms: run.arrival_ms,
            seq: run.seq + (index - run.first) as u64,
        })
    }

    /// Every mark, in order.
    pub fn iter(&self) -> impl Iterator<Item = RecordMark> + '_ {
        let mut runs = self.runs.iter().peekable();
        let mut run = Run {
            first: 0,
            seq: 0,
            arrival_ms: 0,
        };
        self.ends.iter().enumerate().map(move |(index, &end)| {
            while let Some(next) = runs.next_if(|r| r.first <= index) {
                run = *next;
            }
            RecordMark {
                end: end as usize,
                arrival_ms: run.arrival_ms,
                seq: run.seq + (index - run.first) as u64,
            }
        })
    }

    /// The oldest arrival time (0 when empty).
    pub fn first_arrival_ms(&self) -> i64 {
        self.runs
            .iter()
            .map(|r| r.arrival_ms)
            .min()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever the marks, they read back as pushed, by index and in order.
        #[test]
        fn marks_read_back_as_pushed(
            steps in proptest::collection::vec((1usize..5, 0i64..3, 0u64..3), 0..200),
        ) {
            let (mut marks, mut want) = (Marks::default(), Vec::new());
            let (mut end, mut seq) = (0, 0);
            for (len, arrival_ms, gap) in steps {
                end += len;
                seq += gap;
                let mark = RecordMark { end, arrival_ms, seq };
                marks.push(mark);
                want.push(mark);
            }
            proptest::prop_assert_eq!(marks.iter().collect::<Vec<_>>(), want.clone());
            for (i, mark) in want.iter().enumerate() {
                proptest::prop_assert_eq!(marks.get(i), Some(*mark));
            }
            proptest::prop_assert_eq!(marks.get(want.len()), None);
            proptest::prop_assert_eq!(marks.len(), want.len());
        }
    }

    #[test]
    fn one_request_of_records_is_one_run() {
        let mut marks = Marks::default();
        for i in 0..1000 {
            marks.push(RecordMark {
                end: 2 * (i + 1),
                arrival_ms: 7,
                seq: 100 + i as u64,
            });
        }
        assert_eq!(marks.runs.len(), 1);
        assert_eq!(marks.first_arrival_ms(), 7);
        assert_eq!(marks.last_end(), 2000);
    }
}
