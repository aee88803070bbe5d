//! Firehose's `AppendDelimiterToRecord`: a delimiter (a newline by default) after
//! each record, so objects of records sent without one read as JSON lines.

use super::{Batch, Processor};

pub struct AppendDelimiter {
    delimiter: Vec<u8>,
}

impl AppendDelimiter {
    pub fn new(delimiter: &[u8]) -> Self {
        Self {
            delimiter: delimiter.to_vec(),
        }
    }
}

impl Processor for AppendDelimiter {
    fn firehose_type(&self) -> &'static str {
        "AppendDelimiterToRecord"
    }

    fn process(&mut self, batch: &mut Batch<'_>) {
        batch.rewrite(&self.delimiter);
    }
}
