//! The file and stdin sources against the real daemon and real files: appends, new
//! files, rotation by rename and by copy-truncate (also while the daemon is
//! stopped), restarts (clean and SIGKILL), deleted files, over-long lines and
//! multi-line records. Every line must be delivered exactly once.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::*;

/// A stream `f` tailing `{dir}/logs/*.log` into `{dir}/out`; `source_extra` is added
/// to the source table.
/// Stream `f` tailing `{dir}/logs/*.log`, with `source` keys set on the source.
fn config(source: Table) -> String {
    Conf::new()
        .stream(
            Stream::new("f")
                .source(
                    toml! { type = "file"  paths = ["{dir}/logs/*.log"]  poll_interval_ms = 50 },
                )
                .merge("source", source)
                .at_once()
                .errors_by_type(),
        )
        .text()
}

fn append(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        f.write_all(line.as_bytes()).unwrap();
    }
    f.sync_data().unwrap();
}

fn lines(tag: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{tag} line {i:06}\n")).collect()
}

fn start(source: Table, setup: impl FnOnce(&Path)) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    setup(&dir.path().join("logs"));
    Daemon::start_in(dir, &config(source))
}

#[test]
fn appended_lines_and_new_files_are_delivered_once() {
    let mut all = lines("a", 0..3);
    let daemon = start(toml! { start_at = "beginning" }, |logs| {
        append(&logs.join("a.log"), &all)
    });
    let logs = daemon.path("logs");
    let more = lines("a", 3..1500);
    append(&logs.join("a.log"), &more);
    all.extend(more);
    let b = lines("b", 0..700);
    append(&logs.join("b.log"), &b);
    all.extend(b);
    // Not matching the pattern: never read.
    append(&logs.join("c.txt"), &lines("c", 0..10));
    assert_delivered_once(&daemon, &all);
}

#[test]
fn start_at_end_skips_what_was_there_at_the_first_start() {
    let old = lines("old", 0..100);
    let daemon = start(Table::new(), |logs| append(&logs.join("a.log"), &old));
    // The first scan notes where the file ends.
    daemon.wait_for_log("tailing a new file");
    let new = lines("new", 0..100);
    append(&daemon.path("logs/a.log"), &new);
    assert_delivered_once(&daemon, &new);
}

#[test]
fn rotation_by_rename_loses_and_repeats_nothing() {
    let first = lines("first", 0..1000);
    let daemon = start(toml! { start_at = "beginning" }, |logs| {
        append(&logs.join("app.log"), &first)
    });
    let logs = daemon.path("logs");
    daemon.wait_for_log("tailing a new file");
    // logrotate's rename: the writer still writes a little to the old file, then
    // reopens the path.
    std::fs::rename(logs.join("app.log"), logs.join("app.log.1")).unwrap();
    let late = lines("late", 0..50);
    append(&logs.join("app.log.1"), &late);
    let second = lines("second", 0..1000);
    append(&logs.join("app.log"), &second);
    let expected: Vec<String> = [first, late, second].concat();
    assert_delivered_once(&daemon, &expected);
    daemon.wait_for_log("finished a file that was rotated away or deleted");
}

#[test]
fn copy_truncate_rotation_loses_and_repeats_nothing() {
    let first = lines("first", 0..500);
    let daemon = start(toml! { start_at = "beginning" }, |logs| {
        append(&logs.join("app.log"), &first)
    });
    let logs = daemon.path("logs");
    assert_delivered_once(&daemon, &first);
    std::fs::copy(logs.join("app.log"), logs.join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(logs.join("app.log"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let second = lines("second", 0..20);
    append(&logs.join("app.log"), &second);
    assert_delivered_once(&daemon, &[first, second].concat());
    assert!(daemon.log().contains("file truncated"), "{}", daemon.log());
}

#[test]
fn a_restart_mid_file_resumes_where_the_spool_ends() {
    let first = lines("first", 0..2000);
    let mut daemon = start(toml! { start_at = "beginning" }, |logs| {
        append(&logs.join("a.log"), &first)
    });
    assert_delivered_once(&daemon, &first);
    assert!(daemon.stop().success());
    let dir = daemon.into_dir();
    let second = lines("second", 0..2000);
    append(&dir.path().join("logs/a.log"), &second);
    let daemon = Daemon::start_in(dir, &config(toml! { start_at = "beginning" }));
    assert_delivered_once(&daemon, &[first, second].concat());
}

#[test]
fn sigkill_while_lines_are_written_loses_and_repeats_nothing() {
    let daemon = start(toml! { start_at = "beginning" }, |_| {});
    let path = daemon.path("logs/a.log");
    let mut expected = Vec::new();
    // Kill the daemon three times while a writer appends.
    let mut daemon = Some(daemon);
    for round in 0..3 {
        let d = daemon.take().unwrap();
        for chunk in 0..20 {
            let batch = lines(&format!("r{round}c{chunk}"), 0..200);
            append(&path, &batch);
            expected.extend(batch);
            // A writer spread over the daemon's life: the load's shape.
            std::thread::sleep(Duration::from_millis(10));
        }
        let dir = d.into_dir(); // SIGKILL, mid-stream
        daemon = Some(Daemon::start_in(
            dir,
            &config(toml! { start_at = "beginning" }),
        ));
    }
    assert_delivered_once(daemon.as_ref().unwrap(), &expected);
}

#[test]
fn a_file_rotated_while_stopped_still_gives_its_unread_tail() {
    let first = lines("first", 0..300);
    let mut daemon = start(toml! { start_at = "beginning" }, |logs| {
        append(&logs.join("app.log"), &first)
    });
    assert_delivered_once(&daemon, &first);
    assert!(daemon.stop().success());
    let dir = daemon.into_dir();
    let logs = dir.path().join("logs");
    let tail = lines("unread", 0..300);
    append(&logs.join("app.log"), &tail);
    std::fs::rename(logs.join("app.log"), logs.join("app.log.1")).unwrap();
    let next = lines("next", 0..300);
    append(&logs.join("app.log"), &next);
    let daemon = Daemon::start_in(dir, &config(toml! { start_at = "beginning" }));
    assert_delivered_once(&daemon, &[first, tail, next].concat());
}

#[test]
fn a_file_deleted_while_being_read_is_read_to_its_end() {
    let first = lines("first", 0..100);
    let daemon = start(toml! { start_at = "beginning" }, |logs| {
        append(&logs.join("a.log"), &first)
    });
    assert_delivered_once(&daemon, &first);
    // The daemon holds the file open: lines appended just before the unlink are
    // still read.
    let last = lines("last", 0..5000);
    append(&daemon.path("logs/a.log"), &last);
    std::fs::remove_file(daemon.path("logs/a.log")).unwrap();
    assert_delivered_once(&daemon, &[first, last].concat());
    daemon.wait_for_log("finished a file that was rotated away or deleted");
}

#[test]
fn a_line_over_the_record_limit_goes_to_the_error_output_in_pieces() {
    let long = format!("{}\n", "x".repeat(3_000_000));
    let around = lines("ok", 0..10);
    let daemon = start(toml! { start_at = "beginning" }, |logs| {
        append(&logs.join("a.log"), &around[..5]);
        append(&logs.join("a.log"), std::slice::from_ref(&long));
        append(&logs.join("a.log"), &around[5..]);
    });
    assert_delivered_once(&daemon, &around);
    let pieces = eventually(
        Duration::from_secs(20),
        || {
            format!(
                "the long line's pieces in the error output:\n{}",
                daemon.log()
            )
        },
        || {
            let errors: Vec<_> = objects(&daemon.path("out"))
                .into_iter()
                .filter(|(k, _)| k.starts_with("errors/record-too-large/"))
                .collect();
            let lines: Vec<serde_json::Value> = errors
                .iter()
                .flat_map(|(_, body)| {
                    String::from_utf8_lossy(body)
                        .lines()
                        .map(|l| serde_json::from_str(l).unwrap())
                        .collect::<Vec<_>>()
                })
                .collect();
            let bytes: usize = lines
                .iter()
                .map(|l| {
                    base64::engine::general_purpose::STANDARD
                        .decode(l["rawData"].as_str().unwrap())
                        .unwrap()
                        .len()
                })
                .sum();
            (bytes >= long.len()).then_some(lines)
        },
    );
    // Each piece is an object of its own, and keys within one second do not order
    // objects: the piece that ends the line goes last.
    let mut pieces = pieces;
    pieces.sort_by_key(|p| {
        base64::engine::general_purpose::STANDARD
            .decode(p["rawData"].as_str().unwrap())
            .unwrap()
            .ends_with(b"\n")
    });
    let mut joined = Vec::new();
    for piece in &pieces {
        assert_eq!(piece["errorCode"], "Source.RecordTooLarge");
        let data = base64::engine::general_purpose::STANDARD
            .decode(piece["rawData"].as_str().unwrap())
            .unwrap();
        assert!(data.len() > 1_024_000, "every piece is over the limit");
        joined.extend(data);
    }
    let sizes: Vec<usize> = pieces
        .iter()
        .map(|p| p["rawData"].as_str().unwrap().len() / 4 * 3)
        .collect();
    assert!(
        joined == long.as_bytes(),
        "the pieces are the line: {} bytes in pieces of about {sizes:?}, the line has {}",
        joined.len(),
        long.len()
    );
    // Still running and reading.
    let after = lines("after", 0..3);
    append(&daemon.path("logs/a.log"), &after);
    assert_delivered_once(&daemon, &[around, after].concat());
}

#[test]
fn multi_line_records_are_joined() {
    let daemon = start(
        toml! { start_at = "beginning"  multiline = { pattern = "^\\S", negate = true, timeout_ms = 200 } },
        |_| {},
    );
    let trace = "Exception in thread main\n  at a.b(C.java:1)\n  at d.e(F.java:2)\n".to_string();
    append(
        &daemon.path("logs/a.log"),
        &[trace.clone(), "plain line\n".into(), trace.clone()],
    );
    let all = eventually(
        Duration::from_secs(20),
        || format!("three records delivered:\n{}", daemon.log()),
        || {
            let bodies: Vec<String> = objects(&daemon.path("out"))
                .into_iter()
                .map(|(_, b)| String::from_utf8(b).unwrap())
                .collect();
            Some(bodies.concat()).filter(|all| all.len() >= 2 * trace.len() + "plain line\n".len())
        },
    );
    // Objects within one second have no order by key: count, do not concatenate.
    assert_eq!(all.len(), 2 * trace.len() + "plain line\n".len(), "{all}");
    assert_eq!(all.matches(trace.as_str()).count(), 2, "{all}");
    assert_eq!(all.replace(trace.as_str(), ""), "plain line\n");
    // Records, not lines: three of them.
    assert_eq!(
        metric(&daemon, "sluice_incoming_records_total{stream=\"f\"}"),
        Some(3.0)
    );
}

#[test]
fn direct_puts_to_a_file_stream_are_refused() {
    let daemon = start(Table::new(), |_| {});
    let reply = firehose(
        daemon.addr,
        "PutRecord",
        r#"{"DeliveryStreamName":"f","Record":{"Data":"eA=="}}"#,
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["__type"], "InvalidArgumentException");
}

#[test]
fn stdin_is_read_to_its_end_then_the_daemon_stops_after_delivering() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\n[[delivery_streams]]\nname = \"in\"\nsource = {{ type = \"stdin\" }}\n\
         destination = {{ type = \"local\", path = \"{}/out\" }}\n",
        free_port(),
        dir.path().display()
    );
    let config = dir.path().join("sluice.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input: Vec<String> = lines("in", 0..10_000);
    {
        let mut stdin = child.stdin.take().unwrap();
        for line in &input {
            stdin.write_all(line.as_bytes()).unwrap();
        }
        stdin.write_all(b"no newline at the end").unwrap();
    } // closed: end of input
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("end of standard input"), "{log}");
    let body: String = objects(&dir.path().join("out"))
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect();
    assert_eq!(body, format!("{}no newline at the end", input.concat()));
}

/// The crash window between a spool append and the checkpoint that follows it,
/// made on purpose: the checkpoint is put back to before the last batch, with the
/// intent a crash would leave. The restart must not read those lines again.
#[test]
fn an_intent_left_by_a_crash_after_the_append_skips_what_the_spool_holds() {
    let first = lines("first", 0..100);
    let mut daemon = start(toml! { start_at = "beginning" }, |logs| {
        append(&logs.join("a.log"), &first)
    });
    assert_delivered_once(&daemon, &first);
    assert!(daemon.stop().success());
    let dir = daemon.into_dir();
    let path = dir.path().join("data/spool/f/file-source.json");
    let mut checkpoint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let end = checkpoint["files"][0]["offset"].as_u64().unwrap();
    assert_eq!(end as usize, first.concat().len());
    // As a crash would leave it: the batch of all 100 lines (records 0 to 99) was
    // appended, the position not yet moved past it.
    checkpoint["files"][0]["offset"] = 0.into();
    checkpoint["intent"] = serde_json::json!({
        "id": checkpoint["files"][0]["id"].clone(), "from": 0, "first_seq": 0,
    });
    std::fs::write(&path, checkpoint.to_string()).unwrap();
    let second = lines("second", 0..10);
    append(&dir.path().join("logs/a.log"), &second);
    let daemon = Daemon::start_in(dir, &config(toml! { start_at = "beginning" }));
    assert_delivered_once(&daemon, &[first, second].concat());
}
