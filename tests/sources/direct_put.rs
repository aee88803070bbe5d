//! The API's direct PUT: PutRecordBatch, 100 records a request.

use std::ops::Range;

use crate::Feed;
use crate::common::{Daemon, put_batch};

pub struct DirectPut;

impl Feed for DirectPut {
    fn new() -> Self {
        Self
    }

    fn source(&self) -> String {
        String::new()
    }

    /// Every record is acknowledged (a request that is not fails the test).
    fn produce(&mut self, d: &Daemon, range: Range<usize>) -> Vec<String> {
        let lines: Vec<String> = range.map(|i| format!("d{i}\n")).collect();
        for chunk in lines.chunks(100) {
            assert!(put_batch(d.addr, "s", chunk), "{}", d.log());
        }
        lines
    }
}

crate::suite!(DirectPut: records_taken_before_a_kill_are_delivered_once);
