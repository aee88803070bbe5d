//! What a daemon wrote to a local folder: objects, delivered lines and error
//! records, read back and waited for.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

use super::*;

/// Every object under `root`, as (path relative to root, bytes), sorted by path.
/// Files still being written (`object_store` stages them as `<key>#<n>` and renames
/// them when complete) are not objects yet.
pub fn objects(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().contains('#') {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Waits until `root` holds at least `n` files, or panics with the daemon's log.
pub fn wait_for_objects(
    daemon: &Daemon,
    root: &Path,
    n: usize,
    timeout: Duration,
) -> Vec<(String, Vec<u8>)> {
    eventually(
        timeout,
        || {
            format!(
                "{n} objects under {}, found {}:\n{}",
                root.display(),
                objects(root).len(),
                daemon.log()
            )
        },
        || Some(objects(root)).filter(|found| found.len() >= n),
    )
}

/// The error records under `errors/<type>/`, parsed.
pub fn error_records(daemon: &Daemon, output_type: &str) -> Vec<serde_json::Value> {
    objects(&daemon.path("out"))
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("errors/{output_type}/")))
        .flat_map(|(_, body)| {
            String::from_utf8_lossy(body)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn raw(record: &serde_json::Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(record["rawData"].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// Waits until `n` error records of `output_type` are written.
pub fn wait_for_errors(daemon: &Daemon, output_type: &str, n: usize) -> Vec<serde_json::Value> {
    eventually(
        Duration::from_secs(60),
        || {
            let found = error_records(daemon, output_type).len();
            format!(
                "{n} {output_type} records, found {found}:\n{}",
                daemon.log()
            )
        },
        || Some(error_records(daemon, output_type)).filter(|found| found.len() >= n),
    )
}

/// The error records, keyed by the raw data they hold.
pub fn by_raw(records: &[serde_json::Value]) -> BTreeMap<String, serde_json::Value> {
    records.iter().map(|r| (raw(r), r.clone())).collect()
}

/// Every record delivered to the data prefix (not errors), by line, with counts.
pub fn delivered(root: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (key, body) in objects(root) {
        if key.starts_with("errors/") {
            continue;
        }
        for line in String::from_utf8_lossy(&body).split_inclusive('\n') {
            *out.entry(line.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// Waits until every one of `expected` is delivered, then checks that each was
/// delivered once and nothing else was.
pub fn assert_delivered_once(daemon: &Daemon, expected: &[String]) {
    assert_delivered_once_within(daemon, expected, Duration::from_secs(30));
}

/// As [`assert_delivered_once`], waiting up to `deadline`.
pub fn assert_delivered_once_within(daemon: &Daemon, expected: &[String], deadline: Duration) {
    let missing = |got: &BTreeMap<String, usize>| -> Vec<String> {
        expected
            .iter()
            .filter(|l| !got.contains_key(*l))
            .cloned()
            .collect()
    };
    let got = eventually(
        deadline,
        || {
            let missing = missing(&delivered(&daemon.path("out")));
            format!(
                "{} lines, {} missing, such as {:?}\n{}",
                expected.len(),
                missing.len(),
                &missing[..missing.len().min(5)],
                daemon.log()
            )
        },
        || Some(delivered(&daemon.path("out"))).filter(|got| missing(got).is_empty()),
    );
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} lines delivered more than once, such as {:?}",
        twice.len(),
        &twice[..twice.len().min(3)]
    );
    let expected: std::collections::BTreeSet<&String> = expected.iter().collect();
    let unexpected: Vec<_> = got.keys().filter(|l| !expected.contains(l)).collect();
    assert!(
        unexpected.is_empty(),
        "not written to the files: {unexpected:?}"
    );
}
