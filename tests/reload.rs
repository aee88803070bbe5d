//! Reloading the configuration on SIGHUP under a steady load: a stream added, one
//! removed, one whose destination changes and one whose processors change, then a
//! broken file. Every acknowledged record is delivered exactly once, the changed
//! streams' new objects carry version 2 (remembered across a restart), and the
//! broken file is refused with `sluice check`'s message while the daemon runs on.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;

/// Stream `name` into `{dir}/out/<path>`, sealing each second.
fn stream(name: &str, path: &str) -> Stream {
    Stream::new(name)
        .buffering(1, 1)
        .set("destination.path", format!("{{dir}}/out/{path}"))
}

fn config(streams: impl IntoIterator<Item = Stream>) -> String {
    streams.into_iter().fold(Conf::new(), Conf::stream).text()
}

/// Before: keep, moved (to `moved-a`), shaped (no processors), gone.
fn before() -> String {
    config([
        stream("keep", "keep"),
        stream("moved", "moved-a"),
        stream("shaped", "shaped"),
        stream("gone", "gone"),
    ])
}

/// After: keep as it was, moved to `moved-b`, shaped with a delimiter after each
/// record, gone removed, new added.
fn after() -> String {
    config(after_streams())
}

fn after_streams() -> [Stream; 4] {
    [
        stream("keep", "keep"),
        stream("moved", "moved-b"),
        stream("shaped", "shaped").processor(toml! { type = "append_delimiter" }),
        stream("new", "new"),
    ]
}

/// [`after`] with a buffer size out of range: a file `sluice check` refuses.
fn broken() -> String {
    let [keep, moved, shaped, new] = after_streams();
    config([keep.set("buffering.size_mb", 999), moved, shaped, new])
}

/// What one producer saw: records acknowledged, and records whose fate it could
/// not learn (the connection broke before the answer).
#[derive(Default)]
struct Outcome {
    acked: BTreeSet<String>,
    unknown: BTreeSet<String>,
}

/// Puts batches of 20 JSON records (no newline: `shaped` tells its delimiter
/// apart; keys in the order serde_json writes them back) to `stream` until
/// `stop`, keeping what each answer acknowledged.
fn producer(
    addr: std::net::SocketAddr,
    stream: &'static str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Outcome> {
    std::thread::spawn(move || {
        let mut outcome = Outcome::default();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let records: Vec<String> = (n..n + 20)
                .map(|i| format!("{{\"i\":{i},\"s\":\"{stream}\"}}"))
                .collect();
            n += 20;
            match try_firehose(addr, "PutRecordBatch", &batch_body(stream, &records)) {
                Ok(reply) if reply.status == 200 => {
                    let answers = reply.json()["RequestResponses"].clone();
                    for (record, answer) in records.into_iter().zip(answers.as_array().unwrap()) {
                        if answer.get("RecordId").is_some() {
                            outcome.acked.insert(record);
                        }
                    }
                }
                // Refused as a whole (the stream not there yet, or restarting).
                Ok(_) => {}
                Err(_) => outcome.unknown.extend(records),
            }
            // A steady load, not a flood: the load's shape.
            std::thread::sleep(Duration::from_millis(15));
        }
        outcome
    })
}

/// The records in each object under `root`, by object file name.
fn records_by_object(root: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    objects(root)
        .into_iter()
        .map(|(path, body)| {
            let name = path.rsplit('/').next().unwrap_or(&path).to_string();
            let records = serde_json::Deserializer::from_slice(&body)
                .into_iter::<serde_json::Value>()
                .map(|v| v.expect("JSON records").to_string())
                .collect();
            (name, records)
        })
        .collect()
}

/// Checks that `outcome`'s acknowledged records are each among `delivered` once,
/// and that nothing else but records of unknown fate was delivered.
fn assert_exactly_once(stream: &str, outcome: &Outcome, delivered: &[String]) {
    let mut seen = BTreeMap::new();
    for record in delivered {
        *seen.entry(record.as_str()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{stream}: delivered twice: {twice:?}");
    let missing: Vec<_> = outcome
        .acked
        .iter()
        .filter(|r| !seen.contains_key(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{stream}: {} acknowledged records not delivered, such as {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    let stray: Vec<_> = seen
        .keys()
        .filter(|r| !outcome.acked.contains(**r) && !outcome.unknown.contains(**r))
        .collect();
    assert!(stray.is_empty(), "{stream}: never acknowledged: {stray:?}");
    assert!(
        outcome.acked.len() > 100,
        "{stream}: only {} records acknowledged",
        outcome.acked.len()
    );
}

#[test]
fn a_reload_under_load_adds_removes_and_changes_streams_losing_nothing() {
    let mut daemon = Daemon::start(&before());
    let config_path = daemon.path("sluice.toml");
    let (dir, listen) = (
        daemon.dir.path().display().to_string(),
        daemon.addr.to_string(),
    );
    let write = |text: String| {
        std::fs::write(
            &config_path,
            text.replace("{listen}", &listen).replace("{dir}", &dir),
        )
        .unwrap()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let names = ["keep", "moved", "shaped", "gone", "new"];
    let producers: Vec<_> = names
        .iter()
        .map(|s| producer(daemon.addr, s, stop.clone()))
        .collect();
    // Each phase lasts until every stream it is about has taken 200 more records
    // and written an object of the version it is at.
    let incoming = |stream: &str| {
        let sample = format!("sluice_incoming_records_total{{stream=\"{stream}\"}}");
        metric(&daemon, &sample).unwrap_or(0.0)
    };
    let written = |path: &str, version: &str| {
        objects(&daemon.path(&format!("out/{path}")))
            .iter()
            .any(|(key, _)| key.contains(&format!("-{version}-")))
    };
    let phase = |what: &str, streams: &[(&str, &str, &str)]| {
        let from: Vec<f64> = streams.iter().map(|(s, _, _)| incoming(s)).collect();
        eventually(
            Duration::from_secs(60),
            || format!("{what}:\n{}", daemon.log()),
            || {
                streams
                    .iter()
                    .zip(&from)
                    .all(|((s, path, version), from)| {
                        incoming(s) >= from + 200.0 && written(path, version)
                    })
                    .then_some(())
            },
        );
    };
    let all_four = [
        ("keep", "keep", "1"),
        ("moved", "moved-a", "1"),
        ("shaped", "shaped", "1"),
        ("gone", "gone", "1"),
    ];
    phase("the first streams running", &all_four);

    write(after());
    signal(daemon.pid(), "HUP");
    daemon.wait_for_log("configuration reloaded");
    let reloaded = [
        ("keep", "keep", "1"),
        ("moved", "moved-b", "2"),
        ("shaped", "shaped", "2"),
        ("new", "new", "1"),
    ];
    phase("the reloaded streams running", &reloaded);

    // A broken file: refused with the message `sluice check` gives, and the
    // streams run on as they were.
    write(broken());
    signal(daemon.pid(), "HUP");
    daemon.wait_for_log("configuration reload refused");
    phase("the streams running on after the refusal", &reloaded);
    stop.store(true, Ordering::Relaxed);
    let outcomes: BTreeMap<&str, Outcome> = names
        .iter()
        .copied()
        .zip(producers.into_iter().map(|p| p.join().unwrap()))
        .collect();
    assert!(daemon.stop().success());
    for (stream, outcome) in &outcomes {
        eprintln!(
            "{stream}: {} records acknowledged, {} of unknown fate",
            outcome.acked.len(),
            outcome.unknown.len()
        );
    }
    let log = daemon.log();
    assert!(
        log.contains("delivery_streams[0].buffering.size_mb")
            && log.contains("999 is out of range"),
        "{log}"
    );
    assert!(
        log.contains("delivery stream removed: all its records were delivered")
            && log.contains("stream=gone"),
        "{log}"
    );
    assert!(log.contains("added=1 removed=1 changed=2"), "{log}");

    let out = daemon.path("out");
    let by_object = |sub: &str| records_by_object(&out.join(sub));
    let all = |objects: &BTreeMap<String, Vec<String>>| -> Vec<String> {
        objects.values().flatten().cloned().collect()
    };
    let versions = |objects: &BTreeMap<String, Vec<String>>, stream: &str| -> BTreeSet<String> {
        objects
            .keys()
            .map(|k| {
                k.strip_prefix(&format!("{stream}-"))
                    .and_then(|rest| rest.split('-').next())
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    };

    let keep = by_object("keep");
    assert_exactly_once("keep", &outcomes["keep"], &all(&keep));
    assert_eq!(versions(&keep, "keep"), BTreeSet::from(["1".to_string()]));

    let (moved_a, moved_b) = (by_object("moved-a"), by_object("moved-b"));
    let mut moved = all(&moved_a);
    moved.extend(all(&moved_b));
    assert_exactly_once("moved", &outcomes["moved"], &moved);
    assert_eq!(
        versions(&moved_a, "moved"),
        BTreeSet::from(["1".to_string()])
    );
    assert_eq!(
        versions(&moved_b, "moved"),
        BTreeSet::from(["2".to_string()])
    );

    // Objects of version 2 have the delimiter after each record, version 1 none.
    let shaped_raw = objects(&out.join("shaped"));
    let shaped = by_object("shaped");
    assert_exactly_once("shaped", &outcomes["shaped"], &all(&shaped));
    assert_eq!(
        versions(&shaped, "shaped"),
        BTreeSet::from(["1".to_string(), "2".to_string()])
    );
    for (path, body) in &shaped_raw {
        let newlines = body.iter().filter(|b| **b == b'\n').count();
        let records =
            records_by_object(&out.join("shaped"))[path.rsplit('/').next().unwrap()].len();
        if path.contains("/shaped-2-") {
            assert_eq!(newlines, records, "{path}");
        } else {
            assert_eq!(newlines, 0, "{path}");
        }
    }

    let gone = by_object("gone");
    assert_exactly_once("gone", &outcomes["gone"], &all(&gone));
    let new = by_object("new");
    assert_exactly_once("new", &outcomes["new"], &all(&new));
    assert_eq!(versions(&new, "new"), BTreeSet::from(["1".to_string()]));

    // A restart on the same file keeps version 2: the change was counted once.
    let dir = daemon.into_dir();
    let mut daemon = Daemon::start_in(dir, &after());
    let described = firehose(
        daemon.addr,
        "DescribeDeliveryStream",
        r#"{"DeliveryStreamName":"moved"}"#,
    );
    assert_eq!(
        described.json()["DeliveryStreamDescription"]["VersionId"],
        "2"
    );
    assert!(put_batch(
        daemon.addr,
        "moved",
        &["{\"after\":\"restart\"}".to_string()]
    ));
    assert!(daemon.stop().success());
    let restarted = records_by_object(&daemon.path("out/moved-b"));
    let holder = restarted
        .iter()
        .find(|(_, records)| records.contains(&"{\"after\":\"restart\"}".to_string()))
        .map(|(name, _)| name.clone())
        .expect("the record put after the restart");
    assert!(holder.starts_with("moved-2-"), "{holder}");
}
