//! A Kafka topic (`orders`, three partitions) on tansu, read from the earliest
//! offset by the group `sluice`.

use std::ops::Range;
use std::path::Path;

use crate::Feed;
use crate::common::{Daemon, Kafka as Broker, Table, toml};

pub struct Kafka {
    broker: Broker,
}

impl Feed for Kafka {
    fn new() -> Self {
        let broker = Broker::start();
        broker.create_topic("orders", 3);
        Self { broker }
    }

    fn source(&self) -> Option<Table> {
        let mut source = toml! {
            type = "kafka"
            topic = "orders"
            group_id = "sluice"
            start = "earliest"
            session_timeout_ms = 6000
            commit_interval_ms = 200
        };
        source.insert(
            "bootstrap_servers".into(),
            vec![self.broker.address.clone()].into(),
        );
        Some(source)
    }

    fn produce(&mut self, _d: &Daemon, range: Range<usize>, pad: usize) -> Vec<String> {
        self.broker.produce("orders", "m", range, pad)
    }

    fn produce_while_stopped(&mut self, _dir: &Path, range: Range<usize>) -> Vec<String> {
        self.broker.produce("orders", "m", range, 0)
    }

    /// One message of `bytes` bytes, over Firehose's limit, under Kafka's.
    fn produce_oversized(&mut self, _d: &Daemon, bytes: usize) -> Vec<u8> {
        let answer = self
            .broker
            .client(&["produce-big", "orders", &bytes.to_string()]);
        assert_eq!(answer["failed"], 0, "{answer}");
        let mut data = vec![b'x'; bytes - 1];
        data.push(b'\n');
        data
    }
}

crate::suite!(Kafka:
    records_taken_before_a_kill_are_delivered_once,
    a_restart_resumes_where_it_stopped,
    an_oversized_record_goes_to_the_error_output_and_the_rest_on,
    a_stop_delivers_everything_taken,
    a_full_spool_pauses_the_source_and_nothing_is_dropped,
);
