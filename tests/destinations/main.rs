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
//!
//! The behaviours are written once, here, against [`Target`]; each destination
//! is an adapter in a file of its own that says how to configure it, take it
//! down and read back what landed, and runs the suite with [`suite!`]. A new
//! destination adds its file and one `mod` line.

#[path = "../common/mod.rs"]
mod common;
mod http;
mod iceberg;
mod local;
mod s3;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// The columns of the converting variants (Parquet objects, the table).
/// The columns records are converted with: `id` and `msg`.
fn columns() -> toml::Value {
    let columns =
        toml! { columns = [{ name = "id", type = "bigint" }, { name = "msg", type = "string" }] };
    columns["columns"].clone()
}

/// The error prefix every adapter's destination writes under.
const ERRORS: &str = "errors/!{firehose:error-output-type}/";

/// A destination under test: its config, what landed in it, what its error
/// output holds, and an outage on demand.
pub trait Target: Sized {
    fn new() -> Self;

    /// The stream's `destination` table: `retry` seconds of retry duration,
    /// errors under [`ERRORS`]; with `convert`, records converted with
    /// [`columns`] where the destination converts them itself (a table).
    fn destination(&self, retry: i64, convert: bool) -> Table;

    /// Whether the stream's `format` converts records for this destination
    /// (not for a table, which converts them itself).
    fn takes_format(&self) -> bool {
        true
    }

    /// Makes every write to the destination fail.
    fn down(&mut self);

    fn up(&mut self);

    /// The objects where the error output lands (and, for object stores, the
    /// data), by key.
    fn objects(&self) -> Vec<(String, Vec<u8>)>;

    /// The ids of the records delivered, once per delivery, sorted.
    fn delivered(&self) -> Vec<i64>;

    /// Whether what landed can be read yet (a table's catalog exists only
    /// after its first commit).
    fn readable(&self) -> bool {
        true
    }

    /// `delivery-failed`, or the destination's own type.
    fn failed_type(&self) -> &'static str {
        "delivery-failed"
    }

    /// Part of a batch fails and the rest is delivered: by default, records
    /// that do not convert.
    fn a_partly_failed_batch_delivers_the_rest() {
        records_that_do_not_convert_fail_alone::<Self>();
    }
}

/// Runs every behaviour of the suite against the adapter `$target`.
#[macro_export]
macro_rules! suite {
    ($target:ty) => {
        #[test]
        fn a_batch_sealed_before_a_kill_is_delivered_once() {
            $crate::a_batch_sealed_before_a_kill_is_delivered_once::<$target>()
        }
        #[test]
        fn refused_records_go_to_the_error_output() {
            $crate::refused_records_go_to_the_error_output::<$target>()
        }
        #[test]
        fn a_partly_failed_batch_delivers_the_rest() {
            <$target as $crate::Target>::a_partly_failed_batch_delivers_the_rest()
        }
        #[test]
        fn a_shutdown_delivers_what_is_buffered() {
            $crate::a_shutdown_delivers_what_is_buffered::<$target>()
        }
    };
}

/// The config of one stream `events` writing to `t`.
/// Buffers of `size_mb` sealed after `interval_seconds`.
fn config<T: Target>(
    t: &T,
    retry: i64,
    convert: bool,
    (size_mb, interval_seconds): (i64, i64),
) -> String {
    let mut stream = Stream::new("events")
        .buffering(size_mb, interval_seconds)
        .destination(t.destination(retry, convert));
    if convert && t.takes_format() {
        stream = stream
            .set("format.type", "parquet")
            .set("format.columns", columns());
    }
    Conf::new().stream(stream).text()
}

/// What the error output holds: (output type, error record), wherever the
/// destination writes it.
fn errors<T: Target>(t: &T) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (key, body) in t.objects() {
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

/// The ids of the records in data objects (JSON lines or Parquet), for the
/// destinations that write objects; `scratch` is a folder to read Parquet in.
fn ids_in_objects(objects: &[(String, Vec<u8>)], scratch: &std::path::Path) -> Vec<i64> {
    let mut ids = Vec::new();
    for (key, body) in objects.iter().filter(|(k, _)| !k.starts_with("errors/")) {
        if key.ends_with(".parquet") {
            let file = scratch.join("read.parquet");
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
    ids.sort_unstable();
    ids
}

/// The S3 settings of a destination on `s3`, as the identity Sluice uses.
fn s3_settings(s3: &Seaweed) -> Table {
    table([
        ("endpoint", s3.endpoint.clone().into()),
        ("region", "us-east-1".into()),
        ("access_key_id", S3_USER.0.into()),
        ("secret_access_key", S3_USER.1.into()),
    ])
}

/// The objects in `s3`'s test bucket, by key.
fn bucket_objects(s3: &Seaweed) -> Vec<(String, Vec<u8>)> {
    s3.objects(BUCKET)
        .into_iter()
        .map(|o| (o.key, o.body))
        .collect()
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("an id")
}

/// Waits until `n` records are delivered (60 s at most).
fn wait_delivered<T: Target>(t: &T, n: usize, d: &Daemon) -> Vec<i64> {
    wait_for(n, d, "records delivered", || {
        if t.readable() {
            t.delivered()
        } else {
            Vec::new()
        }
    })
}

/// Waits until the error output holds `n` records (60 s at most).
fn wait_errors<T: Target>(t: &T, n: usize, d: &Daemon) -> Vec<(String, Value)> {
    wait_for(n, d, "error records", || errors(t))
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
pub fn a_batch_sealed_before_a_kill_is_delivered_once<T: Target>() {
    let mut t = T::new();
    let config = config(&t, 300, false, (1, 1));
    t.down();
    let d = daemon(tempfile::tempdir().expect("tempdir"), &config);
    put_all(&d, &records(0..300));
    d.wait_for_log("delivery failed, will retry");
    let dir = d.into_dir(); // SIGKILL
    t.up();
    let mut d = daemon(dir, &config);
    let ids = wait_delivered(&t, 300, &d);
    // Whatever more it would write (a duplicate), the daemon writes before it exits.
    assert!(d.stop().success(), "{}", d.log());
    assert_eq!(t.delivered(), (0..300).collect::<Vec<_>>(), "{}", d.log());
    assert_eq!(ids.len(), 300);
    assert!(errors(&t).is_empty(), "{:?}", errors(&t));
}

/// Records the destination refuses for the whole retry duration become error
/// records with their raw data, each once, and are not delivered.
pub fn refused_records_go_to_the_error_output<T: Target>() {
    let mut t = T::new();
    let config = config(&t, 2, false, (1, 1));
    t.down();
    let mut d = daemon(tempfile::tempdir().expect("tempdir"), &config);
    let sent = records(0..120);
    put_all(&d, &sent);
    d.wait_for_log("sending the records to the error output");
    t.up();
    let found = wait_errors(&t, 120, &d);
    // Whatever more it would write (a duplicate), the daemon writes before it exits.
    assert!(d.stop().success(), "{}", d.log());
    let errors = if errors(&t).len() > found.len() {
        errors(&t)
    } else {
        found
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

/// Part of a batch does not convert: that part lands in the error output, the
/// rest is delivered, nothing twice.
pub fn records_that_do_not_convert_fail_alone<T: Target>() {
    let t = T::new();
    let config = config(&t, 60, true, (1, 900));
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
    let errors = errors(&t);
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

/// SIGTERM delivers the records still buffered before the daemon exits.
pub fn a_shutdown_delivers_what_is_buffered<T: Target>() {
    let t = T::new();
    let config = config(&t, 60, false, (64, 900));
    let mut d = daemon(tempfile::tempdir().expect("tempdir"), &config);
    put_all(&d, &records(0..250));
    assert!(d.stop().success(), "{}", d.log());
    assert_eq!(t.delivered(), (0..250).collect::<Vec<_>>());
    assert!(errors(&t).is_empty(), "{:?}", errors(&t));
}
