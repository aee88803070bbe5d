//! A Kinesis stream (`orders`, two shards) on kinesis-local, read from
//! TRIM_HORIZON.

use std::ops::Range;
use std::path::Path;

use crate::common::{Daemon, KinesisLocal, Table, toml};
use crate::{Feed, lines};

pub struct Kinesis {
    server: KinesisLocal,
}

impl Kinesis {
    /// Puts the records numbered `range`, padded with `pad` bytes, one user
    /// record a Kinesis record (as `kinesis_client.py put` makes them).
    fn put(&self, range: Range<usize>, pad: usize) -> Vec<String> {
        let (first, count) = (range.start.to_string(), range.len().to_string());
        let answer = self
            .server
            .client(&["put", "orders", &first, &count, "1", &pad.to_string()]);
        assert_eq!(answer["failed"], 0, "{answer}");
        lines('k', range, pad)
    }
}

impl Feed for Kinesis {
    fn new() -> Self {
        let server = KinesisLocal::start();
        server.client(&["create", "orders", "2"]);
        Self { server }
    }

    fn source(&self) -> Option<Table> {
        let mut source = toml! {
            type = "kinesis"
            stream_name = "orders"
            starting_position = "TRIM_HORIZON"
            access_key_id = "AKTEST"
            secret_access_key = "secret"
            idle_poll_ms = 100
        };
        source.insert("endpoint".into(), self.server.endpoint.clone().into());
        Some(source)
    }

    fn produce(&mut self, _d: &Daemon, range: Range<usize>, pad: usize) -> Vec<String> {
        self.put(range, pad)
    }

    fn produce_while_stopped(&mut self, _dir: &Path, range: Range<usize>) -> Vec<String> {
        self.put(range, 0)
    }

    /// One Kinesis record of `bytes` bytes: Kinesis takes up to 1 MiB, Firehose
    /// 1,000 KiB.
    fn produce_oversized(&mut self, _d: &Daemon, bytes: usize) -> Vec<u8> {
        self.server
            .client(&["put-big", "orders", &bytes.to_string()]);
        let mut data = vec![b'x'; bytes - 1];
        data.push(b'\n');
        data
    }
}

crate::suite!(Kinesis:
    records_taken_before_a_kill_are_delivered_once,
    a_restart_resumes_where_it_stopped,
    an_oversized_record_goes_to_the_error_output_and_the_rest_on,
    a_stop_delivers_everything_taken,
    a_full_spool_pauses_the_source_and_nothing_is_dropped,
);
