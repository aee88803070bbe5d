//! How one record is laid out in a spool segment, and how a damaged one is told apart.
//!
//! ```text
//! len: u32 LE | crc: u32 LE | seq: u64 LE | arrival_ms: i64 LE | data: len - 16 bytes
//! ```
//! `crc` is CRC-32 over `len` and everything after `crc`, so a damaged length is caught
//! as surely as damaged data. `seq` numbers a stream's records without gaps, so the
//! records lost inside a damaged stretch can be counted and accounted for.

use bytes::Bytes;

/// Bytes before a record's data.
pub const HEADER_LEN: usize = 24;
/// `len` counts the bytes after the `len` and `crc` fields.
const PREFIX_LEN: usize = 8;
const FIXED_BODY_LEN: usize = HEADER_LEN - PREFIX_LEN;

/// A record as stored: its number in the stream, its arrival time and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub seq: u64,
    pub arrival_ms: i64,
    pub data: Bytes,
}

/// What lies at a position in a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A sound frame, `len` bytes long in all.
    Frame { frame: Frame, len: usize },
    /// Not enough bytes for a whole frame (the end of what was read, or a torn write).
    Incomplete,
    /// The bytes do not form a frame: its CRC does not match or its length is
    /// impossible. `claimed_len` is the frame length its header states, if plausible.
    Damaged { claimed_len: Option<usize> },
}

/// The stored size of a record with `data_len` bytes of data.
pub fn encoded_len(data_len: usize) -> usize {
    HEADER_LEN + data_len
}

/// Appends one frame to `out`.
pub fn encode(out: &mut Vec<u8>, seq: u64, arrival_ms: i64, data: &[u8]) {
    let len = u32::try_from(FIXED_BODY_LEN + data.len()).unwrap_or(u32::MAX);
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&arrival_ms.to_le_bytes());
    out.extend_from_slice(data);
    let crc = checksum(&out[start..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the frame at the start of `buf` (a slice of `whole`, so record data is
/// shared with it rather than copied). `max_len` bounds a plausible frame.
pub fn parse(whole: &Bytes, start: usize, max_len: usize) -> Parsed {
    let buf = &whole[start..];
    if buf.len() < PREFIX_LEN {
        return Parsed::Incomplete;
    }
    let body_len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if body_len < FIXED_BODY_LEN || PREFIX_LEN + body_len > max_len {
        return Parsed::Damaged { claimed_len: None };
    }
    let len = PREFIX_LEN + body_len;
    if buf.len() < len {
        return Parsed::Incomplete;
    }
    let stored = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if checksum(&buf[..len]) != stored {
        return Parsed::Damaged {
            claimed_len: Some(len),
        };
    }
    let field = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[at..at + 8]);
        b
    };
    Parsed::Frame {
        frame: Frame {
            seq: u64::from_le_bytes(field(8)),
            arrival_ms: i64::from_le_bytes(field(16)),
            data: whole.slice(start + HEADER_LEN..start + len),
        },
        len,
    }
}

/// CRC-32 of a frame with its CRC field taken as zero.
fn checksum(frame: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&frame[..4]);
    h.update(&frame[PREFIX_LEN..]);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MAX: usize = 2 * 1024 * 1024;

    fn frames(records: &[(u64, i64, Vec<u8>)]) -> Bytes {
        let mut out = Vec::new();
        for (seq, at, data) in records {
            encode(&mut out, *seq, *at, data);
        }
        Bytes::from(out)
    }

    fn parse_all(buf: &Bytes) -> (Vec<Frame>, Parsed) {
        let mut at = 0;
        let mut out = Vec::new();
        loop {
            match parse(buf, at, MAX) {
                Parsed::Frame { frame, len } => {
                    out.push(frame);
                    at += len;
                }
                other => return (out, other),
            }
        }
    }

    proptest! {
        #[test]
        fn frames_round_trip(records in proptest::collection::vec(
            (any::<u64>(), any::<i64>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20)
        ) {
            let buf = frames(&records);
            let (parsed, end) = parse_all(&buf);
            prop_assert_eq!(end, Parsed::Incomplete);
            prop_assert_eq!(parsed.len(), records.len());
            for (f, (seq, at, data)) in parsed.iter().zip(&records) {
                prop_assert_eq!((f.seq, f.arrival_ms, &f.data[..]), (*seq, *at, &data[..]));
            }
        }

        /// Any single flipped bit is caught: the frame is damaged, or (a length bit)
        /// no longer fits what was read, never a different sound record.
        #[test]
        fn a_flipped_bit_is_never_read_as_a_record(
            data in proptest::collection::vec(any::<u8>(), 0..200),
            bit in 0usize..(8 * 224),
        ) {
            let mut raw = frames(&[(7, 1, data.clone())]).to_vec();
            let bit = bit % (raw.len() * 8);
            raw[bit / 8] ^= 1 << (bit % 8);
            match parse(&Bytes::from(raw), 0, MAX) {
                Parsed::Frame { .. } => prop_assert!(false, "bit {} went unnoticed", bit),
                Parsed::Damaged { .. } | Parsed::Incomplete => {}
            }
        }

        /// Any cut of a stream of frames yields the whole frames before the cut and
        /// then `Incomplete`: a torn write is never mistaken for damage or a record.
        #[test]
        fn a_torn_tail_reads_as_incomplete(
            sizes in proptest::collection::vec(0usize..100, 1..10),
            cut in any::<prop::sample::Index>(),
        ) {
            let records: Vec<_> = sizes.iter().enumerate().map(|(i, n)| (i as u64, 0, vec![b'x'; *n])).collect();
            let buf = frames(&records);
            let cut = cut.index(buf.len());
            let (parsed, end) = parse_all(&buf.slice(..cut));
            prop_assert_eq!(end, Parsed::Incomplete);
            let whole: usize = parsed.iter().map(|f| encoded_len(f.data.len())).sum();
            prop_assert!(whole <= cut && cut - whole < encoded_len(sizes[parsed.len().min(sizes.len() - 1)]));
        }
    }

    #[test]
    fn damaged_data_keeps_its_claimed_length() {
        let mut raw = frames(&[(1, 1, b"hello".to_vec()), (2, 2, b"world".to_vec())]).to_vec();
        raw[HEADER_LEN + 1] ^= 0x20;
        let buf = Bytes::from(raw);
        assert_eq!(
            parse(&buf, 0, MAX),
            Parsed::Damaged {
                claimed_len: Some(encoded_len(5))
            }
        );
        match parse(&buf, encoded_len(5), MAX) {
            Parsed::Frame { frame, .. } => assert_eq!(&frame.data[..], b"world"),
            other => panic!("{other:?}"),
        }
    }
}
