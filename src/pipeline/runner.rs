//! A stream's task: reads accepted records from the spool, fills the buffers (the
//! destination's and one per error output type), and seals a buffer when it reaches
//! the size, when the interval since its first record passes, or on shutdown.
//! Sealed batches go to delivery tasks, at most `max_in_flight_objects` at once;
//! while all are busy the runner stops reading, so a backlog stays on disk.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::buffer::SealedBatch;
use super::deliver::{Deliverer, Delivery};
use super::memory::{DeliveryMemory, Share};
use super::recovery::{Claimed, Recovering};
use super::routing::{Landed, Routed, Routing, written_in_order};
use super::staged::{StagedBatch, StagedBuffer, Staging};
use crate::config::StreamConfig;
use crate::error_output::{SPOOL_CORRUPT, processing_failed_line};
use crate::output::Output;
use crate::record::{MAX_RECORD_BYTES, now_ms};
use crate::spool::{Copy, Item, Opened, RangeSet, Reader, Spool};
use crate::transform::{Failure, Input};

mod rebuilt;

/// Firehose's default limit of active partitions per stream: a record that would
/// open one more buffer goes to the error output instead.
const MAX_ACTIVE_PARTITIONS: usize = 500;

/// The error code of a record refused by the active-partition limit.
const PARTITIONS_EXCEEDED: &str = "DynamicPartitioning.ActivePartitionsExceeded";

/// A buffer's identity: what it becomes, and for transformed data its partition
/// (the values of the prefix's `!{partitionKeyFromLambda:...}` keys).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SlotKey {
    output: Output,
    partition: BTreeMap<String, String>,
}

impl SlotKey {
    fn of(output: Output) -> Self {
        Self {
            output,
            partition: BTreeMap::new(),
        }
    }
}

/// How long to wait before reading again after the spool could not be read.
const READ_RETRY: Duration = Duration::from_secs(1);

/// An open buffer and when it must be sealed.
struct Slot {
    buffer: StagedBuffer,
    deadline: Option<Instant>,
}

impl Slot {
    fn new(staging: &Arc<Staging>, limit: usize) -> Self {
        Self {
            buffer: StagedBuffer::new(staging.clone(), limit),
            deadline: None,
        }
    }
}

pub struct Runner {
    stream: String,
    reader: Reader,
    recovering: Option<Recovering>,
    /// The destination's buffers (one per partition), the backup's, and one per
    /// error output type.
    slots: BTreeMap<SlotKey, Slot>,
    /// Where the open buffers' records wait on disk.
    staging: Arc<Staging>,
    /// The stream's transform plugins, if it has any.
    routing: Option<Routing>,
    /// Where transformed records land before going to their partitions' buffers,
    /// kept from batch to batch.
    landing: Vec<u8>,
    size_limit: usize,
    interval: Duration,
    deliverer: Arc<Deliverer>,
    spool: Arc<Spool>,
    in_flight: Arc<Semaphore>,
    /// The daemon's memory for batches being delivered.
    memory: DeliveryMemory,
    deliveries: JoinSet<()>,
}

impl Runner {
    pub fn new(
        config: &StreamConfig,
        opened: Opened,
        deliverer: Deliverer,
        staging: Arc<Staging>,
        memory: DeliveryMemory,
        routing: Option<Routing>,
    ) -> Self {
        let Opened {
            spool,
            reader,
            recovery,
        } = opened;
        Self {
            stream: config.name.clone(),
            reader,
            recovering: Recovering::new(recovery, &staging),
            slots: BTreeMap::new(),
            staging,
            routing,
            landing: Vec::new(),
            size_limit: config.buffering.size_bytes(),
            interval: Duration::from_secs(config.buffering.interval_seconds),
            deliverer: Arc::new(deliverer),
            spool,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight_objects)),
            memory,
            deliveries: JoinSet::new(),
        }
    }

    /// Runs until the stream is closed and every record in the spool is delivered.
    pub async fn run(mut self) {
        loop {
            // Reap finished deliveries so the set does not grow.
            while self.deliveries.try_join_next().is_some() {}
            if self.recovering.is_some() && self.reader.caught_up() {
                // Everything from before the restart is read; what is missing is gone.
                self.finish_recovery().await;
            }
            let deadline = self.next_deadline();
            tokio::select! {
                more = self.reader.wait() => {
                    if !more {
                        break;
                    }
                    match self.reader.read().await {
                        Ok(items) => {
                            self.take(items).await;
                            self.relieve_spool().await;
                        }
                        Err(e) => {
                            tracing::error!(stream = %self.stream, error = %e, "cannot read the spool, will retry");
                            tokio::time::sleep(READ_RETRY).await;
                        }
                    }
                    if self.interval.is_zero() && self.reader.caught_up() {
                        // Zero buffering: deliver what has arrived as soon as possible.
                        self.flush(|_, _| true).await;
                    }
                }
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    self.flush(|_, slot| slot.deadline.is_some_and(|d| d <= now))
                        .await;
                }
            }
        }
        self.finish_recovery().await;
        self.flush(|_, _| true).await;
        while let Some(result) = self.deliveries.join_next().await {
            if let Err(e) = result {
                tracing::error!(stream = %self.stream, error = %e, "delivery task failed");
            }
        }
        tracing::info!(stream = %self.stream, "stream stopped, all buffers delivered");
    }

    async fn take(&mut self, items: Vec<Item>) {
        let mut to_transform = Vec::new();
        for item in items {
            match item {
                Item::Record { seq, record } => {
                    // After a restart, a copy written (or sealed) before is not
                    // written again.
                    let owed = match &mut self.recovering {
                        Some(r) => r.claim_record(seq, &record),
                        None => Claimed::default(),
                    };
                    let backup = self.deliverer.has_backup() && !owed.backup;
                    if backup {
                        self.push(
                            SlotKey::of(Output::Backup),
                            &record.data,
                            record.arrival_ms,
                            seq..seq + 1,
                        )
                        .await;
                    }
                    if owed.primary {
                        continue;
                    }
                    if let Some(refusal) = &record.refused {
                        let line = crate::error_output::refused_line(&record, refusal);
                        let output = Output::Refused {
                            output_type: refusal.output_type.clone(),
                        };
                        self.push(SlotKey::of(output), &line, record.arrival_ms, seq..seq + 1)
                            .await;
                        continue;
                    }
                    if record.data.len() > MAX_RECORD_BYTES {
                        // Only a source can read such a record (the API refuses it).
                        tracing::warn!(stream = %self.stream, bytes = record.data.len(), "a record over the record limit goes to the error output");
                        self.push(
                            SlotKey::of(Output::Oversized),
                            &record.data,
                            record.arrival_ms,
                            seq..seq + 1,
                        )
                        .await;
                        continue;
                    }
                    if self.routing.is_some() {
                        to_transform.push(Input {
                            id: seq,
                            data: record.data,
                            arrival_ms: record.arrival_ms,
                            kinesis: record.kinesis,
                        });
                        continue;
                    }
                    self.push(
                        SlotKey::of(Output::Data),
                        &record.data,
                        record.arrival_ms,
                        seq..seq + 1,
                    )
                    .await;
                }
                Item::Damaged(damage) => {
                    let line = crate::error_output::damaged_line(&damage, now_ms());
                    if let Some(r) = &mut self.recovering
                        && r.claim_damage(&damage, &line)
                    {
                        continue;
                    }
                    tracing::error!(stream = %self.stream, segment = %damage.segment.display(), offset = damage.offset,
                        records = damage.seqs.end - damage.seqs.start, bytes = damage.raw.len(),
                        "spool data failed its checksum, sending it to the error output");
                    let output = Output::Errors {
                        output_type: SPOOL_CORRUPT.to_string(),
                        failure: None,
                        may_have_landed: None,
                    };
                    if self.deliverer.has_backup() {
                        // Damaged data has no backup copy to write.
                        let batch = self.spool.next_batch_id();
                        let seqs = RangeSet::from(vec![(damage.seqs.start, damage.seqs.end)]);
                        if let Err(e) = self.spool.delivered(batch, seqs, Copy::Backup).await {
                            tracing::error!(stream = %self.stream, error = %e, "cannot record damaged records as backed up");
                        }
                    }
                    self.push(SlotKey::of(output), &line, now_ms(), damage.seqs)
                        .await;
                }
            }
        }
        if !to_transform.is_empty() {
            self.transform(to_transform).await;
        }
        if self
            .recovering
            .as_ref()
            .is_some_and(|r| self.reader.next_seq() >= r.horizon())
        {
            self.finish_recovery().await;
        }
    }

    /// Runs the plugins on records read from the spool and sends each where its
    /// verdict says. Dropped records are recorded as delivered at once.
    ///
    /// Without partitions, the last plugin's answers are copied straight into
    /// the destination's buffer, and only accounted for here: one copy per record
    /// on its way out of the plugin. With partitions they land apart first.
    async fn transform(&mut self, inputs: Vec<Input>) {
        let Some(routing) = self.routing.as_mut() else {
            return;
        };
        let (routes, mut landed) = if routing.partitions() {
            let mut apart = std::mem::take(&mut self.landing);
            apart.clear();
            let routes = routing.run(&inputs, &mut apart);
            (
                routes,
                Landed::Apart {
                    bytes: apart,
                    base: 0,
                },
            )
        } else {
            let (limit, staging) = (self.size_limit, &self.staging);
            let slot = self
                .slots
                .entry(SlotKey::of(Output::Data))
                .or_insert_with(|| Slot::new(staging, limit));
            let start = slot.buffer.storage().len();
            let routes = routing.run(&inputs, slot.buffer.storage());
            if written_in_order(&routes, start) {
                (routes, Landed::InPlace)
            } else {
                // The plugin answered out of order: account record by record.
                let bytes = slot.buffer.take_written();
                (routes, Landed::Apart { bytes, base: start })
            }
        };
        let mut dropped = RangeSet::new();
        for (input, route) in inputs.into_iter().zip(routes) {
            let seqs = input.id..input.id + 1;
            match route {
                Routed::Data { data, .. } if matches!(landed, Landed::InPlace) => {
                    self.push_written(data.len(), input.arrival_ms, seqs).await;
                }
                Routed::Data { partition, data } => {
                    let Landed::Apart { bytes, base } = &landed else {
                        continue; // matched above
                    };
                    let data = &bytes[data.start - base..data.end - base];
                    let key = SlotKey {
                        output: Output::Data,
                        partition,
                    };
                    if !key.partition.is_empty()
                        && !self.slots.contains_key(&key)
                        && self.active_partitions() >= MAX_ACTIVE_PARTITIONS
                    {
                        crate::telemetry::partition_count_exceeded(&self.stream);
                        let failure = Failure::by_host(
                            PARTITIONS_EXCEEDED,
                            format!(
                                "the stream has {MAX_ACTIVE_PARTITIONS} active partitions already"
                            ),
                        );
                        let line = processing_failed_line(&input, &failure);
                        self.push(
                            SlotKey::of(Output::ProcessingFailed),
                            &line,
                            input.arrival_ms,
                            seqs,
                        )
                        .await;
                        continue;
                    }
                    self.push(key, data, input.arrival_ms, seqs).await;
                }
                Routed::Dropped => dropped.insert(seqs),
                Routed::Failed(line) => {
                    self.push(
                        SlotKey::of(Output::ProcessingFailed),
                        &line,
                        input.arrival_ms,
                        seqs,
                    )
                    .await;
                }
            }
        }
        match &mut landed {
            Landed::Apart { bytes, .. } => {
                // Kept for the next batch: its memory is paged in already.
                self.landing = std::mem::take(bytes);
            }
            Landed::InPlace => {
                // Every byte written is a record by now; never leave any behind.
                if let Some(slot) = self.slots.get_mut(&SlotKey::of(Output::Data)) {
                    let left = slot.buffer.take_written();
                    debug_assert!(
                        left.is_empty(),
                        "{} bytes written for no record",
                        left.len()
                    );
                }
            }
        }
        if self.routing.as_ref().is_some_and(Routing::partitions) {
            crate::telemetry::partition_count(&self.stream, self.active_partitions());
        }
        if !dropped.is_empty() {
            let batch = self.spool.next_batch_id();
            // Their primary copy is nothing; a backup copy may still be owed.
            if let Err(e) = self.spool.delivered(batch, dropped, Copy::Primary).await {
                // They stay in the spool and are transformed again after a restart.
                tracing::error!(stream = %self.stream, error = %e, "cannot record dropped records as done");
            }
        }
    }

    /// Buffers holding a partition's data (Firehose's active partitions).
    fn active_partitions(&self) -> usize {
        self.slots
            .iter()
            .filter(|(k, s)| !k.partition.is_empty() && !s.buffer.is_empty())
            .count()
    }

    async fn push(
        &mut self,
        slot: SlotKey,
        data: &[u8],
        arrival_ms: i64,
        seqs: std::ops::Range<u64>,
    ) {
        let (limit, interval) = (self.size_limit, self.interval);
        // Most records go to a buffer that exists: look it up before cloning the key.
        if !self.slots.contains_key(&slot) {
            self.slots
                .insert(slot.clone(), Slot::new(&self.staging, limit));
        }
        let Some(entry) = self.slots.get_mut(&slot) else {
            return; // inserted just above
        };
        if entry.buffer.is_empty() {
            entry.deadline = Some(Instant::now() + interval);
        }
        if let Some(sealed) = entry.buffer.push(data, arrival_ms, seqs) {
            entry.deadline = (!entry.buffer.is_empty()).then(|| Instant::now() + interval);
            self.dispatch(slot, sealed).await;
        }
    }

    /// Makes the next `len` bytes a plugin wrote into the destination's buffer a
    /// record, as `push` does with bytes it copies.
    async fn push_written(&mut self, len: usize, arrival_ms: i64, seqs: std::ops::Range<u64>) {
        let slot = SlotKey::of(Output::Data);
        let interval = self.interval;
        let Some(entry) = self.slots.get_mut(&slot) else {
            return; // created before the plugins ran
        };
        if entry.buffer.is_empty() {
            entry.deadline = Some(Instant::now() + interval);
        }
        if let Some(sealed) = entry.buffer.push_written(len, arrival_ms, seqs) {
            entry.deadline = (!entry.buffer.is_empty()).then(|| Instant::now() + interval);
            self.dispatch(slot, sealed).await;
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.slots.values().filter_map(|s| s.deadline).min()
    }

    /// When the spool is nearly full and everything in it has been read, the
    /// open buffer holding its oldest record is sealed before its size or
    /// interval: the segment it pins can then go once it is delivered. Without
    /// this, 24 partitions of 64 MiB fill a 1 GiB spool before any buffer does,
    /// and puts are refused until the interval (up to 900 s) ends. Buffering
    /// hints are hints, as in Firehose; the delivery slots bound how many early
    /// seals can be made while a destination is slow.
    async fn relieve_spool(&mut self) {
        if !self.reader.caught_up() || !self.spool.nearly_full() {
            return;
        }
        let oldest = self
            .slots
            .iter()
            .filter(|(_, slot)| !slot.buffer.is_empty())
            .min_by_key(|(_, slot)| slot.buffer.oldest_seq())
            .map(|(key, _)| key.clone());
        let Some(key) = oldest else {
            return;
        };
        tracing::debug!(stream = %self.stream, output = ?key.output, partition = ?key.partition,
            "the spool is nearly full: sealing the buffer that holds its oldest record");
        crate::telemetry::early_seal(&self.stream);
        self.flush(|k, _| *k == key).await;
    }

    /// Seals and dispatches the buffers that `due` picks.
    async fn flush(&mut self, due: impl Fn(&SlotKey, &Slot) -> bool) {
        let mut sealed = Vec::new();
        for (key, slot) in &mut self.slots {
            if due(key, slot) {
                slot.deadline = None;
                if let Some(batch) = slot.buffer.seal() {
                    sealed.push((key.clone(), batch));
                }
            }
        }
        // A partition's buffer goes once it is flushed, as in Firehose: partitions
        // come and go with the data.
        self.slots
            .retain(|key, slot| key.partition.is_empty() || !slot.buffer.is_empty());
        for (key, batch) in sealed {
            self.dispatch(key, batch).await;
        }
    }

    /// Names a sealed batch and hands it to a delivery task, which reads it
    /// back from its staging files once it has a delivery slot: sealed buffers
    /// wait on disk, not in memory.
    async fn dispatch(&mut self, slot: SlotKey, staged: StagedBatch) {
        let key = self
            .deliverer
            .key_for(&slot.output, staged.first_arrival_ms(), &slot.partition);
        let id = self.spool.next_batch_id();
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let memory = self
            .memory
            .take(staged.record_count(), staged.bytes())
            .await;
        let (deliverer, stream) = (self.deliverer.clone(), self.stream.clone());
        self.deliveries.spawn(async move {
            let batch = load(&stream, staged).await;
            let delivery = Delivery {
                id,
                key,
                batch,
                output: slot.output,
                needs_seal: true,
                conversion_errors_sealed: false,
                retry_spent: Duration::ZERO,
                codec: None,
            };
            deliverer.deliver(delivery).await;
            drop((permit, memory));
        });
    }

    /// Waits for a free delivery slot: when the destination is slow, this is where
    /// the stream waits, and its backlog grows in the spool. `share` (the
    /// batch's delivery memory) is given back when the delivery ends.
    async fn spawn_delivery(&mut self, delivery: Delivery, share: Option<Share>) {
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let deliverer = self.deliverer.clone();
        self.deliveries.spawn(async move {
            deliverer.deliver(delivery).await;
            drop((permit, share));
        });
    }
}

/// Reads a sealed buffer back from its staging files, off the async threads,
/// until it can: its records are in the spool too, but only these files hold
/// what the processors made of them.
async fn load(stream: &str, staged: StagedBatch) -> SealedBatch {
    let staged = Arc::new(staged);
    let mut wait = READ_RETRY;
    loop {
        let s = staged.clone();
        match tokio::task::spawn_blocking(move || s.load()).await {
            Ok(Ok(batch)) => return batch,
            Ok(Err(e)) => {
                tracing::error!(stream = %stream, error = %e, records = staged.record_count(), "cannot read a sealed buffer back from its staging file, will retry");
            }
            Err(e) => {
                tracing::error!(stream = %stream, error = %e, "reading a sealed buffer back failed, will retry");
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(60));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
