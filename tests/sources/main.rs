//! One behavioural suite, run against every source (a tailed file, a Kinesis
//! stream on kinesis-local, the API's direct PUT): what the source contract
//! (`src/sources/mod.rs`) promises whatever the source reads.
//! - records a source took before a kill -9 are delivered once after the
//!   restart, with what it takes after;
//! - a source stopped and started again resumes where it stopped: what came
//!   while it was stopped is delivered, what it had delivered is not again
//!   (sources that pull; the API refuses what is sent while it is down).
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
         destination = {{ type = \"local\", path = \"{{dir}}/out\" }}\n",
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
