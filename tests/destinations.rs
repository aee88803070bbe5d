//! One behavioural suite, run against every destination (a local folder, S3 on
//! SeaweedFS, an HTTP endpoint, an Iceberg table with its warehouse on
//! SeaweedFS): what the delivery loop promises whatever the destination does
//! with a batch.
//! - a batch sealed before a kill -9 is delivered once after the restart;
//! - records refused for the whole retry duration land in the error output,
//!   with their raw data, and nowhere else;
//! - a batch part of which fails is delivered but for that part, which lands
//!   in the error output;
//! - a shutdown delivers what is buffered.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::receiver::{Receiver, Reply};
use common::*;
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Local,
    S3,
    Http,
    Iceberg,
}

/// The columns of the converting variants (Parquet objects, the table).
const COLUMNS: &str = r#"[ { name = "id", type = "bigint" }, { name = "msg", type = "string" } ]"#;

/// A destination under test: its config, what landed in it, what its error
/// output holds, and an outage on demand.
struct Target {
    kind: Kind,
    root: tempfile::TempDir,
    seaweed: Option<Seaweed>,
    receiver: Option<Receiver>,
}

impl Target {
    fn new(kind: Kind) -> Self {
        Self::scripted(kind, &[])
    }

    /// An HTTP endpoint answers the first requests as `script` says.
    fn scripted(kind: Kind, script: &[Reply]) -> Self {
        Self {
            kind,
            root: tempfile::tempdir().expect("tempdir"),
            seaweed: matches!(kind, Kind::S3 | Kind::Iceberg).then(Seaweed::start),
            receiver: (kind == Kind::Http).then(|| Receiver::start(script)),
        }
    }

    fn s3_settings(&self) -> String {
        let s3 = self.seaweed.as_ref().expect("seaweed");
        format!(
            "endpoint = \"{}\", region = \"us-east-1\", access_key_id = \"{}\", secret_access_key = \"{}\"",
            s3.endpoint, S3_USER.0, S3_USER.1
        )
    }

    /// The config of one stream `events`: `retry` seconds of retry duration,
    /// records converted with [`COLUMNS`] when `convert` (the HTTP endpoint
    /// does not convert).
    fn config(&self, retry: u64, convert: bool, buffering: &str) -> String {
        let errors = "error_output_prefix = \"errors/!{firehose:error-output-type}/\"";
        let local = self.root.path().join("out").display().to_string();
        let format = if convert && self.kind != Kind::Iceberg {
            format!("format = {{ type = \"parquet\", columns = {COLUMNS} }}\n")
        } else {
            String::new()
        };
        let destination = match self.kind {
            Kind::Local => format!(
                "{{ type = \"local\", path = \"{local}\", retry_duration_seconds = {retry}, {errors} }}"
            ),
            Kind::S3 => format!(
                "{{ type = \"s3\", bucket = \"{BUCKET}\", {}, retry_duration_seconds = {retry}, {errors} }}",
                self.s3_settings()
            ),
            Kind::Http => format!(
                "{{ type = \"http\", url = \"{}\", retry_duration_seconds = {retry}, \
                 error_destination = {{ type = \"local\", path = \"{local}\", {errors} }} }}",
                self.receiver.as_ref().expect("receiver").url()
            ),
            Kind::Iceberg => format!(
                "{{ type = \"iceberg\", catalog = {{ type = \"sql\", uri = \"sqlite://{}/catalog.db\", name = \"lake\" }}, \
                 warehouse = \"s3://{BUCKET}/warehouse\", {}, namespace = \"logs\", table = \"events\", \
                 create_table = {{ columns = {COLUMNS} }}, retry_duration_seconds = {retry}, {errors} }}",
                self.root.path().display(),
                self.s3_settings()
            ),
        };
        format!(
            "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"events\"\n\
             buffering = {{ {buffering} }}\n{format}destination = {destination}\n"
        )
    }

    /// Makes every write to the destination fail.
    fn down(&mut self) {
        match self.kind {
            // A file where the folder was: every write fails.
            Kind::Local => {
                let out = self.root.path().join("out");
                std::fs::create_dir_all(&out).expect("out");
                std::fs::rename(&out, self.root.path().join("away")).expect("move out away");
                std::fs::write(&out, b"not a folder").expect("file in its place");
            }
            Kind::S3 | Kind::Iceberg => self.seaweed.as_mut().expect("seaweed").kill(),
            Kind::Http => self
                .receiver
                .as_ref()
                .expect("receiver")
                .set_mode(Reply::Status(500)),
        }
    }

    fn up(&mut self) {
        match self.kind {
            Kind::Local => {
                let out = self.root.path().join("out");
                std::fs::remove_file(&out).expect("remove the file");
                std::fs::rename(self.root.path().join("away"), &out).expect("move out back");
            }
            Kind::S3 | Kind::Iceberg => self.seaweed.as_mut().expect("seaweed").run(),
            Kind::Http => self
                .receiver
                .as_ref()
                .expect("receiver")
                .set_mode(Reply::Ok),
        }
    }

    /// The objects in the folder (local, and the HTTP endpoint's error
    /// destination) or the bucket (S3, and the Iceberg warehouse's).
    fn objects(&self) -> Vec<(String, Vec<u8>)> {
        match self.kind {
            Kind::Local | Kind::Http => objects(&self.root.path().join("out")),
            Kind::S3 | Kind::Iceberg => self
                .seaweed
                .as_ref()
                .expect("seaweed")
                .objects(BUCKET)
                .into_iter()
                .map(|o| (o.key, o.body))
                .collect(),
        }
    }

    /// What the error output holds: (output type, error record), wherever the
    /// destination writes it.
    fn errors(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (key, body) in self.objects() {
            let Some(rest) = key.strip_prefix("errors/") else {
                continue;
            };
            let kind = rest.split('/').next().unwrap_or_default().to_string();
            for line in String::from_utf8_lossy(&body).lines() {
                out.push((
                    kind.clone(),
                    serde_json::from_str(line).expect("error record"),
                ));
            }
        }
        out
    }

    /// The ids of the records delivered, once per delivery (an HTTP endpoint:
    /// once per request id, whose re-sends must carry the same records).
    fn delivered(&self) -> Vec<i64> {
        let id = |v: &Value| v["id"].as_i64().expect("an id");
        let mut ids: Vec<i64> = match self.kind {
            Kind::Local | Kind::S3 => {
                let objects = self.objects();
                let mut ids = Vec::new();
                for (key, body) in objects.iter().filter(|(k, _)| !k.starts_with("errors/")) {
                    if key.ends_with(".parquet") {
                        let file = self.root.path().join("read.parquet");
                        std::fs::write(&file, body).expect("write the object");
                        let read = py_json("read_parquet.py", &[file.to_str().expect("path")]);
                        ids.extend(
                            read["pyarrow"]["rows"]
                                .as_array()
                                .expect("rows")
                                .iter()
                                .map(id),
                        );
                    } else {
                        ids.extend(
                            String::from_utf8_lossy(body)
                                .lines()
                                .map(|l| id(&serde_json::from_str(l).expect("JSON record"))),
                        );
                    }
                }
                ids
            }
            Kind::Http => {
                let mut requests: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
                for seen in self.receiver.as_ref().expect("receiver").seen() {
                    if !seen.accepted {
                        continue;
                    }
                    if let Some(before) = requests.get(&seen.request_id) {
                        assert_eq!(
                            before, &seen.records,
                            "request {} re-sent with other records",
                            seen.request_id
                        );
                    }
                    requests.insert(seen.request_id, seen.records);
                }
                requests
                    .values()
                    .flatten()
                    .map(|r| id(&serde_json::from_slice(r).expect("JSON record")))
                    .collect()
            }
            Kind::Iceberg => {
                let s3 = self.seaweed.as_ref().expect("seaweed");
                let db = self.root.path().join("catalog.db");
                let warehouse = format!("s3://{BUCKET}/warehouse");
                let table = py_json(
                    "read_iceberg.py",
                    &[
                        db.to_str().expect("path"),
                        "lake",
                        &warehouse,
                        "logs.events",
                        &s3.endpoint,
                        S3_ADMIN.0,
                        S3_ADMIN.1,
                        "--missing-ok",
                    ],
                );
                table["rows"]
                    .as_array()
                    .expect("rows")
                    .iter()
                    .map(id)
                    .collect()
            }
        };
        ids.sort_unstable();
        ids
    }

    /// Waits until `n` records are delivered (60 s at most).
    fn wait_delivered(&self, n: usize, d: &Daemon) -> Vec<i64> {
        // The catalog exists only after the first delivery.
        let iceberg_empty =
            || self.kind == Kind::Iceberg && !self.root.path().join("catalog.db").exists();
        wait_for(n, d, "records delivered", || {
            if iceberg_empty() {
                Vec::new()
            } else {
                self.delivered()
            }
        })
    }

    /// Waits until the error output holds `n` records (60 s at most).
    fn wait_errors(&self, n: usize, d: &Daemon) -> Vec<(String, Value)> {
        wait_for(n, d, "error records", || self.errors())
    }

    /// `delivery-failed`, or the HTTP endpoint's own type.
    fn failed_type(&self) -> &'static str {
        match self.kind {
            Kind::Http => "http-endpoint-failed",
            _ => "delivery-failed",
        }
    }
}

/// Polls `found` until it holds `n` items, for 60 s at most.
fn wait_for<T>(n: usize, d: &Daemon, what: &str, found: impl Fn() -> Vec<T>) -> Vec<T> {
    eventually(
        Duration::from_secs(60),
        || format!("{n} {what}, found {}:\n{}", found().len(), d.log()),
        || Some(found()).filter(|items| items.len() >= n),
    )
}

fn record(id: i64) -> String {
    format!("{}\n", json!({ "id": id, "msg": format!("record {id}") }))
}

fn records(ids: std::ops::Range<i64>) -> Vec<String> {
    ids.map(record).collect()
}

fn put_all(d: &Daemon, records: &[String]) {
    for chunk in records.chunks(500) {
        assert!(put_batch(d.addr, "events", chunk), "{}", d.log());
    }
}

fn daemon(dir: tempfile::TempDir, config: &str) -> Daemon {
    Daemon::start_in(dir, config)
}

/// A batch sealed and failing when the daemon is killed is rebuilt from the
/// spool after the restart and delivered once.
fn a_batch_sealed_before_a_kill_is_delivered_once(kind: Kind) {
    let mut t = Target::new(kind);
    let config = t.config(300, false, "size_mb = 1, interval_seconds = 1");
    t.down();
    let d = daemon(tempfile::tempdir().expect("tempdir"), &config);
    put_all(&d, &records(0..300));
    d.wait_for_log("delivery failed, will retry");
    let dir = d.into_dir(); // SIGKILL
    t.up();
    let mut d = daemon(dir, &config);
    let ids = t.wait_delivered(300, &d);
    // Whatever more it would write (a duplicate), the daemon writes before it exits.
    assert!(d.stop().success(), "{}", d.log());
    assert_eq!(t.delivered(), (0..300).collect::<Vec<_>>(), "{}", d.log());
    assert_eq!(ids.len(), 300);
    assert!(t.errors().is_empty(), "{:?}", t.errors());
}

/// Records the destination refuses for the whole retry duration become error
/// records with their raw data, each once, and are not delivered.
fn refused_records_go_to_the_error_output(kind: Kind) {
    let mut t = Target::new(kind);
    let config = t.config(2, false, "size_mb = 1, interval_seconds = 1");
    t.down();
    let mut d = daemon(tempfile::tempdir().expect("tempdir"), &config);
    let sent = records(0..120);
    put_all(&d, &sent);
    d.wait_for_log("sending the records to the error output");
    t.up();
    let errors = t.wait_errors(120, &d);
    // Whatever more it would write (a duplicate), the daemon writes before it exits.
    assert!(d.stop().success(), "{}", d.log());
    let errors = if t.errors().len() > errors.len() {
        t.errors()
    } else {
        errors
    };
    assert_eq!(errors.len(), 120, "{errors:?}");
    assert!(
        errors.iter().all(|(k, _)| k == t.failed_type()),
        "{errors:?}"
    );
    let mut raws: Vec<String> = errors.iter().map(|(_, e)| raw(e)).collect();
    raws.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(raws, expected);
    assert!(
        errors
            .iter()
            .all(|(_, e)| e["errorCode"].as_str().is_some_and(|c| !c.is_empty()))
    );
    assert!(t.delivered().is_empty(), "{:?}", t.delivered());
}

/// Part of a batch fails (records that do not convert; for an HTTP endpoint,
/// a request it refuses for good): that part lands in the error output, the
/// rest is delivered, nothing twice.
fn a_partly_failed_batch_delivers_the_rest(kind: Kind) {
    if kind == Kind::Http {
        return a_request_refused_for_good_fails_alone();
    }
    let t = Target::new(kind);
    let config = t.config(60, true, "size_mb = 1, interval_seconds = 900");
    let mut sent = records(0..200);
    let failing = vec![
        "{\"id\": \"not a number\", \"msg\": \"x\"}\n".to_string(),
        "not json\n".to_string(),
    ];
    sent.splice(100..100, failing.clone());
    let mut d = daemon(tempfile::tempdir().expect("tempdir"), &config);
    put_all(&d, &sent);
    assert!(d.stop().success(), "{}", d.log());
    assert_eq!(t.delivered(), (0..200).collect::<Vec<_>>());
    let errors = t.errors();
    assert!(
        errors.iter().all(|(k, _)| k == "format-conversion-failed"),
        "{errors:?}"
    );
    let mut raws: Vec<String> = errors.iter().map(|(_, e)| raw(e)).collect();
    raws.sort();
    let mut expected = failing;
    expected.sort();
    assert_eq!(raws, expected);
}

/// 10,050 records make two requests of a batch; the endpoint refuses the first
/// with 413, which no retry can fix: its records fail, the other request's
/// are delivered.
fn a_request_refused_for_good_fails_alone() {
    let t = Target::scripted(Kind::Http, &[Reply::Status(413)]);
    let config = t.config(60, false, "size_mb = 4, interval_seconds = 3");
    let mut d = daemon(tempfile::tempdir().expect("tempdir"), &config);
    let sent = records(0..10_050);
    put_all(&d, &sent);
    let errors = t.wait_errors(1, &d);
    assert!(d.stop().success(), "{}", d.log());
    let errors = if t.errors().len() > errors.len() {
        t.errors()
    } else {
        errors
    };
    let seen = t.receiver.as_ref().expect("receiver").seen();
    let refused: Vec<i64> = seen
        .iter()
        .filter(|s| !s.accepted)
        .flat_map(|s| s.records.iter())
        .map(|r| {
            serde_json::from_slice::<Value>(r).expect("JSON")["id"]
                .as_i64()
                .expect("id")
        })
        .collect();
    assert!(!refused.is_empty());
    assert!(
        errors.iter().all(|(k, _)| k == "http-endpoint-failed"),
        "{errors:?}"
    );
    let mut failed: Vec<i64> = errors
        .iter()
        .map(|(_, e)| {
            serde_json::from_str::<Value>(&raw(e)).expect("JSON")["id"]
                .as_i64()
                .expect("id")
        })
        .collect();
    failed.sort_unstable();
    let mut refused = refused;
    refused.sort_unstable();
    assert_eq!(failed, refused, "the refused request's records, each once");
    let delivered = t.delivered();
    assert!(!delivered.is_empty());
    let mut all = delivered.clone();
    all.extend(&failed);
    all.sort_unstable();
    assert_eq!(
        all,
        (0..10_050).collect::<Vec<_>>(),
        "every record once, delivered or failed"
    );
}

/// SIGTERM delivers the records still buffered before the daemon exits.
fn a_shutdown_delivers_what_is_buffered(kind: Kind) {
    let t = Target::new(kind);
    let config = t.config(60, false, "size_mb = 64, interval_seconds = 900");
    let mut d = daemon(tempfile::tempdir().expect("tempdir"), &config);
    put_all(&d, &records(0..250));
    assert!(d.stop().success(), "{}", d.log());
    assert_eq!(t.delivered(), (0..250).collect::<Vec<_>>());
    assert!(t.errors().is_empty(), "{:?}", t.errors());
}

macro_rules! for_every_destination {
    ($($behaviour:ident),* $(,)?) => {$(
        mod $behaviour {
            use super::Kind;
            #[test]
            fn local() {
                super::$behaviour(Kind::Local)
            }
            #[test]
            fn s3() {
                super::$behaviour(Kind::S3)
            }
            #[test]
            fn http() {
                super::$behaviour(Kind::Http)
            }
            #[test]
            fn iceberg() {
                super::$behaviour(Kind::Iceberg)
            }
        }
    )*};
}

for_every_destination!(
    a_batch_sealed_before_a_kill_is_delivered_once,
    refused_records_go_to_the_error_output,
    a_partly_failed_batch_delivers_the_rest,
    a_shutdown_delivers_what_is_buffered,
);
