//! The ledger's sets of written records (delivered, or one copy of two
//! written) as compressed bitmaps.
//!
//! These sets hold every record above the watermark that is written, and with
//! many partitions they are as scattered as the records: half of 500
//! interleaved partitions delivered is one range per record. As ranges (16
//! bytes each in memory, about 3 in the ledger) 13 million such records took
//! 200 MB of memory, and a compaction copied them once more; as a roaring
//! bitmap (`roaring`, as Lucene, Spark and Iceberg use it) a record takes at
//! most a bit, and a stretch written in full a few bytes. A sealed batch's
//! records stay a [`RangeSet`]: it is iterated in order and is as large as
//! the batch, no more.

use std::ops::Range;

use base64::Engine;
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use super::ranges::RangeSet;

/// A set of sequence numbers as a compressed bitmap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeqBitmap(RoaringTreemap);

impl SeqBitmap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every number of `other`.
    pub fn union_with(&mut self, other: &SeqBitmap) {
        self.0 |= &other.0;
    }

    /// Removes every number of `other`.
    pub fn subtract(&mut self, other: &SeqBitmap) {
        self.0 -= &other.0;
    }

    /// The numbers in both sets.
    pub fn intersection(&self, other: &SeqBitmap) -> SeqBitmap {
        Self(&self.0 & &other.0)
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.0.contains(seq)
    }

    /// How many numbers below `end` the set holds.
    fn count_below(&self, end: u64) -> u64 {
        end.checked_sub(1).map_or(0, |last| self.0.rank(last))
    }

    /// Whether any number in `r` is in the set.
    pub fn intersects(&self, r: &Range<u64>) -> bool {
        !r.is_empty() && self.count_below(r.end) > self.count_below(r.start)
    }

    /// The first number not in the set at or after `from`: how far a run of
    /// consecutive members starting at `from` reaches. A binary search on
    /// ranks, so a run of millions costs a few dozen lookups.
    pub fn first_gap_from(&self, from: u64) -> u64 {
        if !self.0.contains(from) {
            return from;
        }
        let before = self.count_below(from);
        let full_to = |end: u64| self.count_below(end) - before == end - from;
        // `from + 1` is covered; one past the largest member is not beyond.
        let (mut lo, mut hi) = (from + 1, self.end());
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if full_to(mid) { lo = mid } else { hi = mid - 1 }
        }
        lo
    }

    /// Removes every number below `below`.
    pub fn remove_below(&mut self, below: u64) {
        self.0.remove_range(..below);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One past the largest member (0 when empty).
    pub fn end(&self) -> u64 {
        self.0.max().map_or(0, |m| m + 1)
    }

    /// The set in roaring's portable format (the one its Java and C
    /// implementations read), runs compressed, as base64.
    fn to_base64(&self) -> String {
        let set = RoaringTreemap::from_bitmaps(self.0.bitmaps().map(|(high, low)| {
            let mut low = low.clone();
            low.optimize();
            (high, low)
        }));
        let mut out = Vec::with_capacity(set.serialized_size());
        // Writing to a Vec cannot fail.
        let _ = set.serialize_into(&mut out);
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
    }
}

impl From<&RangeSet> for SeqBitmap {
    fn from(ranges: &RangeSet) -> Self {
        let mut set = RoaringTreemap::new();
        for r in ranges.iter() {
            set.insert_range(r);
        }
        Self(set)
    }
}

impl Serialize for SeqBitmap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for SeqBitmap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .map_err(|e| serde::de::Error::custom(format!("a bitmap is not base64: {e}")))?;
        RoaringTreemap::deserialize_from(raw.as_slice())
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format!("a bitmap does not read: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn of(ranges: &[(u64, u64)]) -> SeqBitmap {
        SeqBitmap::from(&RangeSet::from(ranges.to_vec()))
    }

    proptest! {
        /// Against a plain set of numbers: membership, runs, trimming and
        /// the ledger's text form agree.
        #[test]
        fn behaves_as_a_set(
            a in proptest::collection::vec((0u64..200, 1u64..9), 0..30),
            b in proptest::collection::vec((0u64..200, 1u64..9), 0..30),
            from in 0u64..220,
            probe in (0u64..220, 0u64..12),
        ) {
            let plain = |v: &[(u64, u64)]| -> BTreeSet<u64> {
                v.iter().flat_map(|&(s, l)| s..s + l).collect()
            };
            let pairs = |v: &[(u64, u64)]| -> Vec<(u64, u64)> {
                v.iter().map(|&(s, l)| (s, s + l)).collect()
            };
            let (want_a, want_b) = (plain(&a), plain(&b));
            let mut set = of(&pairs(&a));
            let other = of(&pairs(&b));
            for n in 0..220 {
                prop_assert_eq!(set.contains(n), want_a.contains(&n));
            }
            let gap = (from..).find(|n| !want_a.contains(n)).unwrap_or(from);
            prop_assert_eq!(set.first_gap_from(from), gap);
            let r = probe.0..probe.0 + probe.1;
            prop_assert_eq!(set.intersects(&r), r.clone().any(|n| want_a.contains(&n)));
            prop_assert_eq!(set.end(), want_a.iter().next_back().map_or(0, |m| m + 1));

            let both: BTreeSet<u64> = want_a.intersection(&want_b).copied().collect();
            prop_assert_eq!(set.intersection(&other).0.iter().collect::<BTreeSet<_>>(), both);
            let text = serde_json::to_string(&set).unwrap();
            prop_assert_eq!(&serde_json::from_str::<SeqBitmap>(&text).unwrap(), &set);

            set.union_with(&other);
            let union: BTreeSet<u64> = want_a.union(&want_b).copied().collect();
            prop_assert_eq!(set.0.iter().collect::<BTreeSet<_>>(), union.clone());
            set.subtract(&of(&pairs(&b)));
            let diff: BTreeSet<u64> = union.difference(&want_b).copied().collect();
            prop_assert_eq!(set.0.iter().collect::<BTreeSet<_>>(), diff.clone());
            set.remove_below(from);
            prop_assert_eq!(set.len(), diff.iter().filter(|&&n| n >= from).count() as u64);
        }
    }

    /// The case that made these bitmaps, at its worst: 13 million records of
    /// interleaved partitions, every other record written. As ranges that was
    /// 6.5 million of them (100 MB in memory, 20 MB in the ledger).
    #[test]
    fn half_of_many_interleaved_partitions_stays_small() {
        let mut set = RoaringTreemap::new();
        for seq in (0..13_000_000u64).step_by(2) {
            set.insert(seq);
        }
        let set = SeqBitmap(set);
        assert_eq!(set.len(), 6_500_000);
        let text = set.to_base64();
        assert!(text.len() < 3_000_000, "{} bytes in the ledger", text.len());
        assert_eq!(set.first_gap_from(0), 1);
        assert_eq!(set.first_gap_from(13_000_000 - 500), 13_000_000 - 499);
    }

    #[test]
    fn a_long_run_is_found_to_its_end() {
        let set = of(&[(10, 5_000_000), (5_000_001, 5_000_002)]);
        assert_eq!(set.first_gap_from(10), 5_000_000);
        assert_eq!(set.first_gap_from(5_000_001), 5_000_002);
        assert_eq!(set.first_gap_from(9), 9);
        assert!(!set.intersects(&(5_000_000..5_000_001)));
        assert!(set.intersects(&(4_999_999..5_000_001)));
    }
}
