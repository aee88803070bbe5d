//! The API's direct PUT: PutRecordBatch, 100 records a request.

use std::ops::Range;

use crate::common::{Daemon, Table, put_batch};
use crate::{Feed, lines};

pub struct DirectPut;

impl Feed for DirectPut {
    fn new() -> Self {
        Self
    }

    fn source(&self) -> Option<Table> {
        None
    }

    /// Every record is acknowledged (a request that is not fails the test).
    fn produce(&mut self, d: &Daemon, range: Range<usize>, pad: usize) -> Vec<String> {
        let lines = lines('d', range, pad);
        for chunk in lines.chunks(100) {
            assert!(put_batch(d.addr, "s", chunk), "{}", d.log());
        }
        lines
    }
}

crate::suite!(DirectPut:
    records_taken_before_a_kill_are_delivered_once,
    a_stop_delivers_everything_taken,
);
