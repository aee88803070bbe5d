//! A tailed log file (`{dir}/logs/a.log`), read from its beginning.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use crate::common::{Daemon, Table, toml};
use crate::{Feed, lines};

pub struct File;

/// Appends the lines numbered `range` to the daemon folder's log.
fn append(dir: &Path, range: Range<usize>, pad: usize) -> Vec<String> {
    let lines = lines('f', range, pad);
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("logs/a.log"))
        .expect("the log");
    log.write_all(lines.concat().as_bytes())
        .expect("lines appended");
    lines
}

impl Feed for File {
    fn new() -> Self {
        Self
    }

    fn source(&self) -> Option<Table> {
        Some(toml! {
            type = "file"
            paths = ["{dir}/logs/*.log"]
            start_at = "beginning"
            poll_interval_ms = 50
        })
    }

    fn prepare(&self, dir: &Path) {
        std::fs::create_dir_all(dir.join("logs")).expect("logs folder");
    }

    fn produce(&mut self, d: &Daemon, range: Range<usize>, pad: usize) -> Vec<String> {
        append(d.dir.path(), range, pad)
    }

    fn produce_while_stopped(&mut self, dir: &Path, range: Range<usize>) -> Vec<String> {
        append(dir, range, 0)
    }

    /// A line of `bytes` bytes (its pieces go to the error output).
    fn produce_oversized(&mut self, d: &Daemon, bytes: usize) -> Vec<u8> {
        let line = format!("{}\n", "x".repeat(bytes - 1));
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(d.path("logs/a.log"))
            .expect("the log");
        log.write_all(line.as_bytes()).expect("line appended");
        line.into_bytes()
    }
}

crate::suite!(File:
    records_taken_before_a_kill_are_delivered_once,
    a_restart_resumes_where_it_stopped,
    an_oversized_record_goes_to_the_error_output_and_the_rest_on,
    a_stop_delivers_everything_taken,
    a_full_spool_pauses_the_source_and_nothing_is_dropped,
);
