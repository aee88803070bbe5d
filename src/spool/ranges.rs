//! Sets of sequence numbers as sorted, merged half-open ranges: which records a sealed
//! batch holds, and which records are delivered.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A set of sequence numbers, stored as disjoint, non-adjacent ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<(u64, u64)>", into = "Vec<(u64, u64)>")]
pub struct RangeSet {
    /// start → end (exclusive).
    ranges: BTreeMap<u64, u64>,
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
        // Fast path: records arrive in order, so most inserts extend the last range.
        if let Some(mut last) = self.ranges.last_entry()
            && *last.key() <= r.start
            && *last.get() >= r.start
        {
            let end = last.get_mut();
            *end = (*end).max(r.end);
            return;
        }
        let (mut start, mut end) = (r.start, r.end);
        // A range that starts at or before `start` and reaches it.
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back()
            && e >= start
        {
            start = s;
            end = end.max(e);
            self.ranges.remove(&s);
        }
        // Ranges that start inside [start, end].
        let inside: Vec<u64> = self.ranges.range(start..=end).map(|(&s, _)| s).collect();
        for s in inside {
            if let Some(e) = self.ranges.remove(&s) {
                end = end.max(e);
            }
        }
        self.ranges.insert(start, end);
    }

    pub fn extend(&mut self, other: &RangeSet) {
        for r in other.iter() {
            self.insert(r);
        }
    }

    /// Removes every number that is in `other`.
    /// Removes `other`'s numbers, in one pass over both (partitioned batches hold
    /// thousands of scattered ranges, so pairing every range with every other
    /// one was the delivery path's top cost).
    pub fn subtract(&mut self, other: &RangeSet) {
        if self.is_empty() || other.is_empty() {
            return;
        }
        let mut kept = BTreeMap::new();
        let mut others = other.ranges.iter().peekable();
        for (&s, &e) in &self.ranges {
            // Ranges of `other` ending before this one starts are behind us for good.
            while others.next_if(|&(_, &oe)| oe <= s).is_some() {}
            let mut start = s;
            // One of `other`'s ranges may span several of ours: look ahead without
            // consuming.
            for (&os, &oe) in others.clone() {
                if os >= e {
                    break;
                }
                if os > start {
                    kept.insert(start, os);
                }
                start = start.max(oe);
                if start >= e {
                    break;
                }
            }
            if start < e {
                kept.insert(start, e);
            }
        }
        self.ranges = kept;
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.ranges
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, &e)| seq < e)
    }

    /// Whether any number in `r` is in the set.
    pub fn intersects(&self, r: &Range<u64>) -> bool {
        if r.is_empty() {
            return false;
        }
        self.contains(r.start) || self.ranges.range(r.start..r.end).next().is_some()
    }

    /// The first number not in the set at or after `from`: how far a run of
    /// consecutive members starting at `from` reaches.
    pub fn first_gap_from(&self, from: u64) -> u64 {
        match self.ranges.range(..=from).next_back() {
            Some((_, &e)) if e > from => e,
            _ => from,
        }
    }

    /// Removes every number below `below`.
    pub fn remove_below(&mut self, below: u64) {
        let keep = self.ranges.split_off(&below);
        let straddling = self.ranges.iter().next_back().map(|(_, &e)| e);
        self.ranges = keep;
        if let Some(e) = straddling
            && e > below
        {
            self.ranges.insert(below, e);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.ranges.iter().map(|(&s, &e)| s..e)
    }

    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(s, e)| e - s).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// One past the largest member (0 when empty).
    pub fn end(&self) -> u64 {
        self.ranges.values().next_back().copied().unwrap_or(0)
    }
}

impl From<Vec<(u64, u64)>> for RangeSet {
    fn from(v: Vec<(u64, u64)>) -> Self {
        let mut set = Self::new();
        for (s, e) in v {
            set.insert(s..e);
        }
        set
    }
}

impl From<RangeSet> for Vec<(u64, u64)> {
    fn from(set: RangeSet) -> Self {
        set.ranges.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Against a plain set of numbers: membership, gaps and trimming agree.
        #[test]
        fn behaves_as_a_set(ops in proptest::collection::vec((0u64..60, 0u64..8), 0..40), cut in 0u64..70) {
            let mut set = RangeSet::new();
            let mut model = BTreeSet::new();
            for (s, n) in ops {
                set.insert(s..s + n);
                model.extend(s..s + n);
            }
            for x in 0..70 {
                prop_assert_eq!(set.contains(x), model.contains(&x), "contains {}", x);
                let gap = (x..).find(|y| !model.contains(y)).unwrap();
                prop_assert_eq!(set.first_gap_from(x), gap);
            }
            prop_assert_eq!(set.len(), model.len() as u64);
            // Stored ranges are disjoint and never adjacent.
            let rs: Vec<_> = set.iter().collect();
            for w in rs.windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
            let mut minus = set.clone();
            let other: RangeSet = vec![(cut / 2, cut / 2 + 7), (cut, cut + 3)].into();
            minus.subtract(&other);
            for x in 0..70 {
                prop_assert_eq!(minus.contains(x), model.contains(&x) && !other.contains(x), "subtract {}", x);
            }
            set.remove_below(cut);
            model.retain(|&x| x >= cut);
            prop_assert_eq!(set.len(), model.len() as u64);
            prop_assert!(set.iter().all(|r| r.start >= cut));
        }
    }

    #[test]
    fn intersects_and_serializes_as_pairs() {
        let set: RangeSet = vec![(5, 10), (20, 21)].into();
        assert!(set.intersects(&(0..6)));
        assert!(set.intersects(&(15..25)));
        assert!(!set.intersects(&(10..20)));
        assert_eq!(serde_json::to_string(&set).unwrap(), "[[5,10],[20,21]]");
        assert_eq!(set.end(), 21);
    }
}
