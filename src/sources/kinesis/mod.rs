//! Reading a Kinesis data stream into a delivery stream, as Firehose does with a
//! Kinesis source: every shard, KPL records unpacked, resharding followed (a child
//! shard starts only once its parents are read to their end), within Kinesis's
//! read limits, with checkpoints that make a restart resume exactly where the
//! spool ends.
//!
//! One task per shard reads with `GetRecords`; each answer becomes one spool
//! append. Appends of all shards go through one lock, since the checkpoint's
//! intent names the spool sequence number the batch starts at.

mod aggregation;
mod checkpoint;
mod client;
mod config;

pub use config::{KinesisSource, StartingPosition};

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};

use checkpoint::{Checkpoint, FILE_NAME, Intent, ShardProgress};
use client::{IteratorStart, KinesisClient, KinesisError, Records, Shard};

use crate::aws::credentials::StaticKeys;
use crate::pipeline::StreamHandle;
use crate::record::{KinesisMeta, Record, now_ms};
use crate::sources::state_file::StateFile;
use crate::sources::{Handover, hand_to_spool};
use crate::telemetry;

/// Kinesis allows 5 `GetRecords` per shard per second.
const MIN_CALL_GAP: Duration = Duration::from_millis(200);
/// Records asked for per `GetRecords`.
const RECORDS_PER_CALL: u32 = 10_000;
/// How often the shard list is read again (to find shards made by a reshard).
const RELIST_EVERY: Duration = Duration::from_secs(5);
/// Backoff after a throttled or failed call: doubling from this...
const BACKOFF_START: Duration = Duration::from_millis(500);
/// ...up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Why the Kinesis source could not start.
#[derive(Debug, thiserror::Error)]
#[error("delivery stream `{stream}`: kinesis source: {message}")]
pub struct KinesisSourceError {
    stream: String,
    message: String,
}

/// What the shard readers share: the checkpoint, behind the append lock.
struct Shared {
    stream: StreamHandle,
    client: KinesisClient,
    store: StateFile,
    checkpoint: Mutex<Checkpoint>,
    start: IteratorStart,
    idle: Duration,
}

/// A stream's Kinesis source.
pub struct KinesisTail {
    shared: Arc<Shared>,
    /// Shards to resume inside a batch that a crash cut short: the Kinesis record
    /// the batch began at, and how many of its user records the spool holds.
    resume: BTreeMap<String, (String, u64)>,
}

impl KinesisTail {
    pub fn open(stream: StreamHandle, config: &KinesisSource) -> Result<Self, KinesisSourceError> {
        let fail = |message: String| KinesisSourceError {
            stream: stream.name().to_string(),
            message,
        };
        let region = config.aws.region();
        let endpoint = config
            .aws
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://kinesis.{region}.amazonaws.com"));
        let keys = match config.aws.static_keys().map_err(fail)? {
            Some(keys) => keys,
            None => StaticKeys::from_env().ok_or_else(|| {
                fail("no credentials: set access_key_id and secret_access_key, a profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into())
            })?,
        };
        let mut start = match config.starting_position {
            StartingPosition::TrimHorizon => IteratorStart::TrimHorizon,
            StartingPosition::Latest => IteratorStart::Latest,
            StartingPosition::AtTimestamp => {
                let text = config.timestamp.as_deref().unwrap_or_default();
                let at = chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|e| fail(format!("timestamp `{text}`: {e}")))?;
                IteratorStart::AtTimestamp(at.timestamp_millis() as f64 / 1000.0)
            }
        };
        let client =
            KinesisClient::new(&endpoint, &region, keys, &config.stream_name).map_err(fail)?;
        let store = stream.state_file(FILE_NAME);
        let mut checkpoint = store
            .load::<Checkpoint>()
            .map_err(|e| fail(format!("cannot read the checkpoint: {e}")))?
            .unwrap_or_default();
        if matches!(start, IteratorStart::Latest) {
            // LATEST means where this stream first started reading, not where
            // each start finds the shard: fix that instant once, durably.
            let from_ms = *checkpoint
                .latest_from_ms
                .get_or_insert_with(crate::record::now_ms);
            store
                .store(&checkpoint)
                .map_err(|e| fail(format!("cannot write the checkpoint: {e}")))?;
            start = IteratorStart::AtTimestamp(from_ms as f64 / 1000.0);
        }
        let mut resume = BTreeMap::new();
        if let Some(intent) = checkpoint.intent.take() {
            let spooled = stream.next_seq().saturating_sub(intent.first_seq);
            if spooled > 0 {
                resume.insert(intent.shard, (intent.first_record, spooled));
            }
        }
        Ok(Self {
            shared: Arc::new(Shared {
                stream,
                client,
                store,
                checkpoint: Mutex::new(checkpoint),
                start,
                idle: Duration::from_millis(config.idle_poll_ms.max(10)),
            }),
            resume,
        })
    }

    /// Reads until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let name = self.shared.stream.name().to_string();
        tracing::info!(stream = %name, "kinesis source running");
        let mut readers = JoinSet::new();
        let mut running: HashSet<String> = HashSet::new();
        let mut backoff = BACKOFF_START;
        while !*stop.borrow() {
            match self.shared.client.list_shards().await {
                Ok(shards) => {
                    backoff = BACKOFF_START;
                    for shard in self.ready(&shards, &running).await {
                        running.insert(shard.shard_id.clone());
                        let child = shard.parent_shard_id.is_some();
                        let resume = self.resume.remove(&shard.shard_id);
                        tracing::info!(stream = %name, shard = %shard.shard_id, "reading shard");
                        readers.spawn(read_shard(
                            self.shared.clone(),
                            shard.shard_id,
                            child,
                            resume,
                            stop.clone(),
                        ));
                    }
                }
                Err(e) => {
                    tracing::warn!(stream = %name, error = %e, "cannot list the shards, will retry");
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
            let pause = if backoff > BACKOFF_START {
                backoff
            } else {
                RELIST_EVERY
            };
            tokio::select! {
                _ = stop.changed() => {}
                Some(done) = readers.join_next() => {
                    // A finished parent may let its children start now.
                    if let Ok(shard) = done {
                        running.remove(&shard);
                    }
                }
                () = sleep(pause) => {}
            }
        }
        while readers.join_next().await.is_some() {}
        tracing::info!(stream = %name, "kinesis source stopped");
    }

    /// Shards that may be read now: not finished, not running, and whose parents
    /// are finished (or gone from the stream's retention).
    async fn ready(&self, shards: &[Shard], running: &HashSet<String>) -> Vec<Shard> {
        let checkpoint = self.shared.checkpoint.lock().await;
        let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
        let finished = |id: &str| checkpoint.shards.get(id).is_some_and(|p| p.finished);
        shards
            .iter()
            .filter(|s| !finished(&s.shard_id) && !running.contains(&s.shard_id))
            .filter(|s| {
                [&s.parent_shard_id, &s.adjacent_parent_shard_id]
                    .into_iter()
                    .flatten()
                    .all(|p| finished(p) || !listed.contains(p.as_str()))
            })
            .cloned()
            .collect()
    }
}

/// Reads one shard until it is finished or the source stops; returns its id.
async fn read_shard(
    shared: Arc<Shared>,
    shard: String,
    child: bool,
    mut resume: Option<(String, u64)>,
    mut stop: watch::Receiver<bool>,
) -> String {
    let name = shared.stream.name().to_string();
    let mut backoff = BACKOFF_START;
    'iterators: loop {
        let progress = shared
            .checkpoint
            .lock()
            .await
            .shards
            .get(&shard)
            .cloned()
            .unwrap_or_default();
        let (start, mut skip) = match (&resume, &progress.sequence) {
            (Some((first, spooled)), _) => (IteratorStart::At(first.clone()), *spooled),
            (None, Some(seq)) => (IteratorStart::After(seq.clone()), 0),
            // A shard made by a reshard is read from its start.
            (None, None) if child => (IteratorStart::TrimHorizon, 0),
            (None, None) => (shared.start.clone(), 0),
        };
        resume = None;
        let mut iterator = match shared.client.shard_iterator(&shard, &start).await {
            Ok(it) => it,
            Err(e) => {
                tracing::warn!(stream = %name, shard, error = %e, "cannot get a shard iterator, will retry");
                if wait(&mut stop, &mut backoff).await {
                    return shard;
                }
                continue;
            }
        };
        let mut next_call = Instant::now();
        loop {
            tokio::select! {
                _ = stop.changed() => return shard,
                () = sleep_until(next_call) => {}
            }
            next_call = Instant::now() + MIN_CALL_GAP;
            let records = match shared.client.get_records(&iterator, RECORDS_PER_CALL).await {
                Ok(records) => records,
                Err(e) if e.is("ExpiredIteratorException") => {
                    tracing::info!(stream = %name, shard, "shard iterator expired, getting a new one");
                    continue 'iterators;
                }
                Err(e) => {
                    log_failure(&name, &shard, &e);
                    if wait(&mut stop, &mut backoff).await {
                        return shard;
                    }
                    continue;
                }
            };
            backoff = BACKOFF_START;
            if let Some(behind) = records.millis_behind_latest {
                telemetry::kinesis_behind(&name, &shard, behind);
            }
            let empty = records.records.is_empty();
            let next = records.next_shard_iterator.clone();
            if !empty && !hand_over(&shared, &shard, records, &mut skip, &mut stop).await {
                return shard;
            }
            match next {
                Some(it) => iterator = it,
                None => {
                    let mut checkpoint = shared.checkpoint.lock().await;
                    checkpoint.shards.entry(shard.clone()).or_default().finished = true;
                    save(&shared, &checkpoint);
                    tracing::info!(stream = %name, shard, "shard closed and read to its end");
                    return shard;
                }
            }
            if empty {
                next_call = Instant::now() + shared.idle;
            }
        }
    }
}

fn log_failure(stream: &str, shard: &str, e: &KinesisError) {
    if e.is("ProvisionedThroughputExceededException") {
        tracing::info!(stream, shard, "read throttled by Kinesis, backing off");
    } else {
        tracing::warn!(stream, shard, error = %e, "GetRecords failed, will retry");
    }
}

/// Sleeps for the backoff (doubling it); true if the source is stopping.
async fn wait(stop: &mut watch::Receiver<bool>, backoff: &mut Duration) -> bool {
    let stopping = tokio::select! {
        _ = stop.changed() => true,
        () = sleep(*backoff) => false,
    };
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    stopping
}

/// User records handed to the spool at once: a GetRecords answer of 10 MB of
/// KPL aggregates can unpack into millions of tiny records, each with its
/// metadata, so they go in pieces rather than all at once.
const PIECE_RECORDS: usize = 8192;

/// Appends a `GetRecords` answer's user records to the spool behind one intent,
/// a piece at a time, then moves the shard's checkpoint past its last record. The
/// first `skip` records they become (after the stream's unpacking processors)
/// are in the spool already (from before a crash).
/// False when stopping.
async fn hand_over(
    shared: &Shared,
    shard: &str,
    answer: Records,
    skip: &mut u64,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let (Some(first), Some(last)) = (answer.records.first(), answer.records.last()) else {
        return true;
    };
    let (first_record, last_record) = (first.sequence_number.clone(), last.sequence_number.clone());
    let mut checkpoint = shared.checkpoint.lock().await;
    let mut intent_saved = false;
    let mut piece = Vec::new();
    let total = answer.records.len();
    for (i, r) in answer.records.iter().enumerate() {
        let arrival = r
            .approximate_arrival_timestamp
            .map_or_else(now_ms, |t| (t * 1000.0) as i64);
        let users = aggregation::unpack(&r.data, &r.partition_key);
        let count = users.len();
        for (sub, user) in users.into_iter().enumerate() {
            piece.push(Record {
                data: user.data.into(),
                arrival_ms: arrival,
                kinesis: Some(KinesisMeta {
                    shard_id: shard.to_string(),
                    partition_key: user.partition_key,
                    sequence_number: r.sequence_number.clone(),
                    sub_sequence_number: sub as u64,
                    arrival_ms: arrival,
                }),
                refused: None,
            });
            let end = i + 1 == total && sub + 1 == count;
            if piece.len() < PIECE_RECORDS && !end {
                continue;
            }
            if !intent_saved {
                // One intent covers every piece: a restart finds how many of the
                // answer's records the spool holds and skips them.
                checkpoint.intent = Some(Intent {
                    shard: shard.to_string(),
                    first_record: first_record.clone(),
                    first_seq: shared.stream.next_seq(),
                });
                save(shared, &checkpoint);
                intent_saved = true;
            }
            let records = std::mem::take(&mut piece);
            if !hand_to_spool(
                &shared.stream,
                records,
                Handover::Checkpointed,
                stop,
                shared.idle,
                skip,
            )
            .await
            {
                return false;
            }
        }
    }
    *skip = 0;
    checkpoint.intent = None;
    checkpoint
        .shards
        .entry(shard.to_string())
        .or_insert_with(ShardProgress::default)
        .sequence = Some(last_record);
    save(shared, &checkpoint);
    true
}

/// Stores the checkpoint; a failure is logged (the intent protocol still bounds
/// what a restart reads again).
fn save(shared: &Shared, checkpoint: &Checkpoint) {
    if let Err(e) = tokio::task::block_in_place(|| shared.store.store(checkpoint)) {
        tracing::error!(stream = %shared.stream.name(), error = %e, "cannot write the kinesis source checkpoint");
    }
}

impl crate::sources::Source for KinesisTail {
    fn run(
        self: Box<Self>,
        stop: watch::Receiver<bool>,
    ) -> futures::future::BoxFuture<'static, ()> {
        Box::pin((*self).run(stop))
    }
}
