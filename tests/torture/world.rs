//! What a torture seed fixes once for its whole run: the destination and its
//! servers, the record format, the plugin, and whether the spool lives on a
//! small disk that the run fills up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::receiver::{Receiver, Reply};
use crate::common::*;
use crate::{objects, records};

/// Where a seed's records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    Local,
    S3,
    Http,
}

/// The plugin a seed's stream runs, and what it does to each record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plugin {
    None,
    /// `tests/plugins/hostile_keys.c`: partition keys no store takes, drops, failures.
    Hostile,
    /// `transforms/examples/c-noop`: every record unchanged.
    Noop,
    /// `transforms/examples/c-drop`: drops the records that contain `needle`
    /// (or, inverted, the ones that do not).
    Drop {
        needle: String,
        invert: bool,
    },
    /// `transforms/examples/js-enrich`: JSON records gain fields and lose the
    /// redacted one; others fail.
    Enrich {
        redact: bool,
    },
    /// `transforms/examples/py-partition`: a partition key from each record's `k`.
    Partition,
    /// `transforms/examples/py-cloudwatch`: one line per log event of a
    /// CloudWatch Logs message; control messages dropped, others fail.
    CloudWatch,
    /// No plugin: the built-in `decompression` and `cloudwatch_logs` (and
    /// sometimes `deaggregation` and `append_delimiter`) unpack CloudWatch Logs
    /// messages before the spool; control messages leave nothing, and records
    /// that are not gzip go to the error output as received.
    Unpack {
        deaggregation: bool,
        delimiter: bool,
    },
    /// No plugin: the built-in `metadata_extraction` makes the key `k` from each
    /// record's `k` (records that are not JSON or lack it fail), and sometimes
    /// `append_delimiter` ends each record with a newline.
    Query {
        delimiter: bool,
    },
}

impl Plugin {
    /// Whether the plugin gives the partition key `k` the prefix then uses.
    pub fn keys(&self) -> bool {
        matches!(self, Self::Hostile | Self::Partition | Self::Query { .. })
    }

    /// The prefix expression of the key `k`.
    pub fn key_expression(&self) -> &'static str {
        match self {
            Self::Query { .. } => "!{partitionKeyFromQuery:k}",
            _ => "!{partitionKeyFromLambda:k}",
        }
    }

    /// The `processors` line of the stream's config.
    pub fn processors(&self) -> String {
        let (module, params) = match self {
            Self::None => return String::new(),
            Self::Unpack {
                deaggregation,
                delimiter,
            } => {
                let mut processors = vec![
                    r#"{ type = "cloudwatch_logs", data_message_extraction = true }"#,
                    r#"{ type = "decompression" }"#,
                ];
                if *deaggregation {
                    processors.push(r#"{ type = "deaggregation", sub_record_type = "json" }"#);
                }
                if *delimiter {
                    processors.push(r#"{ type = "append_delimiter" }"#);
                }
                return format!("processors = [{}]\n", processors.join(", "));
            }
            Self::Query { delimiter } => {
                let delimiter = if *delimiter {
                    ", { type = \"append_delimiter\" }"
                } else {
                    ""
                };
                return format!(
                    "processors = [{{ type = \"metadata_extraction\", query = '{{k: .k}}' }}{delimiter}]\n"
                );
            }
            Self::Hostile => ("hostile_keys", String::new()),
            Self::Noop => ("c-noop", String::new()),
            Self::Drop { needle, invert } => (
                "c-drop",
                format!(", params = {{ contains = {needle:?}, invert = \"{invert}\" }}"),
            ),
            Self::Enrich { redact } => (
                "js-enrich",
                format!(
                    ", params = {{ \"add.src\" = \"torture\"{} }}",
                    if *redact { ", redact = \"p\"" } else { "" }
                ),
            ),
            Self::Partition => ("py-partition", ", params = { fields = \"k\" }".into()),
            Self::CloudWatch => ("py-cloudwatch", String::new()),
        };
        let module = plugins().join(format!("{module}.wasm"));
        format!(
            "processors = [{{ type = \"wasm\", module = \"{}\"{params} }}]\n",
            module.display()
        )
    }

    /// How many copies of its id a record puts in the destination or the error
    /// output once delivered: none if the plugin drops it.
    fn copies(&self, record: &[u8]) -> usize {
        match self {
            Self::Hostile => usize::from(!hostile_drops(record)),
            Self::Drop { needle, invert } => {
                let needle = needle.as_bytes();
                let found = record.windows(needle.len()).any(|w| w == needle);
                usize::from(found == *invert)
            }
            _ => 1,
        }
    }
}

/// Whether the hostile plugin drops this record (see `tests/plugins/hostile_keys.c`).
fn hostile_drops(record: &[u8]) -> bool {
    record.get(12).copied().unwrap_or(2) % 16 == 0
}

/// A spool folder on its own small tmpfs, mounted in a user and mount namespace
/// that a holder process keeps alive across the daemon's restarts (so no root is
/// needed, and the spool survives a kill -9). The test fills it from outside
/// through the holder's `/proc/PID/root`.
pub struct SmallDisk {
    holder: Child,
    spool: PathBuf,
}

/// The tmpfs's size: room for a few MiB of buffers, little more.
const SMALL_DISK_MB: u32 = 24;

impl SmallDisk {
    /// Mounts the tmpfs on `<dir>/data/spool` (the default spool folder), with
    /// the shared plugin cache linked into it.
    fn mount(dir: &Path) -> Self {
        let spool = dir.join("data/spool");
        std::fs::create_dir_all(&spool).expect("spool folder");
        let mut holder = Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={SMALL_DISK_MB}m tmpfs \"$0\" && ln -s \"$1\" \"$0/plugin-cache\" \
                 && echo mounted && exec sleep 100000"
            ))
            .arg(&spool)
            .arg(plugin_cache())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) mounts the small disk");
        let mut line = String::new();
        let stdout = holder.stdout.take().expect("piped");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("read the holder's answer");
        assert_eq!(
            line.trim(),
            "mounted",
            "the small disk was not mounted (user namespaces must be allowed)"
        );
        Self { holder, spool }
    }

    /// The command that runs the daemon inside the holder's namespaces, in `dir`.
    fn wrapper(&self, dir: &Path) -> Vec<String> {
        vec![
            "nsenter".into(),
            format!("--target={}", self.holder.id()),
            "--user".into(),
            "--mount".into(),
            "--preserve-credentials".into(),
            format!("--wd={}", dir.display()),
            "--".into(),
        ]
    }

    /// The ballast file, as the test reaches it from outside the namespace.
    fn ballast(&self) -> PathBuf {
        let inside = self.spool.join("ballast");
        Path::new(&format!("/proc/{}/root", self.holder.id())).join(
            inside
                .strip_prefix("/")
                .expect("the spool path is absolute"),
        )
    }

    /// Fills what is left of the disk.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.ballast()).expect("create the ballast");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        // The last partial chunk, byte by byte down to the last page.
        while f.write_all(&chunk[..512]).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.ballast()).expect("remove the ballast");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Compiled plugins, shared by every seed's daemon so that each JavaScript or
/// Python runtime is compiled once per build, not once per seed.
fn plugin_cache() -> PathBuf {
    let cache = tools().cache().join("torture-plugin-cache");
    std::fs::create_dir_all(&cache).expect("plugin cache folder");
    cache
}

/// What a seed fixes once, and the servers its destination needs.
pub struct World {
    pub dest: Dest,
    pub parquet: bool,
    pub plugin: Plugin,
    seaweed: Option<Seaweed>,
    receiver: Option<Receiver>,
    small_disk: Option<SmallDisk>,
    /// The destination is failing (SeaweedFS down, or the receiver answering badly).
    outage: bool,
    /// The spool is on a small disk (mounted at the first start).
    small_disk_drawn: bool,
    /// The small disk is full.
    full: bool,
    /// Draws added after worlds were: from their own stream, so the configs,
    /// records and faults a seed drew before replay unchanged.
    later: std::cell::RefCell<StdRng>,
}

impl World {
    pub fn draw(rng: &mut StdRng) -> Self {
        let dest = match rng.random_range(0..10) {
            0..=5 => Dest::Local,
            6..=7 => Dest::S3,
            _ => Dest::Http,
        };
        let objects = dest != Dest::Http;
        let parquet = objects && rng.random_bool(0.25);
        let plugin = objects && rng.random_bool(0.3);
        let seaweed = (dest == Dest::S3).then(Seaweed::start);
        let receiver = (dest == Dest::Http).then(|| Receiver::start(&[]));
        let mut later = StdRng::seed_from_u64(rng.random());
        let plugin = match (plugin, later.random_range(0..14)) {
            (false, _) => Plugin::None,
            (true, 0..=4) => Plugin::Hostile,
            (true, 5) => Plugin::Noop,
            (true, 6..=7) => Plugin::Drop {
                needle: if parquet { "a7" } else { "~" }.into(),
                invert: later.random_bool(0.3),
            },
            (true, 8..=9) => Plugin::Enrich {
                redact: later.random_bool(0.5),
            },
            // Its events are lines, not one JSON object a record; the built-in
            // processors unpack the same messages.
            (true, 10) if !parquet => {
                if later.random_bool(0.5) {
                    Plugin::Unpack {
                        deaggregation: later.random_bool(0.5),
                        delimiter: later.random_bool(0.5),
                    }
                } else {
                    Plugin::CloudWatch
                }
            }
            (true, 11) => Plugin::Query {
                delimiter: !parquet && later.random_bool(0.5),
            },
            (true, _) => Plugin::Partition,
        };
        Self {
            dest,
            parquet,
            plugin,
            seaweed,
            receiver,
            small_disk: None,
            outage: false,
            full: false,
            small_disk_drawn: later.random_bool(0.25),
            later: std::cell::RefCell::new(later),
        }
    }

    /// Records through `plugin` into a local folder.
    pub fn local_with(plugin: Plugin) -> Self {
        Self {
            plugin,
            ..Self::local()
        }
    }

    /// Raw records into a local folder: the only world before worlds were drawn.
    pub fn local() -> Self {
        Self {
            dest: Dest::Local,
            parquet: false,
            plugin: Plugin::None,
            seaweed: None,
            receiver: None,
            small_disk: None,
            outage: false,
            full: false,
            small_disk_drawn: false,
            later: std::cell::RefCell::new(StdRng::seed_from_u64(0)),
        }
    }

    pub fn describe(&self) -> String {
        let plugin = match &self.plugin {
            Plugin::None => String::new(),
            p => format!(", plugin {p:?}"),
        };
        format!(
            "{:?}{}{plugin}{}",
            self.dest,
            if self.parquet { ", parquet" } else { "" },
            if self.small_disk_drawn {
                format!(", {SMALL_DISK_MB} MiB spool disk")
            } else {
                String::new()
            }
        )
    }

    /// The S3 server's endpoint or the HTTP receiver's URL (empty for a local folder).
    pub fn endpoint(&self) -> String {
        match (&self.seaweed, &self.receiver) {
            (Some(s3), _) => s3.endpoint.clone(),
            (_, Some(receiver)) => receiver.url(),
            _ => String::new(),
        }
    }

    /// A draw from the world's own stream (see `later`).
    pub fn later<T>(&self, draw: impl FnOnce(&mut StdRng) -> T) -> T {
        draw(&mut self.later.borrow_mut())
    }

    /// A record for this world, and how many copies of its id it delivers.
    pub fn record(&self, rng: &mut StdRng, id: u32) -> (Vec<u8>, usize) {
        let record = match (&self.plugin, self.parquet) {
            (Plugin::CloudWatch | Plugin::Unpack { .. }, _) => {
                return records::cloudwatch(rng, id);
            }
            (Plugin::Partition | Plugin::Query { .. }, _) => records::keyed_json(rng, id),
            (Plugin::Enrich { .. }, _) | (_, true) => records::json(rng, id),
            _ => records::binary(rng, id),
        };
        let copies = self.plugin.copies(&record);
        (record, copies)
    }

    /// Starts the daemon on `dir` (on the small disk if the world has one).
    pub fn start(&mut self, dir: tempfile::TempDir, config: &str) -> Daemon {
        if self.small_disk_drawn && self.small_disk.is_none() {
            self.small_disk = Some(SmallDisk::mount(dir.path()));
        }
        let wrapper = match &self.small_disk {
            Some(disk) => disk.wrapper(dir.path()),
            None => {
                let spool = dir.path().join("data/spool");
                std::fs::create_dir_all(&spool).expect("spool folder");
                let link = spool.join("plugin-cache");
                if !link.exists() {
                    std::os::unix::fs::symlink(plugin_cache(), link).expect("link the cache");
                }
                Vec::new()
            }
        };
        Daemon::start_wrapped(dir, config, &[], &wrapper)
    }

    /// Starts or ends a destination outage; returns whether one started.
    pub fn toggle_outage(&mut self, rng: &mut StdRng) -> bool {
        self.outage = !self.outage;
        if let Some(s3) = &mut self.seaweed {
            if self.outage {
                s3.kill();
            } else {
                s3.run();
            }
        }
        if let Some(receiver) = &self.receiver {
            receiver.set_mode(if self.outage {
                [
                    Reply::Status(500),
                    Reply::Slow(Duration::from_millis(1500)),
                    Reply::NotJson,
                ][rng.random_range(0..3)]
            } else {
                Reply::Ok
            });
        }
        self.outage
    }

    /// Fills the small disk or frees it, if the world has one; returns whether
    /// it filled it.
    pub fn toggle_full(&mut self) -> bool {
        let Some(disk) = &self.small_disk else {
            return false;
        };
        self.full = !self.full;
        if self.full {
            disk.fill();
        } else {
            disk.free();
        }
        self.full
    }

    /// Ends every fault still on.
    pub fn end_faults(&mut self, rng: &mut StdRng) {
        if self.outage {
            self.toggle_outage(rng);
        }
        if self.full {
            self.toggle_full();
        }
    }

    /// Where each id landed (object keys, or request ids): in the destination
    /// (for an HTTP endpoint, in the requests it accepted) and in the error output.
    pub fn landed(&self, d: &Daemon) -> BTreeMap<u32, Vec<String>> {
        let mut found = objects::landed(objects(&d.path("out")));
        if let Some(s3) = &self.seaweed {
            let objects = s3.objects(BUCKET).into_iter().map(|o| (o.key, o.body));
            for (id, keys) in objects::landed(objects.collect()) {
                found.entry(id).or_default().extend(keys);
            }
        }
        if let Some(receiver) = &self.receiver {
            for seen in receiver.seen().into_iter().filter(|s| s.accepted) {
                for r in &seen.records {
                    for id in records::ids(r, &seen.request_id) {
                        let at = format!("request {}", seen.request_id);
                        found.entry(id).or_default().push(at);
                    }
                }
            }
        }
        found
    }
}
