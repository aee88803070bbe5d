//! Power cuts: the whole pipeline (direct puts, a file source, spools, runners, a
//! local destination) runs on the simulated disk; at a random instant the power
//! goes (every write not yet synced is lost, an unsynced append possibly torn) and
//! the daemon starts again on what the disk kept. The destination folder is the
//! real file system: it stands for the object store, which a cut of this machine
//! does not touch. Windows of a full spool disk come and go between cuts.
//!
//! With `durability = "fsync"`, every acknowledged put and every line the file
//! source checkpointed lands exactly once, and nothing refused lands. The file
//! stream de-aggregates each line into one to three records before the spool,
//! so a source's resume after a cut counts spool records, not lines. With
//! `"buffered"`, acknowledged puts can be lost (the test must see it, or it could
//! not see a loss at all), and the file source still loses nothing: its
//! checkpoint is never more durable than the records it covers.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use super::{StreamHandle, Streams};
use crate::config::{Config, SourceConfig};
use crate::disk::sim::SimDisk;
use crate::record::Record;
use crate::sources::file::FileTail;

/// What the producers were told about each direct-put record, by id.
#[derive(Default)]
struct Told {
    acked: Vec<u32>,
    refused: Vec<u32>,
}

struct Outcome {
    told: Told,
    /// Lines the file source was given (all of them fsynced to its file).
    lines: u32,
    /// How often each id landed, data and error output alike.
    landed: BTreeMap<String, usize>,
    full_windows: u32,
}

fn config(root: &Path, durability: &str, put_interval: u64) -> Config {
    let text = format!(
        "[spool]\ndir = \"{root}/spool\"\ndurability = \"{durability}\"\n\
         [[delivery_streams]]\nname = \"put\"\ncompression = \"none\"\n\
         buffering = {{ size_mb = 1, interval_seconds = {put_interval} }}\n\
         destination = {{ type = \"local\", path = \"{root}/out/put\" }}\n\
         [[delivery_streams]]\nname = \"file\"\ncompression = \"none\"\n\
         source = {{ type = \"file\", paths = [\"{root}/input/*.log\"], start_at = \"beginning\", poll_interval_ms = 20 }}\n\
         processors = [{{ type = \"deaggregation\", sub_record_type = \"delimited\", delimiter = \"|\" }}, {{ type = \"append_delimiter\" }}]\n\
         buffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
         destination = {{ type = \"local\", path = \"{root}/out/file\" }}\n",
        root = root.display()
    );
    let path = root.join("sluice.toml");
    std::fs::write(&path, text).expect("config written");
    crate::config::load(Some(&path)).expect("a valid config")
}

/// Every id in the objects under `dir`, counted; error records by their raw data.
fn landed(dir: &Path, counts: &mut BTreeMap<String, usize>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            landed(&path, counts);
            continue;
        }
        if path.to_string_lossy().contains('#') {
            continue; // a staging file of an object write the cut interrupted
        }
        let body = std::fs::read_to_string(&path).expect("objects are text");
        for line in body.lines().filter(|l| !l.is_empty()) {
            let id = if line.starts_with('{') {
                let v: serde_json::Value = serde_json::from_str(line).expect("an error record");
                let raw = v["rawData"].as_str().expect("rawData");
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .expect("base64");
                String::from_utf8(raw)
                    .expect("ids are text")
                    .trim_end()
                    .to_string()
            } else {
                line.to_string()
            };
            *counts.entry(id).or_insert(0) += 1;
        }
    }
}

/// A run across lives: what persists from one life to the next.
struct Run {
    config: Config,
    disk: SimDisk,
    rng: StdRng,
    input: std::path::PathBuf,
    next_id: u32,
    told: Arc<Mutex<Told>>,
    lines: u32,
    full_windows: u32,
}

impl Run {
    /// One life of the daemon, ended by a power cut (`cut`) or a clean stop.
    async fn life(&mut self, cut: bool) {
        let streams = Streams::start_on(&self.config, Arc::new(self.disk.clone()))
            .await
            .expect("streams start on what the disk kept");
        let (stop, stopping) = watch::channel(false);
        let file = streams.get("file").expect("the file stream").clone();
        let SourceConfig::File(source) = file.config().source.clone() else {
            panic!("a file source");
        };
        let tail = tokio::spawn(
            FileTail::open(file, &source)
                .expect("the file source resumes from its checkpoint")
                .run(stopping),
        );
        let put = streams.get("put").expect("the put stream").clone();
        let millis = self.rng.random_range(50..600);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(millis);
        let mut producers = Vec::new();
        let mut full_until = None;
        while tokio::time::Instant::now() < deadline {
            if full_until.is_some_and(|t| tokio::time::Instant::now() >= t) {
                self.disk.set_capacity(None);
                full_until = None;
            }
            match self.rng.random_range(0..10) {
                0 if !cut || full_until.is_some() => {}
                0 => {
                    // The spool's disk fills up for a moment, while puts go on.
                    self.full_windows += 1;
                    let room = self.rng.random_range(0..16 * 1024);
                    self.disk.set_capacity(Some(self.disk.used() + room));
                    let millis = self.rng.random_range(10..150);
                    full_until = Some(tokio::time::Instant::now() + Duration::from_millis(millis));
                }
                1..=3 => self.append_lines(),
                _ => producers.push(self.put(&put)),
            }
            let pause = self.rng.random_range(0..30);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        self.disk.set_capacity(None);
        if cut {
            // The power goes while producers, the source and deliveries are under
            // way; a put not answered yet counts as neither acknowledged nor refused.
            let tear = self.rng.random_bool(0.5);
            self.disk.cut(tear, self.rng.random());
            for p in producers {
                p.abort();
            }
            return; // everything still running dies with the runtime
        }
        for p in producers {
            p.await.expect("producer");
        }
        // A clean stop: the source catches up with the file, then every buffer drains.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = stop.send(true);
        tail.await.expect("file source");
        let left = streams.shutdown(Duration::from_secs(60)).await;
        assert_eq!(left, 0, "records left after a clean stop");
    }

    /// Appends lines to the source's file, synced (the input is not what is tested).
    fn append_lines(&mut self) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.input)
            .expect("input file");
        for _ in 0..self.rng.random_range(1..50) {
            self.lines += 1;
            let parts: Vec<String> = (0..sub_records(self.lines))
                .map(|j| format!("line-{}.{j}", self.lines))
                .collect();
            writeln!(f, "{}", parts.join("|")).expect("input written");
        }
        f.sync_all().expect("input synced");
    }

    /// Puts a batch of new ids; its task notes the answer.
    fn put(&mut self, put: &StreamHandle) -> tokio::task::JoinHandle<()> {
        let n = self.rng.random_range(1..200);
        let ids: Vec<u32> = (self.next_id..self.next_id + n).collect();
        self.next_id += n;
        let records: Vec<Record> = ids
            .iter()
            .map(|id| Record::new(format!("put-{id}\n"), 0))
            .collect();
        let (put, told) = (put.clone(), self.told.clone());
        tokio::spawn(async move {
            let result = put.ingest(records).await;
            let mut told = told.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok(()) => told.acked.extend(ids),
                Err(_) => told.refused.extend(ids),
            }
        })
    }
}

/// `lives` lives ended by power cuts, then a clean one that delivers the rest.
/// Direct puts wait `put_interval` seconds in their buffer (the file source none).
fn run(durability: &str, put_interval: u64, lives: usize, seed: u64) -> Outcome {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("input")).expect("input folder");
    let mut run = Run {
        config: config(root.path(), durability, put_interval),
        disk: SimDisk::new(),
        rng: StdRng::seed_from_u64(seed),
        input: root.path().join("input/app.log"),
        next_id: 0,
        told: Arc::new(Mutex::new(Told::default())),
        lines: 0,
        full_windows: 0,
    };
    for i in 0..=lives {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run.life(i < lives));
        runtime.shutdown_background();
    }
    let mut landed_counts = BTreeMap::new();
    landed(&root.path().join("out"), &mut landed_counts);
    assert_eq!(run.disk.stats().cuts as usize, lives);
    let told = std::mem::take(&mut *run.told.lock().unwrap_or_else(|e| e.into_inner()));
    Outcome {
        told,
        lines: run.lines,
        landed: landed_counts,
        full_windows: run.full_windows,
    }
}

/// How many records line `n` of the file source holds (it is de-aggregated).
fn sub_records(line: u32) -> u32 {
    1 + line % 3
}

/// The ids of the records line `n` becomes.
fn line_ids(line: u32) -> impl Iterator<Item = String> {
    (0..sub_records(line)).map(move |j| format!("line-{line}.{j}"))
}

fn count(o: &Outcome, id: &str) -> usize {
    o.landed.get(id).copied().unwrap_or(0)
}

#[test]
fn with_fsync_every_acknowledged_record_survives_power_cuts_exactly_once() {
    for seed in [1, 2, 3] {
        let o = run("fsync", 0, 12, seed);
        let mut wrong = Vec::new();
        for id in &o.told.acked {
            let n = count(&o, &format!("put-{id}"));
            if n != 1 {
                wrong.push(format!("acknowledged put-{id} landed {n} times"));
            }
        }
        for id in &o.told.refused {
            let n = count(&o, &format!("put-{id}"));
            if n != 0 {
                wrong.push(format!("refused put-{id} landed {n} times"));
            }
        }
        for id in (1..=o.lines).flat_map(line_ids) {
            let n = count(&o, &id);
            if n != 1 {
                wrong.push(format!("{id} landed {n} times"));
            }
        }
        assert!(
            wrong.is_empty(),
            "seed {seed}: {} of {} acknowledged, {} refused, {} lines: {:?}",
            wrong.len(),
            o.told.acked.len(),
            o.told.refused.len(),
            o.lines,
            &wrong[..wrong.len().min(10)]
        );
        assert!(
            o.told.acked.len() > 100 && o.lines > 50,
            "too little was tried"
        );
        eprintln!(
            "seed {seed}: {} acknowledged, {} refused ({} full-disk windows), {} lines: none lost",
            o.told.acked.len(),
            o.told.refused.len(),
            o.full_windows,
            o.lines
        );
    }
}

#[test]
fn with_buffered_durability_a_power_cut_visibly_loses_puts_but_never_checkpointed_lines() {
    let mut lost_any = false;
    for seed in [11, 12, 13] {
        // Puts wait in their buffer past the cut: the unsynced ones are lost.
        let o = run("buffered", 2, 12, seed);
        let lost = o
            .told
            .acked
            .iter()
            .filter(|id| count(&o, &format!("put-{id}")) == 0)
            .count();
        lost_any |= lost > 0;
        for id in (1..=o.lines).flat_map(line_ids) {
            assert!(
                count(&o, &id) >= 1,
                "seed {seed}: {id} was checkpointed and lost"
            );
        }
        eprintln!(
            "seed {seed}: {lost} of {} acknowledged puts lost, {} lines all landed",
            o.told.acked.len(),
            o.lines
        );
    }
    assert!(
        lost_any,
        "buffered puts never lost: the cut cannot see a loss"
    );
}
