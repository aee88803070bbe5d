//! Sets of sequence numbers as sorted, merged half-open ranges: which records a sealed
//! batch holds (the ledger's sets of written records are bitmaps, `seq_bitmap.rs`).
//!
//! A batch of one partition among many holds one range per record (its records
//! interleave with the other partitions' in the spool), so a set can have a
//! million ranges. They are kept in a sorted vector (16 bytes a range; a B-tree
//! took about three times that) and written to the ledger as variable-length
//! deltas (about two bytes a range for interleaved records, where a JSON pair
//! took twenty), so a sealed batch's size in the ledger grows with its records,
//! not with the digits of their numbers.

use std::ops::Range;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// A set of sequence numbers, stored as disjoint, non-adjacent ranges in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// (start, end exclusive), sorted; each ends before the next starts.
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `r`, merging it with the ranges it touches.
    pub fn insert(&mut self, r: Range<u64>) {
        if r.is_empty() {
            return;
        }
        // Fast path: records arrive in order, so most inserts extend or follow
        // the last range.
        match self.ranges.last_mut() {
            None => return self.ranges.push((r.start, r.end)),
            Some(last) if last.1 < r.start => return self.ranges.push((r.start, r.end)),
            Some(last) if last.0 <= r.start => {
                last.1 = last.1.max(r.end);
                return;
            }
            Some(_) => {}
        }
        // Ranges from `first` to `past` touch or overlap `r`.
        let first = self.ranges.partition_point(|&(_, e)| e < r.start);
        let past = self.ranges.partition_point(|&(s, _)| s <= r.end);
        if first == past {
            self.ranges.insert(first, (r.start, r.end));
        } else {
            let start = r.start.min(self.ranges[first].0);
            let end = r.end.max(self.ranges[past - 1].1);
            self.ranges
                .splice(first..past, std::iter::once((start, end)));
        }
    }

    /// Adds every number of `other`: appended when it follows, else merged
    /// into the stretch of this set it overlaps, in one splice (a delivered
    /// partition's scattered records go into a delivered set of millions of
    /// ranges: inserting them one by one moved the whole set each time).
    pub fn extend(&mut self, other: &RangeSet) {
        let (Some(&(first, _)), Some(&(_, last))) = (other.ranges.first(), other.ranges.last())
        else {
            return;
        };
        if self.ranges.last().is_none_or(|&(_, e)| e <= first) {
            for r in other.iter() {
                self.insert(r);
            }
            return;
        }
        // The ranges of this set that touch or overlap `other`'s span.
        let lo = self.ranges.partition_point(|&(_, e)| e < first);
        let hi = self.ranges.partition_point(|&(s, _)| s <= last);
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(hi - lo + other.ranges.len());
        let (mut a, mut b) = (
            self.ranges[lo..hi].iter().peekable(),
            other.ranges.iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) => {
                    if x.0 <= y.0 {
                        a.next();
                        x
                    } else {
                        b.next();
                        y
                    }
                }
                (Some(&&x), None) => {
                    a.next();
                    x
                }
                (None, Some(&&y)) => {
                    b.next();
                    y
                }
                (None, None) => break,
            };
            match merged.last_mut() {
                Some(last) if last.1 >= next.0 => last.1 = last.1.max(next.1),
                _ => merged.push(next),
            }
        }
        self.ranges.splice(lo..hi, merged);
    }

    /// Removes `other`'s numbers in one pass over this set, finding where each
    /// of its ranges meets `other` by binary search (partitioned batches hold
    /// thousands of scattered ranges, so pairing every range with every other
    /// one was the delivery path's top cost; and a small delivery must not walk
    /// a pending batch's million ranges).
    pub fn subtract(&mut self, other: &RangeSet) {
        if self.is_empty() || other.is_empty() {
            return;
        }
        let mut kept = Vec::with_capacity(self.ranges.len());
        let mut at = 0;
        for &(s, e) in &self.ranges {
            // Ranges of `other` ending before this one starts are behind us for good.
            at += other.ranges[at..].partition_point(|&(_, oe)| oe <= s);
            let mut start = s;
            // One of `other`'s ranges may span several of ours: look ahead without
            // moving `at`.
            for &(os, oe) in &other.ranges[at..] {
                if os >= e {
                    break;
                }
                if os > start {
                    kept.push((start, os));
                }
                start = start.max(oe);
                if start >= e {
                    break;
                }
            }
            if start < e {
                kept.push((start, e));
            }
        }
        self.ranges = kept;
    }

    /// The index of the last range starting at or before `seq`, if any.
    fn at_or_before(&self, seq: u64) -> Option<usize> {
        self.ranges
            .partition_point(|&(s, _)| s <= seq)
            .checked_sub(1)
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.at_or_before(seq)
            .is_some_and(|i| seq < self.ranges[i].1)
    }

    /// Whether any number in `r` is in the set.
    pub fn intersects(&self, r: &Range<u64>) -> bool {
        if r.is_empty() {
            return false;
        }
        let i = self.ranges.partition_point(|&(_, e)| e <= r.start);
        self.ranges.get(i).is_some_and(|&(s, _)| s < r.end)
    }

    pub fn iter(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.ranges.iter().map(|&(s, e)| s..e)
    }

    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(s, e)| e - s).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many ranges the set is made of.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// One past the largest member (0 when empty).
    pub fn end(&self) -> u64 {
        self.ranges.last().map_or(0, |&(_, e)| e)
    }

    /// The set as base64 of LEB128 varints: per range, its distance from the
    /// previous range's end, then its length.
    fn to_compact(&self) -> String {
        let mut out = Vec::with_capacity(self.ranges.len() * 2 + 8);
        let mut prev = 0;
        for &(s, e) in &self.ranges {
            prost::encoding::encode_varint(s - prev, &mut out);
            prost::encoding::encode_varint(e - s, &mut out);
            prev = e;
        }
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
    }

    fn from_compact(text: &str) -> Result<Self, String> {
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .map_err(|e| format!("a compact range set is not base64: {e}"))?;
        let mut bytes = raw.as_slice();
        let mut ranges = Vec::new();
        let mut prev: u64 = 0;
        while !bytes.is_empty() {
            let gap = take_varint(&mut bytes)?;
            let len = take_varint(&mut bytes)?;
            let start = prev.checked_add(gap).ok_or("a range set overflows")?;
            let end = start.checked_add(len).ok_or("a range set overflows")?;
            if len == 0 || (!ranges.is_empty() && gap == 0) {
                return Err("a compact range set has empty or adjacent ranges".into());
            }
            ranges.push((start, end));
            prev = end;
        }
        Ok(Self { ranges })
    }
}

/// One varint of a compact range set (prost's LEB128, the Protobuf encoding).
fn take_varint(bytes: &mut &[u8]) -> Result<u64, String> {
    prost::encoding::decode_varint(bytes).map_err(|e| format!("a compact range set: {e}"))
}

impl Serialize for RangeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_compact())
    }
}

impl<'de> Deserialize<'de> for RangeSet {
    /// The compact string, or the pairs (`[[5,10],[20,21]]`) that ledgers
    /// written before it hold.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Compact(String),
            Pairs(Vec<(u64, u64)>),
        }
        match Written::deserialize(deserializer)? {
            Written::Compact(text) => Self::from_compact(&text).map_err(serde::de::Error::custom),
            Written::Pairs(pairs) => Ok(pairs.into()),
        }
    }
}

impl From<Vec<(u64, u64)>> for RangeSet {
    fn from(mut v: Vec<(u64, u64)>) -> Self {
        v.sort_unstable();
        let mut set = Self::new();
        for (s, e) in v {
            set.insert(s..e);
        }
        set
    }
}

impl From<RangeSet> for Vec<(u64, u64)> {
    fn from(set: RangeSet) -> Self {
        set.ranges
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Against a plain set of numbers: membership, union and difference agree.
        #[test]
        fn behaves_as_a_set(
            ops in proptest::collection::vec((0u64..60, 0u64..8), 0..40),
            cut in 0u64..70,
            more in proptest::collection::vec((0u64..70, 1u64..5), 0..12),
        ) {
            let mut set = RangeSet::new();
            let mut model = BTreeSet::new();
            for (s, n) in ops {
                set.insert(s..s + n);
                model.extend(s..s + n);
            }
            for x in 0..70 {
                prop_assert_eq!(set.contains(x), model.contains(&x), "contains {}", x);
            }
            prop_assert_eq!(set.len(), model.len() as u64);
            // Stored ranges are disjoint and never adjacent.
            let rs: Vec<_> = set.iter().collect();
            for w in rs.windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
            let round: RangeSet = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
            prop_assert_eq!(&round, &set);
            let mut union = set.clone();
            let more: RangeSet = more.into_iter().map(|(s, n)| (s, s + n)).collect::<Vec<_>>().into();
            union.extend(&more);
            for x in 0..80 {
                prop_assert_eq!(union.contains(x), model.contains(&x) || more.contains(x), "extend {}", x);
            }
            let rs: Vec<_> = union.iter().collect();
            for w in rs.windows(2) {
                prop_assert!(w[0].end < w[1].start, "extend left {:?}", rs);
            }
            let mut minus = set.clone();
            let other: RangeSet = vec![(cut / 2, cut / 2 + 7), (cut, cut + 3)].into();
            minus.subtract(&other);
            for x in 0..70 {
                prop_assert_eq!(minus.contains(x), model.contains(&x) && !other.contains(x), "subtract {}", x);
            }
        }
    }

    #[test]
    fn intersects_and_reads_the_pairs_of_older_ledgers() {
        let set: RangeSet = vec![(5, 10), (20, 21)].into();
        assert!(set.intersects(&(0..6)));
        assert!(set.intersects(&(15..25)));
        assert!(!set.intersects(&(10..20)));
        assert!(!set.intersects(&(21..30)));
        let old: RangeSet = serde_json::from_str("[[5,10],[20,21]]").unwrap();
        assert_eq!(old, set);
        assert_eq!(set.end(), 21);
    }

    /// Regression (wedges issue): a 64 MiB batch of 1 KiB records of one
    /// partition among 24 is 65,536 ranges; as JSON pairs its seal took about
    /// 2 MB, over the ledger's 1 MiB file. Compact, it takes about 3 bytes a
    /// range, and reads back the same.
    #[test]
    fn an_interleaved_batch_is_a_few_bytes_a_record_in_the_ledger() {
        let mut set = RangeSet::new();
        let base = 40_000_000_000u64;
        for i in 0..65_536u64 {
            set.insert(base + i * 24..base + i * 24 + 1);
        }
        assert_eq!(set.range_count(), 65_536);
        let json = serde_json::to_string(&set).unwrap();
        assert!(json.len() < 65_536 * 3 + 64, "{} bytes", json.len());
        assert_eq!(serde_json::from_str::<RangeSet>(&json).unwrap(), set);
        assert!(serde_json::from_str::<RangeSet>("\"////\"").is_err());
    }
}
