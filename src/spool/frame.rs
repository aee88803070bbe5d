//! How one record is laid out in a spool segment, and how a damaged one is told apart.
//!
//! ```text
//! len: u32 LE | crc: u32 LE | seq: u64 LE | arrival_ms: i64 LE | [metadata] | data
//! ```
//! `len` counts the bytes after `crc`; its top bit says that source metadata follows
//! the header (a record read from Kinesis carries its shard, partition key and sequence
//! number to the transform plugins):
//! ```text
//! meta_len: u32 LE | shard_id | partition_key | sequence_number | sub_seq: u64 LE | kinesis_arrival_ms: i64 LE
//! ```
//! with each string as `u16 LE length | UTF-8 bytes`. The next bit says that a
//! refusal follows (a record an unpacking processor refused as it entered the
//! stream, kept as received for the error output):
//! ```text
//! refusal_len: u32 LE | output_type | code | message
//! ```
//! with the strings as above. Frames written before either existed never have
//! these bits set, so old segments still read.
//! `crc` is CRC-32 over `len` and everything after `crc`, so a damaged length is caught
//! as surely as damaged data. `seq` numbers a stream's records without gaps, so the
//! records lost inside a damaged stretch can be counted and accounted for.

use bytes::Bytes;

use crate::record::{KinesisMeta, Record, Refusal};
use crate::records::{RecordRef, Records};

/// Bytes before a record's data.
pub const HEADER_LEN: usize = 24;
/// `len` counts the bytes after the `len` and `crc` fields.
const PREFIX_LEN: usize = 8;
const FIXED_BODY_LEN: usize = HEADER_LEN - PREFIX_LEN;
/// The top bit of `len`: metadata follows the header.
const HAS_METADATA: u32 = 1 << 31;
/// The next bit of `len`: a refusal follows the metadata (if any).
const HAS_REFUSAL: u32 = 1 << 30;
/// What `len` says of the frame's length.
const LEN_BITS: u32 = !(HAS_METADATA | HAS_REFUSAL);
/// A refusal's message is cut to this many bytes in the frame.
const MAX_MESSAGE: usize = 4096;

/// A record as stored: its number in the stream, its arrival time and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub seq: u64,
    pub arrival_ms: i64,
    pub data: Bytes,
    pub kinesis: Option<KinesisMeta>,
    pub refused: Option<Box<Refusal>>,
}

impl Frame {
    /// The record the frame holds.
    pub fn into_record(self) -> Record {
        Record {
            data: self.data,
            arrival_ms: self.arrival_ms,
            kinesis: self.kinesis,
            refused: self.refused,
        }
    }
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

/// The stored size of a record with `data_len` bytes of data and no metadata.
pub fn encoded_len(data_len: usize) -> usize {
    HEADER_LEN + data_len
}

/// The stored size of a record.
pub fn record_len(record: RecordRef<'_>) -> usize {
    encoded_len(record.data.len())
        + record.kinesis.map_or(0, |k| 4 + metadata_len(k))
        + record.refused.map_or(0, |r| 4 + refusal_len(r))
}

/// The stored size of a list of records (for lines, without a pass over them:
/// they carry no metadata).
pub fn records_len(records: &Records) -> u64 {
    match records {
        Records::Lines(_) => (records.len() * HEADER_LEN) as u64 + records.data_bytes(),
        Records::List(_) => records.iter().map(|r| record_len(r) as u64).sum(),
    }
}

fn metadata_len(k: &KinesisMeta) -> usize {
    6 + k.shard_id.len() + k.partition_key.len() + k.sequence_number.len() + 16
}

/// The refusal's texts as stored: each at most [`MAX_MESSAGE`] bytes, cut on a
/// character boundary.
fn refusal_texts(r: &Refusal) -> [&str; 3] {
    let cut = |s: &str| -> usize {
        let mut end = s.len().min(MAX_MESSAGE);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        end
    };
    [&r.output_type, &r.code, &r.message].map(|s| &s[..cut(s)])
}

fn refusal_len(r: &Refusal) -> usize {
    refusal_texts(r).iter().map(|t| 2 + t.len()).sum()
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    // Every text stored is far below 64 KiB (refusal texts are cut to 4 KiB;
    // Kinesis bounds shard ids, sequence numbers and partition keys).
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Reads one `u16 LE length | UTF-8 bytes` text off the front of `rest`.
fn take_text(rest: &mut &[u8]) -> Option<String> {
    let n = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let s = String::from_utf8(rest.get(2..2 + n)?.to_vec()).ok()?;
    *rest = &rest[2 + n..];
    Some(s)
}

/// Appends one frame of plain data to `out`.
#[cfg(test)]
pub fn encode(out: &mut Vec<u8>, seq: u64, arrival_ms: i64, data: &[u8]) {
    let record = RecordRef {
        data,
        arrival_ms,
        kinesis: None,
        refused: None,
    };
    encode_with(out, seq, record);
}

/// Appends one frame holding `record` to `out`.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, record: RecordRef<'_>) {
    encode_with(out, seq, record);
}

fn encode_with(out: &mut Vec<u8>, seq: u64, record: RecordRef<'_>) {
    let RecordRef {
        data,
        arrival_ms,
        kinesis,
        refused,
    } = record;
    let extra =
        kinesis.map_or(0, |k| 4 + metadata_len(k)) + refused.map_or(0, |r| 4 + refusal_len(r));
    let mut len = u32::try_from(FIXED_BODY_LEN + extra + data.len()).unwrap_or(LEN_BITS) & LEN_BITS;
    if kinesis.is_some() {
        len |= HAS_METADATA;
    }
    if refused.is_some() {
        len |= HAS_REFUSAL;
    }
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&arrival_ms.to_le_bytes());
    if let Some(k) = kinesis {
        out.extend_from_slice(&(metadata_len(k) as u32).to_le_bytes());
        for text in [&k.shard_id, &k.partition_key, &k.sequence_number] {
            put_text(out, text);
        }
        out.extend_from_slice(&k.sub_sequence_number.to_le_bytes());
        out.extend_from_slice(&k.arrival_ms.to_le_bytes());
    }
    if let Some(r) = refused {
        out.extend_from_slice(&(refusal_len(r) as u32).to_le_bytes());
        for text in refusal_texts(r) {
            put_text(out, text);
        }
    }
    out.extend_from_slice(data);
    let crc = checksum(&out[start..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the metadata block at the start of `buf`: the metadata and its length.
fn parse_metadata(buf: &[u8]) -> Option<(KinesisMeta, usize)> {
    let meta_len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let mut rest = buf.get(4..4 + meta_len)?;
    let (shard_id, partition_key, sequence_number) = (
        take_text(&mut rest)?,
        take_text(&mut rest)?,
        take_text(&mut rest)?,
    );
    let sub_sequence_number = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let arrival_ms = i64::from_le_bytes(rest.get(8..16)?.try_into().ok()?);
    let meta = KinesisMeta {
        shard_id,
        partition_key,
        sequence_number,
        sub_sequence_number,
        arrival_ms,
    };
    Some((meta, 4 + meta_len))
}

/// Reads the refusal block at the start of `buf`: the refusal and its length.
fn parse_refusal(buf: &[u8]) -> Option<(Refusal, usize)> {
    let len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let mut rest = buf.get(4..4 + len)?;
    let refusal = Refusal {
        output_type: take_text(&mut rest)?,
        code: take_text(&mut rest)?,
        message: take_text(&mut rest)?,
    };
    Some((refusal, 4 + len))
}

/// Reads the frame at the start of `buf` (a slice of `whole`, so record data is
/// shared with it rather than copied). `max_len` bounds a plausible frame.
pub fn parse(whole: &Bytes, start: usize, max_len: usize) -> Parsed {
    let buf = &whole[start..];
    if buf.len() < PREFIX_LEN {
        return Parsed::Incomplete;
    }
    let len_field = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let has_metadata = len_field & HAS_METADATA != 0;
    let has_refusal = len_field & HAS_REFUSAL != 0;
    let body_len = (len_field & LEN_BITS) as usize;
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
    let damaged = Parsed::Damaged {
        claimed_len: Some(len),
    };
    let mut data_start = HEADER_LEN;
    let mut kinesis = None;
    if has_metadata {
        let Some((meta, meta_len)) = parse_metadata(&buf[data_start..len]) else {
            return damaged;
        };
        kinesis = Some(meta);
        data_start += meta_len;
    }
    let mut refused = None;
    if has_refusal {
        let Some((refusal, refusal_len)) = parse_refusal(&buf[data_start..len]) else {
            return damaged;
        };
        refused = Some(Box::new(refusal));
        data_start += refusal_len;
    }
    Parsed::Frame {
        frame: Frame {
            seq: u64::from_le_bytes(field(8)),
            arrival_ms: i64::from_le_bytes(field(16)),
            data: whole.slice(start + data_start..start + len),
            kinesis,
            refused,
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
    fn kinesis_metadata_round_trips_beside_plain_frames() {
        let meta = KinesisMeta {
            shard_id: "shardId-000000000003".into(),
            partition_key: "user-é".into(),
            sequence_number: "49546986683135544286507457936321625675700192471156785154".into(),
            sub_sequence_number: 7,
            arrival_ms: 1_700_000_000_123,
        };
        let with = Record {
            data: Bytes::from_static(b"payload"),
            arrival_ms: 5,
            kinesis: Some(meta.clone()),
            refused: None,
        };
        let mut out = Vec::new();
        encode_record(&mut out, 1, RecordRef::from(&with));
        encode(&mut out, 2, 6, b"plain");
        assert_eq!(
            out.len(),
            record_len(RecordRef::from(&with)) + encoded_len(5)
        );
        let (parsed, end) = parse_all(&Bytes::from(out));
        assert_eq!(end, Parsed::Incomplete);
        assert_eq!(parsed[0].clone().into_record(), with);
        assert_eq!(
            (parsed[1].seq, &parsed[1].data[..], &parsed[1].kinesis),
            (2, &b"plain"[..], &None)
        );
    }

    #[test]
    fn a_refusal_round_trips_with_and_without_kinesis_metadata() {
        let refusal = Refusal {
            output_type: "decompression-failed".into(),
            code: "Decompression.Failed".into(),
            message: format!("not gzip data: {}", "é".repeat(3000)),
        };
        let kinesis = KinesisMeta {
            shard_id: "shardId-000000000001".into(),
            partition_key: "k".into(),
            sequence_number: "123".into(),
            sub_sequence_number: 0,
            arrival_ms: 9,
        };
        let mut out = Vec::new();
        let mut want = Vec::new();
        for (seq, meta) in [None, Some(kinesis)].into_iter().enumerate() {
            let record = Record {
                data: Bytes::from_static(b"\x1f\x8braw"),
                arrival_ms: 5,
                kinesis: meta,
                refused: Some(Box::new(refusal.clone())),
            };
            encode_record(&mut out, seq as u64, RecordRef::from(&record));
            want.push(record);
        }
        let sizes: usize = want.iter().map(|r| record_len(RecordRef::from(r))).sum();
        assert_eq!(out.len(), sizes);
        let (parsed, end) = parse_all(&Bytes::from(out));
        assert_eq!(end, Parsed::Incomplete);
        let got: Vec<Record> = parsed.into_iter().map(Frame::into_record).collect();
        assert_eq!(got[0].data, want[0].data);
        assert_eq!(got[1].kinesis, want[1].kinesis);
        for record in &got {
            let stored = record.refused.as_deref().unwrap();
            assert_eq!(stored.code, refusal.code);
            assert_eq!(stored.output_type, refusal.output_type);
            // The message is cut to 4 KiB on a character boundary.
            assert!(stored.message.len() <= MAX_MESSAGE && stored.message.len() > 4000);
            assert!(refusal.message.starts_with(&stored.message));
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

    #[test]
    fn lines_are_stored_as_long_as_their_frames() {
        let body = Bytes::from_static(b"one\n\ntwo\r\nthree");
        let records = Records::Lines(crate::records::Lines::split(body, 9).unwrap());
        let mut out = Vec::new();
        for (seq, r) in records.iter().enumerate() {
            encode_record(&mut out, seq as u64, r);
        }
        assert_eq!(records_len(&records), out.len() as u64);
    }
}
