//! The batches sealed before the last stop: delivered again under their keys
//! once all their records are read, transformed again where the stream
//! transforms (a piece at a time, within the delivery memory).

use super::{Runner, SlotKey, load};
use crate::error_output::processing_failed_line;
use crate::output::Output;
use crate::pipeline::buffer::{Buffer, SealedBatch};
use crate::pipeline::deliver::Delivery;
use crate::pipeline::recovery::Rebuilt;
use crate::pipeline::routing::Routed;
use crate::transform::{Failure, Input};

/// Bytes of a rebuilt batch's records processed again at a time.
const REBUILD_PIECE: usize = 4 * 1024 * 1024;

impl Runner {
    /// Delivers the batches sealed before the last stop, once all their records
    /// have been read, under the keys they were sealed with.
    pub(super) async fn finish_recovery(&mut self) {
        let Some(recovering) = self.recovering.take() else {
            return;
        };
        for mut rebuilt in recovering.into_deliveries() {
            let share = match rebuilt.staged.take() {
                Some(staged) => {
                    // Processed again, it is held twice for a while: as read
                    // back, and as the processors make it anew.
                    let copies = if self.routing.is_some() { 2 } else { 1 };
                    let share = self
                        .memory
                        .take(staged.record_count(), staged.bytes() * copies)
                        .await;
                    rebuilt.delivery.batch = load(&self.stream, staged).await;
                    Some(share)
                }
                None => None,
            };
            let delivery = self.transform_rebuilt(rebuilt).await;
            tracing::info!(stream = %self.stream, key = %delivery.key, records = delivery.batch.record_count(), "delivering a batch sealed before the last stop");
            self.spawn_delivery(delivery, share).await;
        }
    }

    /// A batch sealed before the stop holds the records as read from the spool;
    /// where the stream transforms them, they are transformed again (plugins are
    /// meant to be deterministic) so the object gets the same content.
    async fn transform_rebuilt(&mut self, rebuilt: Rebuilt) -> Delivery {
        let Rebuilt {
            mut delivery,
            kinesis,
            ..
        } = rebuilt;
        let needs_transform = matches!(
            delivery.output,
            Output::Data | Output::ConversionErrors { .. } | Output::ProcessingFailed
        );
        let Some(routing) = self.routing.as_mut().filter(|_| needs_transform) else {
            return delivery;
        };
        // A piece at a time: the batch is up to 128 MiB, and the inputs, the
        // processors' output and the new batch would each be a copy of it.
        let batch = std::mem::replace(&mut delivery.batch, SealedBatch::empty());
        let seqs = batch.seqs.clone();
        let mut records = batch.iter().zip(seqs.iter().flatten()).zip(kinesis);
        let mut buffer = Buffer::new(usize::MAX);
        let mut landed = Vec::new();
        let mut changed = 0;
        let mut failed_now = Vec::new();
        loop {
            let mut inputs = Vec::new();
            let mut bytes = 0;
            for (((data, arrival_ms), id), kinesis) in records.by_ref() {
                bytes += data.len();
                inputs.push(Input {
                    id,
                    data: bytes::Bytes::copy_from_slice(data),
                    arrival_ms,
                    kinesis,
                });
                if bytes >= REBUILD_PIECE {
                    break;
                }
            }
            if inputs.is_empty() {
                break;
            }
            landed.clear();
            let routes = routing.run(&inputs, &mut landed);
            for (input, route) in inputs.iter().zip(routes) {
                let seqs = input.id..input.id + 1;
                match (&delivery.output, route) {
                    (Output::ProcessingFailed, Routed::Failed(line)) => {
                        buffer.push(&line, input.arrival_ms, seqs);
                    }
                    (Output::ProcessingFailed, _) => {
                        changed += 1;
                        let failure = Failure::by_host(crate::transform::PROCESSING_FAILED_STATUS, "the record failed processing before the daemon restarted; on replay the plugin answered differently".into());
                        buffer.push(
                            &processing_failed_line(input, &failure),
                            input.arrival_ms,
                            seqs,
                        );
                    }
                    (_, Routed::Data { data, .. }) => {
                        buffer.push(&landed[data], input.arrival_ms, seqs);
                    }
                    (Output::Data, Routed::Failed(line)) => {
                        changed += 1;
                        failed_now.push((line, input.arrival_ms, seqs));
                    }
                    (_, Routed::Dropped | Routed::Failed(_)) => changed += 1,
                };
            }
        }
        drop(records);
        drop(batch);
        for (line, arrival_ms, seqs) in failed_now {
            self.push(
                SlotKey::of(Output::ProcessingFailed),
                &line,
                arrival_ms,
                seqs,
            )
            .await;
        }
        if changed > 0 {
            tracing::warn!(stream = %self.stream, key = %delivery.key, records = changed,
                "the plugins answered differently for records transformed again after a restart (are they deterministic?)");
        }
        let mut batch = buffer.seal().unwrap_or_else(SealedBatch::empty);
        // All the sealed records are done with this batch, whatever they became.
        batch.seqs = seqs;
        delivery.batch = batch;
        delivery
    }
}
