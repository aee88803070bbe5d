//! The WASM plugins as a processing step: the chain runs them in listed order.

use super::{Batch, Processor};
use crate::transform::{Chain, Input};

impl Processor for Chain {
    fn firehose_type(&self) -> &'static str {
        "Lambda"
    }

    fn process(&mut self, batch: &mut Batch<'_>) {
        if !batch.written {
            batch.verdicts = self.run(batch.inputs, batch.out);
            batch.written = true;
            return;
        }
        // A step before rewrote the records: the plugins read what it wrote.
        let ok: Vec<usize> = (0..batch.inputs.len())
            .filter(|&i| matches!(batch.verdicts[i], crate::transform::Verdict::Ok { .. }))
            .collect();
        let inputs: Vec<Input> = ok
            .iter()
            .map(|&i| Input {
                data: bytes::Bytes::copy_from_slice(batch.data(i)),
                ..batch.inputs[i].clone()
            })
            .collect();
        batch.out.truncate(batch.base);
        let verdicts = self.run(&inputs, batch.out);
        for (i, verdict) in ok.into_iter().zip(verdicts) {
            batch.verdicts[i] = verdict;
        }
    }
}
