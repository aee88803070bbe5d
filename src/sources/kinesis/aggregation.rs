//! KPL de-aggregation: the Kinesis Producer Library packs many user records into one
//! Kinesis record as `magic | protobuf AggregatedRecord | md5(protobuf)`. Firehose
//! (and the KCL) unpack them; a record without the magic, or whose checksum or
//! protobuf does not hold, is a plain record, as the KCL treats it.

use md5::{Digest, Md5};
use prost::Message;

/// The KPL's magic prefix.
const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// `AggregatedRecord` of the KPL's `messages.proto`.
#[derive(Clone, PartialEq, Message)]
struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    records: Vec<UserRecord>,
}

/// `Record` of `messages.proto`.
#[derive(Clone, PartialEq, Message)]
struct UserRecord {
    #[prost(uint64, required, tag = "1")]
    partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    data: Vec<u8>,
}

/// One user record and its partition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    pub data: Vec<u8>,
    pub partition_key: String,
}

/// The user records in a Kinesis record's data: several for a KPL-aggregated
/// record, else the record itself.
pub fn unpack(data: &[u8], partition_key: &str) -> Vec<Unpacked> {
    let plain = || {
        vec![Unpacked {
            data: data.to_vec(),
            partition_key: partition_key.to_string(),
        }]
    };
    let Some(body) = data.strip_prefix(&MAGIC) else {
        return plain();
    };
    if body.len() < DIGEST_LEN {
        return plain();
    }
    let (message, digest) = body.split_at(body.len() - DIGEST_LEN);
    if Md5::digest(message).as_slice() != digest {
        return plain();
    }
    let Ok(aggregated) = AggregatedRecord::decode(message) else {
        return plain();
    };
    if aggregated.records.is_empty() {
        // An aggregate of nothing: passed on as it is, so no Kinesis record
        // vanishes without a trace (found by the property test below).
        return plain();
    }
    aggregated
        .records
        .into_iter()
        .map(|r| Unpacked {
            partition_key: usize::try_from(r.partition_key_index)
                .ok()
                .and_then(|i| aggregated.partition_key_table.get(i).cloned())
                .unwrap_or_else(|| partition_key.to_string()),
            data: r.data,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aggregate(records: &[(&str, &[u8])]) -> Vec<u8> {
        let keys: Vec<String> = records.iter().map(|(k, _)| k.to_string()).collect();
        let message = AggregatedRecord {
            partition_key_table: keys,
            explicit_hash_key_table: vec![],
            records: records
                .iter()
                .enumerate()
                .map(|(i, (_, d))| UserRecord {
                    partition_key_index: i as u64,
                    explicit_hash_key_index: None,
                    data: d.to_vec(),
                })
                .collect(),
        }
        .encode_to_vec();
        let mut out = MAGIC.to_vec();
        out.extend(&message);
        out.extend(Md5::digest(&message));
        out
    }

    proptest::proptest! {
        /// Whatever the records and keys, an aggregate unpacks into exactly them.
        #[test]
        fn any_aggregate_round_trips(
            records in proptest::collection::vec((".{0,8}", proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)), 1..20),
        ) {
            let borrowed: Vec<(&str, &[u8])> =
                records.iter().map(|(k, d)| (k.as_str(), d.as_slice())).collect();
            let got = unpack(&aggregate(&borrowed), "outer");
            let want: Vec<Unpacked> = records
                .iter()
                .map(|(k, d)| Unpacked { data: d.clone(), partition_key: k.clone() })
                .collect();
            proptest::prop_assert_eq!(got, want);
        }

        /// Any bytes behind the magic with a matching digest (so the protobuf
        /// parser sees them) unpack without a panic, into no more bytes than came
        /// in: lengths the bytes claim are never allocated up front.
        #[test]
        fn any_message_behind_the_magic_is_safe(
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let mut data = MAGIC.to_vec();
            data.extend(&message);
            data.extend(Md5::digest(&message));
            let out = unpack(&data, "k");
            proptest::prop_assert!(!out.is_empty());
            let total: usize = out.iter().map(|u| u.data.len()).sum();
            proptest::prop_assert!(total <= data.len());
        }
    }

    #[test]
    fn aggregated_records_are_unpacked_with_their_keys() {
        let data = aggregate(&[("a", b"one"), ("b", b"two")]);
        assert_eq!(
            unpack(&data, "outer"),
            vec![
                Unpacked {
                    data: b"one".to_vec(),
                    partition_key: "a".into()
                },
                Unpacked {
                    data: b"two".to_vec(),
                    partition_key: "b".into()
                },
            ]
        );
    }

    #[test]
    fn a_bad_checksum_or_no_magic_is_a_plain_record() {
        let mut data = aggregate(&[("a", b"one")]);
        let last = data.len() - 1;
        data[last] ^= 1;
        assert_eq!(unpack(&data, "k").len(), 1);
        assert_eq!(unpack(&data, "k")[0].data, data);
        assert_eq!(unpack(b"plain", "k")[0].data, b"plain");
    }
}
