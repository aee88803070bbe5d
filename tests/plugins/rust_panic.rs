//! Test plugin: a Rust panic fails the call, and its message (logged at level 0 by
//! the SDK's panic hook) reaches the error record. Records are echoed, but for
//! "panic", which panics.

mod sluice_transform;

use sluice_transform::{Answer, Params, Plugin, Record};

struct Echo;

impl Plugin for Echo {
    fn setup(_params: Params) -> Result<Self, String> {
        Ok(Echo)
    }

    fn record(&mut self, record: &Record) -> Answer {
        if record.data.starts_with(b"panic") {
            panic!("boom panicked in rust on record {}", record.id);
        }
        Answer::ok(record.data.clone())
    }
}

sluice_transform::export_plugin!(Echo);
