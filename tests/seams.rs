//! Regression tests for the seams between capabilities (the seams issue): each test
//! names the case it guards, reproduces it through the real daemon against real
//! servers, and checks that every acknowledged record ends up exactly once in the
//! destination or in the error output.

mod common;

use std::io::Read;
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::Value;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The error records in the objects under `prefix`, parsed.
fn error_records(objects: &[(String, Vec<u8>)], prefix: &str) -> Vec<Value> {
    objects
        .iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .flat_map(|(_, body)| {
            String::from_utf8_lossy(body)
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("an error record is JSON"))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn raw_data(record: &Value) -> String {
    let raw = B64
        .decode(record["rawData"].as_str().expect("rawData"))
        .expect("base64");
    String::from_utf8(raw).expect("utf-8")
}

/// Case 2: `prefix = "logs//raw/"` passed `sluice check` and then wedged the
/// stream (every write refused, SIGTERM hung). It is refused at check time now,
/// naming the key, and so are the other prefixes no store can take.
#[test]
fn prefixes_that_make_unwritable_keys_are_refused_by_check() {
    for (prefix, error_prefix, key, why) in [
        ("logs//raw/", "", "destination.prefix", "empty path segment"),
        ("/logs/", "", "destination.prefix", "starts with `/`"),
        ("logs/./raw/", "", "destination.prefix", "`.` path segment"),
        ("a/../b/", "", "destination.prefix", "`..` path segment"),
        (
            "ok/",
            "errors//!{firehose:error-output-type}/",
            "destination.error_output_prefix",
            "empty path segment",
        ),
        (
            "x=!{timestamp:yyyy}/",
            "e/!{firehose:error-output-type}/!{timestamp:'/'yyyy}/",
            "destination.error_output_prefix",
            "empty path segment",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[[delivery_streams]]\nname = \"s\"\ndestination = {{ type = \"local\", path = \"out\", \
                 prefix = \"{prefix}\", error_output_prefix = \"{error_prefix}\" }}\n"
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["check", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{prefix:?}: {stderr}");
        assert!(
            stderr.contains(&format!("delivery_streams[0].{key}")) && stderr.contains(why),
            "{prefix:?} / {error_prefix:?}: {stderr}"
        );
    }
}

/// Case 5: a Parquet batch that ran out of retries sent its unconvertible records
/// to the error output twice (as `format-conversion-failed` and again as
/// `delivery-failed`). With the store down and no retries, each record must land
/// exactly once: bad ones as conversion failures, good ones as delivery failures.
#[test]
fn a_parquet_batch_that_fails_delivery_sends_each_record_to_the_error_output_once() {
    let mut s3 = Seaweed::start();
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"p\"\n\
         buffering = {{ size_mb = 64, interval_seconds = 1 }}\n\
         destination = {{ type = \"s3\", bucket = \"{BUCKET}\", endpoint = \"{}\", \
         access_key_id = \"{}\", secret_access_key = \"{}\", retry_duration_seconds = 0, \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\" }}\n\
         [delivery_streams.format]\ntype = \"parquet\"\n\
         columns = [{{ name = \"n\", type = \"int\" }}]\n",
        s3.endpoint, S3_USER.0, S3_USER.1
    );
    let mut d = Daemon::start(&config);
    s3.kill();
    let records: Vec<String> = (0..40)
        .map(|i| {
            if i % 4 == 0 {
                format!("not json {i}\n")
            } else {
                format!("{{\"n\":{i}}}\n")
            }
        })
        .collect();
    assert!(put_batch(d.addr, "p", &records), "{}", d.log());
    d.wait_for_log("delivery failed for the whole retry duration");
    s3.run();
    s3.wait_for(BUCKET, "errors/delivery-failed/", 1, &d);
    s3.wait_for(BUCKET, "errors/format-conversion-failed/", 1, &d);
    assert!(d.stop().success(), "{}", d.log());
    let objects: Vec<(String, Vec<u8>)> = s3
        .objects(BUCKET)
        .into_iter()
        .map(|o| (o.key, o.body))
        .collect();
    assert!(
        objects.iter().all(|(k, _)| k.starts_with("errors/")),
        "no data object was written: {:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let mut conversion: Vec<String> = error_records(&objects, "errors/format-conversion-failed/")
        .iter()
        .map(raw_data)
        .collect();
    let mut delivery: Vec<String> = error_records(&objects, "errors/delivery-failed/")
        .iter()
        .map(raw_data)
        .collect();
    conversion.sort();
    delivery.sort();
    let (mut bad, mut good): (Vec<String>, Vec<String>) =
        records.iter().cloned().partition(|r| r.starts_with("not"));
    bad.sort();
    good.sort();
    assert_eq!(
        conversion, bad,
        "format-conversion-failed holds the bad records once"
    );
    assert_eq!(
        delivery, good,
        "delivery-failed holds the good records once"
    );
}

/// Case 3: partition key values that make no valid key (empty mid-prefix, `.`,
/// `..`, control characters, a segment over 255 bytes, a prefix over 512
/// characters) were retried for a day or written with no prefix. Through a real
/// plugin (py-partition, keys from a JSON field) they now go to the error output
/// at once with their raw data, the rest land under their partitions, and the
/// daemon stops promptly.
#[test]
fn hostile_partition_values_go_to_the_error_output_and_the_rest_land() {
    let module = plugins().join("py-partition.wasm");
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"t\"\n\
         processors = [{{ type = \"wasm\", module = \"{}\", params = {{ fields = \"c\" }} }}]\n\
         buffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\", retry_duration_seconds = 86400, \
         prefix = \"!{{partitionKeyFromLambda:c}}/\", \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\" }}\n",
        module.display()
    );
    let mut d = Daemon::start(&config);
    let long = "x".repeat(300);
    let deep = "d/".repeat(300);
    let hostile = [
        "",
        ".",
        "..",
        "a/../b",
        "tab\\there",
        "nl\\nthere",
        &long,
        &deep,
    ];
    let fine = ["acme", "a/b", "ünï cödé", "..x"];
    let record = |c: &str, i: usize| format!("{{\"c\":\"{c}\",\"i\":{i}}}\n");
    let bad: Vec<String> = hostile
        .iter()
        .enumerate()
        .map(|(i, c)| record(c, i))
        .collect();
    let good: Vec<String> = fine
        .iter()
        .enumerate()
        .map(|(i, c)| record(c, 100 + i))
        .collect();
    let all: Vec<String> = bad.iter().chain(&good).cloned().collect();
    assert!(put_batch(d.addr, "t", &all), "{}", d.log());
    let errors = || error_records(&objects(&d.path("out")), "errors/processing-failed/");
    let failed = eventually(
        Duration::from_secs(60),
        || {
            format!(
                "{} error records, found {}:\n{}",
                bad.len(),
                errors().len(),
                d.log()
            )
        },
        || Some(errors()).filter(|found| found.len() >= bad.len()),
    );
    assert_delivered_once(&d, &good);
    let stopping = std::time::Instant::now();
    assert!(d.stop().success(), "{}", d.log());
    assert!(stopping.elapsed() < std::time::Duration::from_secs(10));
    let mut got: Vec<String> = failed.iter().map(raw_data).collect();
    got.sort();
    let mut expected = bad.clone();
    expected.sort();
    assert_eq!(got, expected, "each hostile record once, with its raw data");
    for f in &failed {
        assert_eq!(
            f["errorCode"], "DynamicPartitioning.MetadataExtractionFailed",
            "{f}"
        );
    }
    // Each good record lies under its own value.
    for (key, body) in objects(&d.path("out")) {
        if key.starts_with("errors/") {
            continue;
        }
        let v: Value = serde_json::from_slice(&body).unwrap();
        let c = v["c"].as_str().unwrap();
        assert!(key.starts_with(&format!("{c}/")), "{key} holds c = {c:?}");
    }
}

/// Case 1: with `starting_position = "LATEST"`, a shard with no checkpoint took
/// LATEST again at every start, so records put while Sluice was stopped were
/// skipped. LATEST now means where the stream first started reading: records
/// from before the first start are not read, every record after it is, across
/// restarts.
#[test]
fn kinesis_latest_keeps_the_records_put_while_sluice_was_stopped() {
    let kinesis = KinesisLocal::start();
    kinesis.client(&["create", "orders", "1"]);
    let put = |first: usize, count: usize| {
        let answer =
            kinesis.client(&["put", "orders", &first.to_string(), &count.to_string(), "1"]);
        assert_eq!(answer["failed"], 0, "{answer}");
    };
    put(100, 3); // before the first start: LATEST skips these
    // LATEST is the first start's instant (read AT_TIMESTAMP): these records must
    // be older than it by kinesis-local's clock, which no condition shows.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"k\"\n\
         source = {{ type = \"kinesis\", stream_name = \"orders\", endpoint = \"{}\", \
         starting_position = \"LATEST\", access_key_id = \"AKTEST\", secret_access_key = \"secret\", \
         idle_poll_ms = 100 }}\n\
         buffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\" }}\n",
        kinesis.endpoint
    );
    let mut d = Daemon::start(&config);
    d.wait_for_log("reading shard");
    assert!(d.stop().success(), "{}", d.log());
    let dir = d.into_dir();
    put(0, 10); // while stopped
    let d = Daemon::start_in(dir, &config);
    put(10, 5);
    let expected: Vec<String> = (0..15).map(|i| format!("k{i}\n")).collect();
    assert_delivered_once(&d, &expected);
}

/// Case 8: with a destination that fails, SIGTERM waited forever. Now the stop
/// takes `server.shutdown_timeout_seconds`, exits 0, says how many records it
/// left, and the next start delivers them (here once the destination is fixed).
#[test]
fn shutdown_is_bounded_and_what_is_left_is_delivered_after_the_next_start() {
    // `out` is a file, so the folder under it can never be created: every write
    // fails and is retried for the whole retry duration (a day).
    let config = |path: &str| {
        format!(
            "[server]\nlisten = \"{{listen}}\"\nshutdown_timeout_seconds = 2\n\
             [[delivery_streams]]\nname = \"s\"\nbuffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
             destination = {{ type = \"local\", path = \"{{dir}}/{path}\" }}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocked"), b"a file, not a folder").unwrap();
    let mut d = Daemon::start_in(dir, &config("blocked/out"));
    let records = json_lines(50, "left");
    assert!(put_batch(d.addr, "s", &records), "{}", d.log());
    d.wait_for_log("delivery failed, will retry");
    let stopping = std::time::Instant::now();
    let status = d.stop();
    let took = stopping.elapsed();
    assert!(status.success(), "{status}: {}", d.log());
    assert!(
        took < std::time::Duration::from_secs(8),
        "stopped after {took:?}"
    );
    let log = d.log();
    assert!(
        log.contains("shutdown timeout reached") && log.contains("records=50"),
        "{log}"
    );
    let dir = d.into_dir();
    let d = Daemon::start_in(dir, &config("out"));
    assert_delivered_once(&d, &records);
}

/// A stream `s` into `{dir}/{path}` that converts to Parquet (one `int` column
/// `n`) or writes raw records with `raw_compression`.
fn format_switch_config(path: &str, parquet: bool, raw_compression: &str) -> String {
    let (compression, format) = if parquet {
        (
            "none",
            "[delivery_streams.format]\ntype = \"parquet\"\ncolumns = [{ name = \"n\", type = \"int\" }]\n",
        )
    } else {
        (raw_compression, "")
    };
    format!(
        "[server]\nlisten = \"{{listen}}\"\nshutdown_timeout_seconds = 2\n\
         [[delivery_streams]]\nname = \"s\"\ncompression = \"{compression}\"\n\
         buffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/{path}\", \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\" }}\n{format}"
    )
}

/// Seals 20 JSON records in a batch the destination cannot take (Parquet or raw
/// with `raw_compression`, as `parquet_before` says), kills the daemon, and
/// starts it again with the other format and a destination that works.
fn seal_then_switch(parquet_before: bool, raw_compression: &str) -> (Daemon, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocked"), b"a file, not a folder").unwrap();
    let before = format_switch_config("blocked/out", parquet_before, raw_compression);
    let d = Daemon::start_in(dir, &before);
    let sealed: Vec<String> = (0..20).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    assert!(put_batch(d.addr, "s", &sealed), "{}", d.log());
    d.wait_for_log("delivery failed, will retry");
    signal(d.pid(), "KILL");
    let after = format_switch_config("out", !parquet_before, raw_compression);
    (Daemon::start_in(d.into_dir(), &after), sealed)
}

/// A batch sealed as raw gzip, then the config switched to Parquet before it was
/// written (the destination was failing, then the daemon restarted): it is still
/// written as the gzip its key names, not as Parquet under a `.gz` key. New
/// records are converted.
#[test]
fn a_batch_sealed_raw_stays_raw_after_the_config_switches_to_parquet() {
    let (d, sealed) = seal_then_switch(false, "gzip");
    let gz = wait_for_objects(&d, &d.path("out"), 1, std::time::Duration::from_secs(30));
    assert!(gz[0].0.ends_with(".gz"), "{:?}", gz[0].0);
    let mut body = String::new();
    flate2::read::GzDecoder::new(&gz[0].1[..])
        .read_to_string(&mut body)
        .expect("the .gz object is gzip");
    assert_eq!(body, sealed.concat());
    assert!(put_batch(d.addr, "s", &["{\"n\":99}\n".to_string()]));
    let all = wait_for_objects(&d, &d.path("out"), 2, std::time::Duration::from_secs(30));
    let parquet: Vec<_> = all
        .iter()
        .filter(|(k, _)| k.ends_with(".parquet"))
        .collect();
    assert_eq!(
        parquet.len(),
        1,
        "{:?}",
        all.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    assert!(parquet[0].1.starts_with(b"PAR1"));
}

/// The other way round: a batch sealed for Parquet, and the config then switches
/// conversion off. There is no schema left to convert with and raw bytes under a
/// `.parquet` key would break its readers, so its records go to the error
/// output with their raw data; new records are written raw.
#[test]
fn a_batch_sealed_for_parquet_goes_to_the_error_output_after_the_config_drops_parquet() {
    let (d, sealed) = seal_then_switch(true, "none");
    let errors = wait_for_objects(
        &d,
        &d.path("out/errors"),
        1,
        std::time::Duration::from_secs(30),
    );
    let records = error_records(&errors, "delivery-failed/");
    let mut raw: Vec<String> = records.iter().map(raw_data).collect();
    raw.sort();
    let mut want = sealed.clone();
    want.sort();
    assert_eq!(raw, want);
    assert_eq!(records[0]["errorCode"], "Sluice.FormatSwitched");
    assert!(put_batch(d.addr, "s", &["{\"n\":99}\n".to_string()]));
    let all = wait_for_objects(&d, &d.path("out"), 2, std::time::Duration::from_secs(30));
    assert!(all.iter().all(|(k, _)| !k.ends_with(".parquet")), "{all:?}");
    assert!(all.iter().any(|(_, b)| b == b"{\"n\":99}\n"));
}

/// Case 9: with a source backup, a record's spool range was released once its
/// destination copy was written, while its backup copy still sat in an open
/// buffer (records a plugin dropped, at once): a kill -9 then lost the backup
/// copies. Here the plugin (js-enrich) makes each record larger, so the data
/// buffer fills its 1 MiB while the raw records' backup buffer (900 s interval)
/// stays open; the daemon is killed then. After the restart every record is
/// backed up once and delivered once.
#[test]
fn backup_copies_survive_kill_9_while_their_buffer_is_open() {
    let module = plugins().join("js-enrich.wasm");
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"b\"\n\
         processors = [{{ type = \"wasm\", module = \"{}\", params = {{ \"add.note\" = \"{}\" }} }}]\n\
         buffering = {{ size_mb = 1, interval_seconds = 900 }}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\", prefix = \"data/\", \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\", \
         s3_backup_mode = \"Enabled\", backup_prefix = \"backup/\" }}\n",
        module.display(),
        "n".repeat(200)
    );
    // 1,000 records of 1,000 bytes: under 1 MiB raw, over it enriched.
    let records: Vec<String> = (0..1000)
        .map(|i| {
            let pad = "p".repeat(1000 - 16 - i.to_string().len());
            format!("{{\"i\":{i},\"pad\":\"{pad}\"}}\n")
        })
        .collect();
    assert!(records.iter().all(|r| r.len() == 1000));
    let d = Daemon::start(&config);
    for chunk in records.chunks(100) {
        assert!(put_batch(d.addr, "b", chunk), "{}", d.log());
    }
    let lines = |d: &Daemon, prefix: &str| -> Vec<String> {
        let mut lines: Vec<String> = objects(&d.path("out"))
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .flat_map(|(_, b)| {
                String::from_utf8_lossy(b)
                    .split_inclusive('\n')
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        lines
    };
    eventually(
        Duration::from_secs(60),
        || format!("`!lines(&d, \"data/\").is_empty()`:\n{}", d.log()),
        || (!lines(&d, "data/").is_empty()).then_some(()),
    );
    assert!(
        lines(&d, "backup/").is_empty(),
        "the backup buffer is still open"
    );
    signal(d.pid(), "KILL");
    let dir = d.into_dir();
    let mut d = Daemon::start_in(dir, &config);
    assert!(d.stop().success(), "{}", d.log());
    let backup = lines(&d, "backup/");
    let mut all = records.clone();
    all.sort();
    assert_eq!(backup.len(), all.len(), "every record backed up once");
    assert_eq!(backup, all);
    let data: Vec<u64> = lines(&d, "data/")
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["i"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = data.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(data.len(), 1000, "delivered once each");
    assert_eq!(sorted, (0..1000).collect::<Vec<u64>>());
}

/// Case 4: with `durability = "buffered"`, a file or Kinesis source's checkpoint
/// (always synced) could be on disk while the records it covers were not, so a
/// power loss lost them. Watched with strace: every checkpoint of a file source
/// is renamed into place only after an `fdatasync` of the spool segment that
/// follows its last write; a direct-put stream of the same daemon stays buffered
/// (its segment is written and never synced), which shows the test sees syncs.
#[test]
fn a_source_checkpoint_is_never_more_durable_than_its_records() {
    let config = "[server]\nlisten = \"{listen}\"\n[spool]\ndurability = \"buffered\"\n\
         [[delivery_streams]]\nname = \"f\"\n\
         source = { type = \"file\", paths = [\"{dir}/logs/*.log\"], start_at = \"beginning\", poll_interval_ms = 50 }\n\
         buffering = { size_mb = 1, interval_seconds = 0 }\n\
         destination = { type = \"local\", path = \"{dir}/out\", prefix = \"f/\" }\n\
         [[delivery_streams]]\nname = \"p\"\n\
         buffering = { size_mb = 1, interval_seconds = 0 }\n\
         destination = { type = \"local\", path = \"{dir}/out\", prefix = \"p/\" }\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let mut d = Daemon::start_in(dir, config);
    let trace = d.path("strace.txt");
    let mut strace = std::process::Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=pwrite64,fdatasync,rename,renameat,renameat2",
            "-o",
        ])
        .arg(&trace)
        .args(["-p", &d.pid().to_string()])
        .spawn()
        .expect("strace (tests/setup/install.sh installs it)");
    let status = format!("/proc/{}/status", d.pid());
    eventually(
        Duration::from_secs(30),
        || format!("strace to attach to the daemon:\n{}", d.log()),
        || {
            let text = std::fs::read_to_string(&status).unwrap_or_default();
            (!text.contains("TracerPid:\t0\n")).then_some(())
        },
    );
    let mut expected = Vec::new();
    for round in 0..5 {
        let lines: Vec<String> = (0..20).map(|i| format!("line {round} {i}\n")).collect();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.path("logs/app.log"))
            .unwrap();
        std::io::Write::write_all(&mut log, lines.concat().as_bytes()).unwrap();
        expected.extend(lines);
        // Each round read, spooled and checkpointed before the next is written.
        eventually(
            Duration::from_secs(30),
            || format!("round {round} delivered:\n{}", d.log()),
            || (delivered(&d.path("out")).len() >= expected.len()).then_some(()),
        );
    }
    assert!(put_batch(d.addr, "p", &json_lines(5, "p")), "{}", d.log());
    eventually(
        Duration::from_secs(30),
        || {
            format!(
                "`delivered(&d.path(\"out\")).len() >= expected.len() + 5`:\n{}",
                d.log()
            )
        },
        || (delivered(&d.path("out")).len() >= expected.len() + 5).then_some(()),
    );
    signal(strace.id(), "INT");
    strace.wait().unwrap();
    assert!(d.stop().success(), "{}", d.log());
    let text = std::fs::read_to_string(&trace).unwrap();
    let segment_of = |stream: &str, line: &str| {
        line.contains(&format!("/spool/{stream}/")) && line.contains(".seg>")
    };
    let (mut checkpoints, mut unsynced) = (0, false);
    for line in text.lines() {
        if line.contains("pwrite64(") && segment_of("f", line) {
            unsynced = true;
        } else if line.contains("fdatasync(") && segment_of("f", line) {
            unsynced = false;
        } else if line.contains("rename") && line.contains("file-source.json\"") {
            checkpoints += 1;
            assert!(
                !unsynced,
                "a checkpoint was renamed in before its records were synced:\n{text}"
            );
        }
    }
    assert!(checkpoints >= 5, "{checkpoints} checkpoints seen:\n{text}");
    // The direct put is answered without a sync: its segment is synced only
    // later, when it is emptied for reuse once delivered.
    let lines: Vec<&str> = text.lines().collect();
    let p_write = lines
        .iter()
        .position(|l| l.contains("pwrite64(") && segment_of("p", l))
        .unwrap_or_else(|| panic!("no write of the direct put:\n{text}"));
    let after = &lines[p_write..];
    let first_sync = after
        .iter()
        .position(|l| l.contains("fdatasync(") && segment_of("p", l));
    let delivered = after
        .iter()
        .position(|l| l.contains("rename") && l.contains("/out/p/"))
        .unwrap_or_else(|| panic!("the direct put's object was never renamed in:\n{text}"));
    assert!(
        first_sync.is_none_or(|s| s > delivered),
        "the direct put was synced before it was delivered:\n{text}"
    );
}

/// Case 10: `retry_duration_seconds` counted from the last start, so a daemon
/// restarted more often than the retry duration retried an undeliverable batch
/// forever. Here every run lasts 3 s, under the 5 s retry duration, against an
/// HTTP endpoint that refuses connections: the clock kept in the ledger runs out
/// across restarts and the records reach the error destination.
#[test]
fn the_retry_clock_survives_restarts() {
    let url = format!("http://127.0.0.1:{}/ingest", free_port());
    let config = format!(
        "[server]\nlisten = \"{{listen}}\"\nshutdown_timeout_seconds = 1\n\
         [[delivery_streams]]\nname = \"h\"\nbuffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
         destination = {{ type = \"http\", url = \"{url}\", retry_duration_seconds = 5, \
         error_destination = {{ type = \"local\", path = \"{{dir}}/s3\", \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\" }} }}\n"
    );
    let records = json_lines(3, "clock");
    let mut d = Daemon::start(&config);
    assert!(put_batch(d.addr, "h", &records), "{}", d.log());
    let mut runs = 1;
    let failed = loop {
        // Each run lasts 3 s on purpose: shorter than the 5 s retry duration.
        std::thread::sleep(std::time::Duration::from_secs(3));
        let found = error_records(&objects(&d.path("s3")), "errors/http-endpoint-failed/");
        if !found.is_empty() {
            break found;
        }
        assert!(runs < 12, "never sent to the error output:\n{}", d.log());
        assert!(d.stop().success(), "{}", d.log());
        d = Daemon::start_in(d.into_dir(), &config);
        runs += 1;
    };
    assert!(d.stop().success(), "{}", d.log());
    assert!(runs >= 2, "given up within one run ({runs})");
    let mut got: Vec<String> = failed.iter().map(raw_data).collect();
    got.sort();
    assert_eq!(got, records);
    for f in &failed {
        assert_eq!(f["errorCode"], "HttpEndpoint.ConnectionFailed", "{f}");
        // Case 7: Firehose's ids of http-endpoint-failed records.
        assert_eq!(f["subsequenceNumber"], 0, "{f}");
        assert!(
            f["dataId"].as_str().is_some_and(|id| id.ends_with(".0")),
            "{f}"
        );
    }
}
