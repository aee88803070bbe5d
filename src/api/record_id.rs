//! `RecordId`s: opaque, unique strings. Firehose's are long base64-like strings that
//! clients must not parse; Sluice's are a per-process random prefix and a counter.

use std::sync::atomic::{AtomicU64, Ordering};

pub struct RecordIds {
    prefix: String,
    next: AtomicU64,
}

impl RecordIds {
    pub fn new() -> Self {
        Self {
            prefix: uuid::Uuid::new_v4().simple().to_string(),
            next: AtomicU64::new(0),
        }
    }

    /// Reserves `n` consecutive ids and returns the first's counter value.
    pub fn reserve(&self, n: usize) -> u64 {
        self.next.fetch_add(n as u64, Ordering::Relaxed)
    }

    /// Writes the id for counter value `seq` into `out`.
    pub fn write(&self, out: &mut String, seq: u64) {
        use std::fmt::Write as _;
        out.push_str(&self.prefix);
        let _ = write!(out, "{seq:016x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_opaque_strings() {
        let ids = RecordIds::new();
        let first = ids.reserve(2);
        let (mut a, mut b) = (String::new(), String::new());
        ids.write(&mut a, first);
        ids.write(&mut b, first + 1);
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
        assert_ne!(RecordIds::new().prefix, ids.prefix);
    }
}
