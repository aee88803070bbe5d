//! The durable spool through the real daemon: kill -9 under load, torn writes,
//! damaged data, a full disk and a destination that stays down.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use common::*;
use rand::{Rng, SeedableRng};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Every record (line) in the objects under `root`, gunzipping `.gz` objects.
fn delivered_lines(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, body) in objects(root) {
        let text = if name.ends_with(".gz") {
            let mut out = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut out)
                .unwrap_or_else(|e| panic!("{name} is not gzip: {e}"));
            out
        } else {
            String::from_utf8(body).expect("utf-8 records")
        };
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

fn segments(spool: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(spool)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Stream `stream` writing gzip (level 1) objects into `{dir}/out`; `spool`
/// sets keys of `[spool]`.
fn config(stream: Stream, spool: Table) -> String {
    Conf::new()
        .merge("spool", spool)
        .stream(
            stream
                .set("compression", "gzip")
                .set("compression_level", 1),
        )
        .text()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The main promise: under concurrent PutRecordBatch load, `kill -9` at random moments
/// and restart; at the end every acknowledged record is delivered exactly once, and
/// no record is delivered twice. Replay a failure with the printed seed.
#[test]
fn kill_9_under_load_loses_nothing_acknowledged_and_duplicates_nothing() {
    let seed: u64 = env_or("SLUICE_CHAOS_SEED", rand::rng().random());
    let kills: usize = env_or("SLUICE_CHAOS_KILLS", 20);
    eprintln!("chaos: SLUICE_CHAOS_SEED={seed} SLUICE_CHAOS_KILLS={kills}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let config = config(
        Stream::new("chaos").buffering(1, 1),
        toml! { max_size_mb = 16 },
    );
    let mut dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<String> = Vec::new();
    let (mut sealed_recoveries, mut torn) = (0, 0);
    let count = |log: &str, what: &str| log.matches(what).count();
    for round in 0..kills {
        let d = Daemon::start_in(dir, &config);
        let load = Load::start(d.addr, round);
        // The kill comes at a random moment of the load: that is the test.
        std::thread::sleep(Duration::from_millis(rng.random_range(150..900)));
        let log = d.log();
        sealed_recoveries += count(&log, "delivering a batch sealed before");
        torn += count(&log, "cut a torn write");
        load.stop.store(true, Ordering::Relaxed);
        dir = d.into_dir(); // SIGKILL
        acked.extend(load.join());
    }
    let mut d = Daemon::start_in(dir, &config);
    let load = Load::start(d.addr, kills);
    // Half a second of load on the last daemon, which is stopped cleanly.
    std::thread::sleep(Duration::from_millis(500));
    load.stop.store(true, Ordering::Relaxed);
    acked.extend(load.join());
    sealed_recoveries += count(&d.log(), "delivering a batch sealed before");
    assert!(d.stop().success(), "{}", d.log());

    let lines = delivered_lines(&d.path("out"));
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for l in &lines {
        *seen.entry(l.as_str()).or_default() += 1;
    }
    let id = |r: &str| r.split(' ').next().unwrap_or_default().to_string();
    let twice: Vec<_> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(r, n)| (id(r), *n))
        .take(5)
        .collect();
    assert!(
        twice.is_empty(),
        "seed {seed}: records delivered more than once: {twice:?}"
    );
    let lost: Vec<_> = acked
        .iter()
        .filter(|r| !seen.contains_key(r.trim_end()))
        .map(|r| id(r))
        .take(5)
        .collect();
    assert!(
        lost.is_empty(),
        "seed {seed}: acknowledged records lost (of {}): {lost:?}",
        acked.len()
    );
    assert!(acked.len() > 5_000, "too little load to prove anything");
    eprintln!(
        "chaos: {} acknowledged, {} delivered, {kills} kills, {sealed_recoveries} sealed batches re-delivered, {torn} torn writes cut",
        acked.len(),
        lines.len()
    );
}

/// Four producers putting batches of 50 uniquely named ~1 KiB records until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    producers: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr, round: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let padding = "x".repeat(900);
        let producers = (0..4)
            .map(|p| {
                let (stop, padding) = (stop.clone(), padding.clone());
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let records: Vec<String> = (0..50)
                            .map(|i| format!("r{round}-p{p}-b{n}-i{i} {padding}\n"))
                            .collect();
                        if put_batch(addr, "chaos", &records) {
                            acked.extend(records);
                        }
                    }
                    acked
                })
            })
            .collect();
        Self { stop, producers }
    }

    /// The records that were acknowledged.
    fn join(self) -> Vec<String> {
        self.producers
            .into_iter()
            .flat_map(|p| p.join().expect("producer"))
            .collect()
    }
}

/// Starts a daemon with nothing delivered before shutdown, puts `n` records, and
/// kills it: the records are only in the spool.
fn spooled_and_killed(n: usize, error_prefix: &str) -> (tempfile::TempDir, String, Vec<String>) {
    let config = config(
        Stream::new("s")
            .buffering(128, 900)
            .set("destination.error_output_prefix", error_prefix),
        Table::new(),
    );
    let d = Daemon::start(&config);
    let records: Vec<String> = (0..n).map(|i| format!("{{\"record\":{i:04}}}\n")).collect();
    for chunk in records.chunks(10) {
        assert!(put_batch(d.addr, "s", chunk));
    }
    (d.into_dir(), config, records)
}

#[test]
fn a_torn_write_at_the_end_is_cut_off_and_everything_acknowledged_is_delivered() {
    let (dir, config, records) = spooled_and_killed(30, "");
    let seg = segments(&dir.path().join("data/spool/s")).pop().unwrap();
    // Half of a frame, as a crash in the middle of a write leaves it.
    let mut torn = 700u32.to_le_bytes().to_vec();
    torn.extend_from_slice(&[0xAB; 300]);
    let mut file = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut file, &torn).unwrap();
    let mut d = Daemon::start_in(dir, &config);
    assert!(d.log().contains("cut a torn write"), "{}", d.log());
    // The cut spool takes new records after the recovered ones.
    assert!(put_batch(d.addr, "s", &["{\"after\":1}\n".to_string()]));
    assert!(d.stop().success());
    let mut expected: Vec<String> = records.iter().map(|r| r.trim_end().to_string()).collect();
    expected.push("{\"after\":1}".into());
    assert_eq!(delivered_lines(&d.path("out")), expected);
}

#[test]
fn a_damaged_record_goes_to_the_error_output_and_the_rest_is_delivered() {
    let (dir, config, records) = spooled_and_killed(20, "errors/!{firehose:error-output-type}/");
    let seg = segments(&dir.path().join("data/spool/s")).pop().unwrap();
    let mut raw = std::fs::read(&seg).unwrap();
    let at = raw
        .windows(15)
        .position(|w| w == b"{\"record\":0007}")
        .expect("record 7 in the segment");
    raw[at + 11] ^= 0x01; // "0007" becomes "0107" on disk: the CRC no longer matches
    std::fs::write(&seg, &raw).unwrap();

    let mut d = Daemon::start_in(dir, &config);
    assert!(d.stop().success(), "{}", d.log());
    let expected: Vec<String> = records
        .iter()
        .filter(|r| !r.contains("0007"))
        .map(|r| r.trim_end().to_string())
        .collect();
    // Data objects are not under the error prefix.
    let data: Vec<_> = objects(&d.path("out"))
        .into_iter()
        .filter(|(k, _)| !k.starts_with("errors/"))
        .collect();
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(delivered_lines(&d.path("out")).len(), expected.len() + 1);
    let errors = objects(&d.path("out/errors/spool-corrupt"));
    assert_eq!(errors.len(), 1, "{}", d.log());
    let (key, body) = &errors[0];
    // The error prefix has no timestamp expression, so Firehose's time path follows it.
    let hour = chrono::Utc::now().format("%Y/%m/%d/").to_string();
    assert!(
        key.starts_with(&hour) && key.contains("/s-1-") && !key.ends_with(".gz"),
        "{key}"
    );
    let line: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(line["errorCode"], "Spool.Corrupt");
    assert_eq!(line["attemptsMade"], 1);
    assert!(line["errorMessage"].as_str().unwrap().contains("CRC"));
    let raw_data = B64.decode(line["rawData"].as_str().unwrap()).unwrap();
    // The whole damaged frame: its 24-byte header and the damaged record.
    assert_eq!(&raw_data[24..], b"{\"record\":0107}\n");
    let mut main = Vec::new();
    flate2::read::GzDecoder::new(&data[0].1[..])
        .read_to_end(&mut main)
        .unwrap();
    let got: Vec<&str> = std::str::from_utf8(&main).unwrap().lines().collect();
    assert_eq!(got, expected);
    assert!(
        d.log().contains("spool data failed its checksum"),
        "{}",
        d.log()
    );
}

#[test]
fn a_second_daemon_on_the_same_spool_is_refused_clearly() {
    let config = config(
        Stream::new("s").at_once(),
        toml! { dir = "{dir}/shared-spool" },
    );
    let first = Daemon::start(&config);
    let text = config
        .replace("{listen}", &format!("127.0.0.1:{}", free_port()))
        .replace("{dir}", &first.dir.path().display().to_string());
    let path = first.path("second.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is in use by another sluice process"),
        "{stderr}"
    );
}

/// A destination that is down while 96 MiB arrive: the records wait on disk, the
/// daemon's memory stays bounded by its buffers, and everything arrives later.
#[test]
fn a_backlog_lives_on_disk_not_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocked"), b"a file, not a folder").unwrap();
    let config = "[server]\nlisten = \"{listen}\"\n[spool]\nmax_size_mb = 256\n\
        [[delivery_streams]]\nname = \"s\"\nbuffering = { size_mb = 1, interval_seconds = 1 }\n\
        destination = { type = \"local\", path = \"{dir}/blocked/out\" }\n";
    let mut d = Daemon::start_in(dir, config);
    let line = format!("{}\n", "y".repeat(1023));
    let body = line.repeat(4096); // 4 MiB a request
    for _ in 0..24 {
        let r = http(
            d.addr,
            "POST",
            "/delivery-streams/s/records",
            &[],
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let spool_bytes = metric(&d, r#"sluice_spool_bytes{stream="s"}"#).unwrap();
    assert!(spool_bytes > 96.0 * 1024.0 * 1024.0, "{spool_bytes}");
    // Less the pages of the (debug) binary it maps, which are not memory records
    // take: 4 objects in flight and one open buffer of 1 MiB, a 4 MiB read,
    // request bodies (25 MB seen; the backlog would be 96 MiB more).
    let peak_kb = peak_rss_less_files_kb(d.pid());
    assert!(
        peak_kb < 40 * 1024,
        "peak RSS less mapped files {peak_kb} kB with a 96 MiB backlog"
    );
    std::fs::remove_file(d.path("blocked")).unwrap();
    // Delivered, and the delivered segments deleted or emptied (the current one is
    // emptied just after the last delivery is recorded: a stop in between leaves it
    // for the next start).
    eventually(
        Duration::from_secs(60),
        || {
            format!(
                "the backlog delivered and its segments emptied:\n{}",
                d.log()
            )
        },
        || {
            let backlog = metric(&d, r#"sluice_backlog_records{stream="s"}"#);
            let bytes = metric(&d, r#"sluice_spool_bytes{stream="s"}"#).unwrap_or(f64::MAX);
            (backlog == Some(0.0) && bytes < 1024.0 * 1024.0).then_some(())
        },
    );
    assert!(d.stop().success());
    let total: usize = objects(&d.path("blocked/out"))
        .iter()
        .map(|(_, b)| b.len())
        .sum();
    assert_eq!(total, 24 * body.len());
    // Delivered segments are gone: what is left is at most the emptied current one.
    let left: u64 = segments(&d.path("data/spool/s"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(left < 1024 * 1024, "{left} bytes left in the spool");
}

/// A spool on a 4 MiB tmpfs (mounted in a user and mount namespace, so no root is
/// needed) fills up while the destination is down: puts get 503 and the daemon stays
/// up; once the destination is back, the spool frees its space by itself and puts
/// are accepted again. Nothing acknowledged is lost.
#[test]
fn a_full_disk_answers_503_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    std::fs::write(dir.path().join("blocked"), b"a file, not a folder").unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "[server]\nlisten = \"{listen}\"\n[spool]\ndir = \"{}\"\nmax_size_mb = 1024\n\
         [[delivery_streams]]\nname = \"s\"\nbuffering = {{ size_mb = 1, interval_seconds = 1 }}\n\
         destination = {{ type = \"local\", path = \"{}/blocked/out\" }}\n",
        spool.display(),
        dir.path().display()
    );
    let config_path = dir.path().join("sluice.toml");
    std::fs::write(&config_path, config).unwrap();
    let log = std::fs::File::create(dir.path().join("sluice.log")).unwrap();
    let mut child = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg("mount -t tmpfs -o size=4m tmpfs \"$0\" && exec \"$1\" run --config \"$2\"")
        .arg(&spool)
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("unshare (util-linux) runs the daemon on its own tmpfs");
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let read_log = || std::fs::read_to_string(dir.path().join("sluice.log")).unwrap_or_default();
    eventually(
        Duration::from_secs(20),
        || format!("the daemon on a tmpfs to be ready:\n{}", read_log()),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the daemon on a tmpfs did not start ({status}); user namespaces must be allowed:\n{}",
                    read_log()
                );
            }
            http(addr, "GET", "/ready", &[], b"")
                .is_ok_and(|r| r.status == 200)
                .then_some(())
        },
    );
    let mut acked = Vec::new();
    let mut refusal = None;
    for b in 0..200 {
        let records: Vec<String> = (0..50)
            .map(|i| format!("b{b}-i{i} {}\n", "z".repeat(1000)))
            .collect();
        let target = format!("{FIREHOSE_TARGET}.PutRecordBatch");
        let r = http(
            addr,
            "POST",
            "/",
            &[("X-Amz-Target", &target)],
            batch_body("s", &records).as_bytes(),
        )
        .unwrap();
        if r.status == 200 {
            acked.extend(records);
        } else {
            refusal = Some(r);
            break;
        }
    }
    let refusal = refusal.expect("a 4 MiB disk never filled up");
    assert_eq!(refusal.status, 503);
    assert_eq!(refusal.json()["__type"], "ServiceUnavailableException");
    assert!(
        refusal.json()["message"]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{}",
        refusal.json()
    );
    assert!(acked.len() >= 1000, "only {} records fit", acked.len());
    assert!(http(addr, "GET", "/health", &[], b"").unwrap().status == 200);
    // The destination comes back: delivered records free the disk.
    std::fs::remove_file(dir.path().join("blocked")).unwrap();
    let after = vec![format!("after {}\n", "z".repeat(1000))];
    eventually(
        Duration::from_secs(60),
        || format!("a put accepted once the disk has room:\n{}", read_log()),
        || put_batch(addr, "s", &after).then_some(()),
    );
    acked.extend(after);
    signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", read_log());
    let mut delivered = delivered_lines(&dir.path().join("blocked/out"));
    delivered.sort();
    let mut expected: Vec<String> = acked.iter().map(|r| r.trim_end().to_string()).collect();
    expected.sort();
    assert_eq!(delivered.len(), expected.len());
    assert!(
        delivered == expected,
        "delivered records differ from acknowledged ones"
    );
}
