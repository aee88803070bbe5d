//! The records a torture run puts, and how their ids are read back out of
//! whatever holds them: an object's bytes, a plugin's output lines, an error
//! record's `rawData`.

use std::io::Read;

use rand::Rng;
use rand::rngs::StdRng;

/// Every binary record starts with this, its id and its payload's length, so
/// records can be counted in objects that concatenate them with no delimiter.
const MAGIC: &[u8; 4] = b"\x00SLT";
const HEADER: usize = 12;
/// Firehose's record limit.
pub const MAX_RECORD: usize = 1_024_000;

/// A binary record: empty, short, long, exactly at the size limit, with
/// newlines, invalid UTF-8 and NUL bytes in its payload.
pub fn binary(rng: &mut StdRng, id: u32) -> Vec<u8> {
    let len = match rng.random_range(0..100) {
        0..=14 => 0,
        15..=79 => rng.random_range(1..300),
        80..=96 => rng.random_range(300..64 * 1024),
        97 => MAX_RECORD - HEADER,
        _ => rng.random_range(64 * 1024..200 * 1024),
    };
    let mut out = Vec::with_capacity(HEADER + len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    // Binary, newlines, invalid UTF-8 and the magic itself inside payloads.
    for _ in 0..len {
        out.push(match rng.random_range(0..10) {
            0 => b'\n',
            1 => 0xff,
            2 => 0,
            _ => rng.random(),
        });
    }
    out
}

fn pad(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let len = match rng.random_range(0..10) {
        0..=7 => rng.random_range(8..200),
        _ => rng.random_range(200..20_000),
    };
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Members with odd names and values that a JSON record may carry beside its
/// own: an empty name, spaces, dots, non-ASCII, escapes, a duplicate of `p`,
/// nested values.
const ODD_MEMBERS: &[&str] = &[
    r#""":1"#,
    r#""ü ñ":"x""#,
    r#""a.b":{"c":[1,2,{"d":null}]}"#,
    r#""$weird key\t":null"#,
    r#""p2":"\u0000\ud83d\ude00""#,
    r#""p":"second p""#,
    r#""PAD":[[],{}]"#,
];

/// A JSON record (for Parquet streams and JSON plugins), or (one in ten) a
/// binary one that does not convert; three in ten carry an odd member (or a
/// 300-character name) after their id. Byte 12 of a JSON record is a random
/// letter or digit, which is what the hostile plugin decides by.
pub fn json(rng: &mut StdRng, id: u32) -> Vec<u8> {
    if rng.random_bool(0.1) {
        return binary(rng, id);
    }
    let pad = pad(rng);
    let odd = match rng.random_range(0..10) {
        0..=6 => String::new(),
        7 => format!(",\"{}\":true", "k".repeat(300)),
        _ => format!(",{}", ODD_MEMBERS[rng.random_range(0..ODD_MEMBERS.len())]),
    };
    format!("{{\"p\":\"{pad}\",\"id\":{id}{odd}}}").into_bytes()
}

/// Values of the `k` field the partitioning plugin makes a key of: ordinary
/// ones, and ones no store takes as a key segment.
const KEY_VALUES: &[&str] = &["a", "b", "ok", "", ".", "..", "x/y", "ü", "ctl\u{1}"];

/// A JSON record with a field `k` for the partitioning plugin (an odd value one
/// time in three, 600 characters one in twenty, missing one in ten), or a binary one.
pub fn keyed_json(rng: &mut StdRng, id: u32) -> Vec<u8> {
    if rng.random_bool(0.1) {
        return binary(rng, id);
    }
    let k = match rng.random_range(0..20) {
        0 => "x".repeat(600),
        1..=2 => return json(rng, id),
        3..=8 => KEY_VALUES[rng.random_range(3..KEY_VALUES.len())].to_string(),
        _ => KEY_VALUES[rng.random_range(0..3)].to_string(),
    };
    let k = serde_json::to_string(&k).expect("a string");
    format!("{{\"k\":{k},\"p\":\"{}\",\"id\":{id}}}", pad(rng)).into_bytes()
}

/// A CloudWatch Logs subscription message, gzipped, as a log group sends it to
/// Firehose: a data message of 1 to 5 events, each event's message a JSON line
/// holding the record's id (so the id is delivered once per event), or one time
/// in ten a control message (dropped), or a binary record (not CloudWatch).
/// Returns the record and how many copies of its id a delivery holds.
pub fn cloudwatch(rng: &mut StdRng, id: u32) -> (Vec<u8>, usize) {
    let events = match rng.random_range(0..10) {
        0 => return (binary(rng, id), 1),
        1 => 0,
        _ => rng.random_range(1..=5),
    };
    let message = if events == 0 {
        serde_json::json!({
            "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
            "logGroup": "", "logStream": "", "subscriptionFilters": [],
            // The id is there so that a control message delivered by mistake is seen.
            "logEvents": [{ "id": "", "timestamp": 0,
                            "message": format!("{{\"id\":{id},\"control\":true}}") }],
        })
    } else {
        let log_events: Vec<_> = (0..events)
            .map(|e| {
                serde_json::json!({
                    "id": format!("{id}-{e}"), "timestamp": 1_700_000_000_000u64 + e as u64,
                    "message": format!("{{\"id\":{id},\"event\":{e},\"p\":\"{}\"}}", pad(rng)),
                })
            })
            .collect();
        serde_json::json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012",
            "logGroup": "/torture", "logStream": "s", "subscriptionFilters": ["f"],
            "logEvents": log_events,
        })
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, message.to_string().as_bytes()).expect("in memory");
    (gz.finish().expect("in memory"), events)
}

/// The ids of the binary records a byte string concatenates, in order.
fn binary_ids(bytes: &[u8], key: &str) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        assert!(
            bytes.len() >= at + HEADER && &bytes[at..at + 4] == MAGIC,
            "{key}: no record starts at byte {at}"
        );
        let id = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += HEADER + len;
        assert!(at <= bytes.len(), "{key}: record {id} cut short");
        ids.push(id);
    }
    ids
}

/// The `id` of each JSON value a byte string holds, whether on lines (a
/// plugin's output) or concatenated with nothing between them (raw records).
fn json_ids(bytes: &[u8], key: &str) -> Vec<u32> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<serde_json::Value>()
        .map(|v| {
            let v = v.unwrap_or_else(|e| panic!("{key}: not JSON: {e}"));
            let id = v["id"].as_u64();
            id.unwrap_or_else(|| panic!("{key}: no id in {v}")) as u32
        })
        .collect()
}

/// The ids of a gzipped CloudWatch Logs message's events (in an error record's
/// `rawData`: the message as it was put).
fn cloudwatch_ids(gz: &[u8], key: &str) -> Vec<u32> {
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut text)
        .unwrap_or_else(|e| panic!("{key}: not gzip: {e}"));
    let message: serde_json::Value =
        serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{key}: {e}"));
    let events = message["logEvents"].as_array().expect("logEvents");
    events
        .iter()
        .flat_map(|e| json_ids(e["message"].as_str().expect("a message").as_bytes(), key))
        .collect()
}

/// The ids a stretch of records holds: binary records, JSON values, or a
/// CloudWatch Logs message (each event's id).
pub fn ids(bytes: &[u8], key: &str) -> Vec<u32> {
    match bytes.first() {
        None => Vec::new(),
        Some(b'{') => json_ids(bytes, key),
        Some(0x1f) => cloudwatch_ids(bytes, key),
        Some(_) => binary_ids(bytes, key),
    }
}
