//! One behavioural suite, run against every source (a tailed file, a Kinesis
//! stream on kinesis-local, a Kafka topic on tansu, standard input, the API's
//! direct PUT): what the source contract
//! (`src/sources/mod.rs`) promises whatever the source reads.
//! - records a source took before a kill -9 are delivered once after the
//!   restart, with what it takes after;
//! - a source stopped and started again resumes where it stopped: what came
//!   while it was stopped is delivered, what it had delivered is not again
//!   (sources that pull; the API refuses what is sent while it is down);
//! - a record over Firehose's limit goes to the error output
//!   (`record-too-large`, its raw data whole across its pieces) and the records
//!   after it are delivered (sources that read such records; the API refuses
//!   them to the producer, as `tests/direct_put.rs` checks);
//! - told to stop, a source hands over what it took and the stop delivers it;
//! - a full spool pauses a source and nothing is dropped: once the
//!   destination takes objects again, every record arrives once (sources that
//!   pull; the API answers `Slow down.` instead, as `tests/limits.rs` checks).
//!
//! The behaviours are written once, here, against [`Feed`]; each source is an
//! adapter in a file of its own that runs them with [`suite!`]. Standard
//! input has nothing to resume from (a pipe's unread bytes die with it), so
//! the kill and restart behaviours do not apply to it; its end of input is
//! tested in `file_source.rs`.

#[path = "../common/mod.rs"]
mod common;
mod direct_put;
mod file;
mod kafka;
mod kinesis;
mod stdin;

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use common::*;

/// A source under test: its config and a producer on its far side.
pub trait Feed: Sized {
    fn new() -> Self;

    /// The stream's `source` table (`None` for direct PUT, the default);
    /// `{dir}` is the daemon's folder.
    fn source(&self) -> Option<Table>;

    /// Readies the daemon's folder `dir` before the first start.
    fn prepare(&self, _dir: &Path) {}

    /// Sends the records numbered `range` through the source while `d` runs,
    /// each padded with `pad` bytes ([`lines`]); returns the lines that must
    /// land (every one acknowledged).
    fn produce(&mut self, d: &Daemon, range: Range<usize>, pad: usize) -> Vec<String>;

    /// Sends the records numbered `range` while the daemon (its folder `dir`)
    /// is stopped, for a source that pulls them when it starts again.
    fn produce_while_stopped(&mut self, _dir: &Path, _range: Range<usize>) -> Vec<String> {
        panic!("this source takes nothing while the daemon is stopped")
    }

    /// Sends one record of `bytes` bytes, over the record limit; returns its
    /// data.
    fn produce_oversized(&mut self, _d: &Daemon, _bytes: usize) -> Vec<u8> {
        panic!("this source cannot read a record over the limit")
    }
}

/// The records numbered `range`: `tag`, the number, `pad` bytes of `p` and a
/// newline.
pub fn lines(tag: char, range: Range<usize>, pad: usize) -> Vec<String> {
    let padding = "p".repeat(pad);
    range.map(|i| format!("{tag}{i}{padding}\n")).collect()
}

/// Runs the named behaviours of the suite against the adapter `$feed`.
#[macro_export]
macro_rules! suite {
    ($feed:ty: $($behaviour:ident),* $(,)?) => {$(
        #[test]
        fn $behaviour() {
            $crate::$behaviour::<$feed>()
        }
    )*};
}

/// One stream `s` reading `feed` into `{dir}/out`, delivering at once.
fn config<F: Feed>(feed: &F) -> String {
    config_with(feed, Table::new(), 0)
}

/// As [`config`], with `spool` keys set in `[spool]` and buffers sealed after
/// `interval` seconds.
fn config_with<F: Feed>(feed: &F, spool: Table, interval: i64) -> String {
    let mut stream = Stream::new("s").buffering(1, interval).errors_by_type();
    if let Some(source) = feed.source() {
        stream = stream.source(source);
    }
    Conf::new().merge("spool", spool).stream(stream).text()
}

fn start<F: Feed>(feed: &F) -> Daemon {
    start_with(feed, &config(feed))
}

fn start_with<F: Feed>(feed: &F, config: &str) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    feed.prepare(dir.path());
    Daemon::start_in(dir, config)
}

/// The records stream `s` has taken into its spool so far.
fn taken(d: &Daemon) -> f64 {
    metric(d, "sluice_incoming_records_total{stream=\"s\"}").unwrap_or(0.0)
}

/// Records taken before a kill -9 (read, maybe spooled, maybe not
/// checkpointed) are delivered once after the restart, with those after it.
pub fn records_taken_before_a_kill_are_delivered_once<F: Feed>() {
    let mut feed = F::new();
    let d = start(&feed);
    let mut expected = feed.produce(&d, 0..500, 0);
    let dir = d.into_dir(); // SIGKILL, while the source is at work
    let d = Daemon::start_in(dir, &config(&feed));
    expected.extend(feed.produce(&d, 500..1000, 0));
    assert_delivered_once(&d, &expected);
}

/// A source stopped and started again resumes where it stopped.
pub fn a_restart_resumes_where_it_stopped<F: Feed>() {
    let mut feed = F::new();
    let mut d = start(&feed);
    let mut expected = feed.produce(&d, 0..300, 0);
    assert_delivered_once(&d, &expected);
    assert!(d.stop().success(), "{}", d.log());
    let dir = d.into_dir();
    expected.extend(feed.produce_while_stopped(dir.path(), 300..600));
    let d = Daemon::start_in(dir, &config(&feed));
    expected.extend(feed.produce(&d, 600..900, 0));
    assert_delivered_once(&d, &expected);
}

/// A record over the limit goes to the error output, whole, and what follows
/// it is delivered.
pub fn an_oversized_record_goes_to_the_error_output_and_the_rest_on<F: Feed>() {
    let mut feed = F::new();
    let d = start(&feed);
    let mut expected = feed.produce(&d, 0..5, 0);
    // Over Firehose's 1,000 KiB, under the 1 MiB that Kinesis takes.
    let big = feed.produce_oversized(&d, 1_040_000);
    expected.extend(feed.produce(&d, 5..10, 0));
    assert_delivered_once(&d, &expected);
    let raw = |record: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(record["rawData"].as_str().expect("rawData"))
            .expect("base64")
    };
    let pieces = eventually(
        Duration::from_secs(30),
        || format!("{} bytes in the error output:\n{}", big.len(), d.log()),
        || {
            let pieces: Vec<Vec<u8>> = error_records(&d, "record-too-large")
                .iter()
                .map(raw)
                .collect();
            (pieces.iter().map(Vec::len).sum::<usize>() >= big.len()).then_some(pieces)
        },
    );
    // Pieces written within one second have no order by key: the one that ends
    // the record goes last.
    let mut pieces = pieces;
    pieces.sort_by_key(|p| p.ends_with(b"\n"));
    assert_eq!(
        pieces.concat(),
        big,
        "the record's raw data, whole and once"
    );
}

/// Told to stop, a source hands over what it took, and the stop delivers it:
/// with buffers held for 15 minutes, nothing is delivered before the stop.
pub fn a_stop_delivers_everything_taken<F: Feed>() {
    let mut feed = F::new();
    let mut d = start_with(&feed, &config_with(&feed, Table::new(), 900));
    let expected = feed.produce(&d, 0..400, 0);
    eventually(
        Duration::from_secs(30),
        || format!("400 records taken:\n{}", d.log()),
        || (taken(&d) >= 400.0).then_some(()),
    );
    assert!(
        delivered(&d.path("out")).is_empty(),
        "held buffers were delivered before the stop"
    );
    assert!(d.stop().success(), "{}", d.log());
    assert_delivered_once(&d, &expected);
}

/// A full spool pauses the source and drops nothing: while the destination
/// cannot take objects (its folder is a file), the 1 MiB spool fills and the
/// source is refused (`sluice_throttled_records_total`); once the folder is
/// back, every record arrives once.
pub fn a_full_spool_pauses_the_source_and_nothing_is_dropped<F: Feed>() {
    let mut feed = F::new();
    let d = start_with(&feed, &config_with(&feed, toml! { max_size_mb = 1 }, 0));
    let out = d.path("out");
    std::fs::remove_dir_all(&out).expect("out folder removed");
    std::fs::write(&out, b"").expect("a file in the folder's place");
    // 3,000 records of about 1 KiB: three times the spool. The first hundred
    // go in first: a spool holding nothing undelivered takes an append of any
    // size (else a record larger than the spool could never be taken), and a
    // source may read all that is there in one piece.
    let mut expected = feed.produce(&d, 0..100, 1000);
    eventually(
        Duration::from_secs(30),
        || format!("100 records taken:\n{}", d.log()),
        || (taken(&d) >= 100.0).then_some(()),
    );
    expected.extend(feed.produce(&d, 100..3000, 1000));
    eventually(
        Duration::from_secs(60),
        || {
            format!(
                "the spool to refuse the source ({} records taken):\n{}",
                taken(&d),
                d.log()
            )
        },
        || metric(&d, "sluice_throttled_records_total{stream=\"s\"}").filter(|n| *n > 0.0),
    );
    assert!(
        taken(&d) < 3000.0,
        "the source took every record into a 1 MiB spool"
    );
    std::fs::remove_file(&out).expect("the file removed");
    std::fs::create_dir(&out).expect("out folder back");
    // Failed deliveries are retried with a backoff of up to two minutes.
    assert_delivered_once_within(&d, &expected, Duration::from_secs(180));
}
