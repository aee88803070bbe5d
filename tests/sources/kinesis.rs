//! A Kinesis stream (`orders`, two shards) on kinesis-local, read from
//! TRIM_HORIZON.

use std::ops::Range;
use std::path::Path;

use crate::Feed;
use crate::common::{Daemon, KinesisLocal};

pub struct Kinesis {
    server: KinesisLocal,
}

impl Kinesis {
    /// Puts the records numbered `range` (`k<i>\n`, as `kinesis_client.py put`
    /// makes them).
    fn put(&self, range: Range<usize>) -> Vec<String> {
        let (first, count) = (range.start.to_string(), range.len().to_string());
        let answer = self.server.client(&["put", "orders", &first, &count, "1"]);
        assert_eq!(answer["failed"], 0, "{answer}");
        range.map(|i| format!("k{i}\n")).collect()
    }
}

impl Feed for Kinesis {
    fn new() -> Self {
        let server = KinesisLocal::start();
        server.client(&["create", "orders", "2"]);
        Self { server }
    }

    fn source(&self) -> String {
        format!(
            "source = {{ type = \"kinesis\", stream_name = \"orders\", endpoint = \"{}\", \
             starting_position = \"TRIM_HORIZON\", access_key_id = \"AKTEST\", \
             secret_access_key = \"secret\", idle_poll_ms = 100 }}",
            self.server.endpoint
        )
    }

    fn produce(&mut self, _d: &Daemon, range: Range<usize>) -> Vec<String> {
        self.put(range)
    }

    fn produce_while_stopped(&mut self, _dir: &Path, range: Range<usize>) -> Vec<String> {
        self.put(range)
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
);
