//! One behavioural suite, run against every source (a tailed file, a Kinesis
//! stream on kinesis-local, the API's direct PUT): what the source contract
//! (`src/sources/mod.rs`) promises whatever the source reads.
//! - records a source took before a kill -9 are delivered once after the
//!   restart, with what it takes after;
//! - a source stopped and started again resumes where it stopped: what came
//!   while it was stopped is delivered, what it had delivered is not again
//!   (sources that pull; the API refuses what is sent while it is down);
//! - a record over Firehose's limit goes to the error output
//!   (`record-too-large`, its raw data whole across its pieces) and the records
//!   after it are delivered (sources that read such records; the API refuses
//!   them to the producer, as `tests/direct_put.rs` checks).
//!
//! The behaviours are written once, here, against [`Feed`]; each source is an
//! adapter in a file of its own that runs them with [`suite!`]. Standard
//! input has nothing to resume from; its end of input is tested in
//! `file_source.rs`.

#[path = "../common/mod.rs"]
mod common;
mod direct_put;
mod file;
mod kinesis;

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use common::*;

/// A source under test: its config and a producer on its far side.
pub trait Feed: Sized {
    fn new() -> Self;

    /// The stream's `source = ...` line (empty for direct PUT); `{dir}` is
    /// the daemon's folder.
    fn source(&self) -> String;

    /// Readies the daemon's folder `dir` before the first start.
    fn prepare(&self, _dir: &Path) {}

    /// Sends the records numbered `range` through the source while `d` runs;
    /// returns the lines that must land (every one acknowledged).
    fn produce(&mut self, d: &Daemon, range: Range<usize>) -> Vec<String>;

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
    format!(
        "[server]\nlisten = \"{{listen}}\"\n[[delivery_streams]]\nname = \"s\"\n{}\n\
         buffering = {{ size_mb = 1, interval_seconds = 0 }}\n\
         destination = {{ type = \"local\", path = \"{{dir}}/out\", \
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\" }}\n",
        feed.source()
    )
}

fn start<F: Feed>(feed: &F) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    feed.prepare(dir.path());
    Daemon::start_in(dir, &config(feed))
}

/// Records taken before a kill -9 (read, maybe spooled, maybe not
/// checkpointed) are delivered once after the restart, with those after it.
pub fn records_taken_before_a_kill_are_delivered_once<F: Feed>() {
    let mut feed = F::new();
    let d = start(&feed);
    let mut expected = feed.produce(&d, 0..500);
    let dir = d.into_dir(); // SIGKILL, while the source is at work
    let d = Daemon::start_in(dir, &config(&feed));
    expected.extend(feed.produce(&d, 500..1000));
    assert_delivered_once(&d, &expected);
}

/// A source stopped and started again resumes where it stopped.
pub fn a_restart_resumes_where_it_stopped<F: Feed>() {
    let mut feed = F::new();
    let mut d = start(&feed);
    let mut expected = feed.produce(&d, 0..300);
    assert_delivered_once(&d, &expected);
    assert!(d.stop().success(), "{}", d.log());
    let dir = d.into_dir();
    expected.extend(feed.produce_while_stopped(dir.path(), 300..600));
    let d = Daemon::start_in(dir, &config(&feed));
    expected.extend(feed.produce(&d, 600..900));
    assert_delivered_once(&d, &expected);
}

/// A record over the limit goes to the error output, whole, and what follows
/// it is delivered.
pub fn an_oversized_record_goes_to_the_error_output_and_the_rest_on<F: Feed>() {
    let mut feed = F::new();
    let d = start(&feed);
    let mut expected = feed.produce(&d, 0..5);
    // Over Firehose's 1,000 KiB, under the 1 MiB that Kinesis takes.
    let big = feed.produce_oversized(&d, 1_040_000);
    expected.extend(feed.produce(&d, 5..10));
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
