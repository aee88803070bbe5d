//! Kafka (and Amazon MSK, Redpanda, any Kafka-compatible broker) as a source:
//! a topic read by a consumer group, so that several Sluice instances with the
//! same `group_id` share its partitions.
//!
//! The consumer runs on a thread of its own (librdkafka's calls block). It
//! hands each partition's messages to the spool in order, behind an intent
//! (`checkpoint`), and only then moves that partition's offset; offsets are
//! committed to the broker from there, on an interval, before partitions are
//! given up in a rebalance, and at shutdown. So the broker's offset never runs
//! ahead of the spool: exactly once on one instance across a kill -9 (what the
//! spool holds beyond the last commit is passed over when read again), at
//! least once when a crash moves a partition to another instance (it reads
//! from the last commit). A full spool pauses the partitions while the consumer
//! keeps polling, so the group does not rebalance; nothing is dropped.

mod checkpoint;
mod config;
mod context;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use tokio::sync::watch;

pub use config::{KafkaSource, KafkaTls, Named, SaslMechanism, StartPosition};

use checkpoint::{Checkpoint, FILE_NAME, Intent};
use context::{Callbacks, Shared};

use crate::pipeline::StreamHandle;
use crate::record::{Record, now_ms};
use crate::sources::state_file::StateFile;
use crate::sources::{Offered, offer_to_spool};
use crate::telemetry;

/// How long one poll waits for messages.
const POLL: Duration = Duration::from_millis(100);
/// How often a waiting source asks the brokers whether the wait is over, and
/// how long it waits for their answer.
const PROBE: Duration = Duration::from_secs(5);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages gathered before they are handed over.
const BATCH_MESSAGES: usize = 5_000;
/// Bytes gathered before they are handed over.
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Fetched messages librdkafka keeps in memory ahead of the consumer, in KiB.
const QUEUED_KBYTES: &str = "16384";

#[derive(Debug, thiserror::Error)]
#[error("delivery stream `{stream}`: Kafka source: {message}")]
pub struct KafkaSourceError {
    stream: String,
    message: String,
}

/// A stream's Kafka source.
pub struct KafkaTail {
    stream: StreamHandle,
    config: KafkaSource,
    client: ClientConfig,
    store: StateFile,
    checkpoint: Checkpoint,
    /// A batch a crash cut short: its partition, first offset, and how many of
    /// its records the spool holds.
    resume: Option<(i32, i64, u64)>,
}

impl KafkaTail {
    pub fn open(stream: StreamHandle, config: &KafkaSource) -> Result<Self, KafkaSourceError> {
        let fail = |message: String| KafkaSourceError {
            stream: stream.name().to_string(),
            message,
        };
        let client = client_config(stream.name(), config).map_err(fail)?;
        let store = stream.state_file(FILE_NAME);
        let mut checkpoint: Checkpoint = store
            .load()
            .map_err(|e| fail(format!("cannot read the checkpoint: {e}")))?
            .unwrap_or_default();
        if checkpoint.topic != config.topic {
            // Offsets of another topic say nothing of this one.
            checkpoint = Checkpoint {
                topic: config.topic.clone(),
                ..Checkpoint::default()
            };
        }
        let resume = checkpoint.intent.take().map(|intent| {
            let spooled = stream.next_seq().saturating_sub(intent.first_seq);
            (intent.partition, intent.first_offset, spooled)
        });
        Ok(Self {
            stream,
            config: config.clone(),
            client,
            store,
            checkpoint,
            resume,
        })
    }
}

impl crate::sources::Source for KafkaTail {
    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let runtime = tokio::runtime::Handle::current();
            let (done, finished) = tokio::sync::oneshot::channel();
            let name = format!("kafka-{}", self.stream.name());
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                Consumption::new(*self, stop, runtime).run();
                let _ = done.send(());
            });
            match spawned {
                Ok(_) => {
                    let _ = finished.await;
                }
                Err(e) => tracing::error!(error = %e, "cannot start the Kafka consumer thread"),
            }
        })
    }
}

/// librdkafka's settings for `config`: offsets committed by Sluice only, the
/// start position, TLS and SASL.
fn client_config(stream: &str, config: &KafkaSource) -> Result<ClientConfig, String> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", config.bootstrap_servers.join(","))
        .set("group.id", &config.group_id)
        .set("client.id", format!("sluice-{stream}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", config.session_timeout_ms.to_string())
        .set("queued.max.messages.kbytes", QUEUED_KBYTES)
        .set("statistics.interval.ms", "5000")
        // A topic created after the start is found within 10 s (librdkafka's
        // default looks every 5 minutes).
        .set("topic.metadata.refresh.interval.ms", "10000")
        .set(
            "auto.offset.reset",
            match config.start {
                StartPosition::Named(Named::Latest) => "latest",
                // A timestamp start reads from the earliest and passes over
                // what is older (see `Consumption::floor`).
                StartPosition::Named(Named::Earliest) | StartPosition::At { .. } => "earliest",
            },
        );
    let tls = config.tls.as_ref();
    let protocol = match (tls.is_some(), config.sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    client.set("security.protocol", protocol);
    if let Some(tls) = tls {
        for (key, path) in [
            ("ssl.ca.location", &tls.ca_file),
            ("ssl.certificate.location", &tls.cert_file),
            ("ssl.key.location", &tls.key_file),
        ] {
            if let Some(path) = path {
                client.set(key, path.display().to_string());
            }
        }
    }
    if let Some(sasl) = &config.sasl {
        let password = std::fs::read_to_string(&sasl.password_file)
            .map_err(|e| format!("sasl.password_file {}: {e}", sasl.password_file.display()))?;
        let password = password.lines().next().unwrap_or_default().to_string();
        client
            .set("sasl.mechanisms", sasl.mechanism.name())
            .set("sasl.username", &sasl.username)
            .set("sasl.password", password);
    }
    Ok(client)
}

/// Messages of one partition read and not yet in the spool.
struct Pending {
    first_offset: i64,
    last_offset: i64,
    records: Vec<Record>,
    bytes: usize,
    /// Records (after unpacking) already in the spool: from before a crash,
    /// or appended before the spool filled.
    spooled: u64,
    /// Whether the intent for this batch is written.
    intent: bool,
}

/// The consumer thread's state.
struct Consumption {
    tail: KafkaTail,
    stop: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
    shared: Arc<Mutex<Shared>>,
    pending: BTreeMap<i32, Pending>,
    /// With a timestamp start: the first offset to take, by partition, for
    /// partitions that had no offset of their own.
    floor: BTreeMap<i32, i64>,
    paused: bool,
}

enum Handed {
    Done,
    Full,
    Stopping,
}

impl Consumption {
    fn new(tail: KafkaTail, stop: watch::Receiver<bool>, runtime: tokio::runtime::Handle) -> Self {
        let shared = Shared {
            next: tail.checkpoint.next.clone(),
            ..Shared::default()
        };
        Self {
            tail,
            stop,
            runtime,
            shared: Arc::new(Mutex::new(shared)),
            pending: BTreeMap::new(),
            floor: BTreeMap::new(),
            paused: false,
        }
    }

    /// What the callbacks share with this thread (plain numbers: a panic
    /// while it was held leaves them usable).
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks {
            stream: self.tail.stream.name().to_string(),
            handle: self.tail.stream.clone(),
            topic: self.tail.config.topic.clone(),
            shared: self.shared.clone(),
        }
    }

    fn run(mut self) {
        let name = self.tail.stream.name().to_string();
        let topic = self.tail.config.topic.clone();
        let consumer: BaseConsumer<Callbacks> =
            match self.tail.client.create_with_context(self.callbacks()) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(stream = %name, error = %e, "cannot create the Kafka consumer");
                    return;
                }
            };
        if let Err(e) = consumer.subscribe(&[&topic]) {
            tracing::error!(stream = %name, topic = %topic, error = %e, "cannot subscribe to the topic");
            return;
        }
        tracing::info!(stream = %name, topic = %topic, group = %self.tail.config.group_id,
            brokers = %self.tail.config.bootstrap_servers.join(","), "kafka source running");
        let interval = Duration::from_millis(self.tail.config.commit_interval_ms);
        let mut last_commit = Instant::now();
        let mut last_error: Option<Instant> = None;
        let mut last_probe = Instant::now();
        while !*self.stop.borrow() {
            self.gather(&consumer, &mut last_error);
            if self.tail.stream.waiting().is_some() && last_probe.elapsed() >= PROBE {
                self.probe(&consumer);
                last_probe = Instant::now();
            }
            self.drop_revoked();
            match self.hand_over_all() {
                Handed::Done => {
                    if self.paused {
                        self.set_paused(&consumer, false);
                    }
                }
                Handed::Full => {
                    if !self.paused {
                        self.set_paused(&consumer, true);
                    }
                }
                Handed::Stopping => break,
            }
            if last_commit.elapsed() >= interval {
                let assigned = self.assigned();
                consumer
                    .context()
                    .commit(&consumer, &assigned, CommitMode::Async);
                last_commit = Instant::now();
            }
        }
        // What is in the spool is committed before the group is left.
        let assigned = self.assigned();
        consumer
            .context()
            .commit(&consumer, &assigned, CommitMode::Sync);
        consumer.unsubscribe();
        tracing::info!(stream = %name, topic = %topic, "kafka source stopped");
    }

    /// While the source waits (for brokers, a login, the topic), asks the
    /// brokers for the topic: an answer ends the wait, which no message may
    /// end on a quiet topic.
    fn probe(&self, consumer: &BaseConsumer<Callbacks>) {
        let topic = &self.tail.config.topic;
        match consumer.fetch_metadata(Some(topic), PROBE_TIMEOUT) {
            Ok(metadata)
                if metadata
                    .topics()
                    .iter()
                    .any(|t| t.name() == topic && t.error().is_none()) =>
            {
                self.tail.stream.wait_for(None);
            }
            Ok(_) => self
                .tail
                .stream
                .wait_for(Some(format!("the Kafka topic `{topic}` (not found)"))),
            Err(e) => self
                .tail
                .stream
                .wait_for(Some(format!("the Kafka brokers ({e})"))),
        }
    }

    fn assigned(&self) -> BTreeSet<i32> {
        self.shared().assigned.clone()
    }

    /// Pauses (or resumes) every assigned partition: the consumer goes on
    /// polling, so the group keeps its members and assignment.
    fn set_paused(&mut self, consumer: &BaseConsumer<Callbacks>, paused: bool) {
        let name = self.tail.stream.name();
        let outcome = consumer.assignment().and_then(|assignment| {
            if paused {
                consumer.pause(&assignment)
            } else {
                consumer.resume(&assignment)
            }
        });
        match outcome {
            Ok(()) => {
                self.paused = paused;
                if paused {
                    tracing::info!(stream = %name, "the spool is full: the partitions are paused");
                } else {
                    tracing::info!(stream = %name, "the spool has room: the partitions are resumed");
                }
            }
            Err(e) => {
                tracing::warn!(stream = %name, error = %e, paused, "cannot pause or resume the partitions")
            }
        }
    }

    /// Polls for up to [`POLL`] (one poll while paused), gathering messages by
    /// partition.
    fn gather(&mut self, consumer: &BaseConsumer<Callbacks>, last_error: &mut Option<Instant>) {
        let until = Instant::now() + POLL;
        let (mut messages, mut bytes) = (0usize, 0usize);
        // Messages read by partition, for `/metrics` once the poll is over.
        let mut read: BTreeMap<i32, u64> = BTreeMap::new();
        let arrival = now_ms();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let Some(polled) = consumer.poll(left) else {
                break;
            };
            match polled {
                Ok(message) => {
                    let size = message.payload_len();
                    if self.accept(consumer, &message, arrival) {
                        *read.entry(message.partition()).or_default() += 1;
                        messages += 1;
                        bytes += size;
                    }
                }
                Err(e) => {
                    self.tail.stream.wait_for(Some(format!(
                        "the Kafka topic `{}` ({e})",
                        self.tail.config.topic
                    )));
                    // Down brokers answer every poll: once every 10 s is enough.
                    if last_error.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                        tracing::warn!(stream = %self.tail.stream.name(), topic = %self.tail.config.topic,
                            error = %e, "kafka: cannot read the topic yet; retrying");
                        *last_error = Some(Instant::now());
                    }
                }
            }
            if self.paused || messages >= BATCH_MESSAGES || bytes >= BATCH_BYTES || left.is_zero() {
                break;
            }
        }
        if !read.is_empty() {
            self.tail.stream.wait_for(None);
        }
        for (partition, n) in read {
            telemetry::kafka_read(self.tail.stream.name(), partition, n);
        }
    }

    /// Takes one message into its partition's pending batch, unless the spool
    /// has it already (below the partition's checkpoint) or it is older than
    /// the start timestamp. True if taken.
    fn accept(
        &mut self,
        consumer: &BaseConsumer<Callbacks>,
        message: &rdkafka::message::BorrowedMessage<'_>,
        arrival: i64,
    ) -> bool {
        let (partition, offset) = (message.partition(), message.offset());
        let next = self.tail.checkpoint.next.get(&partition).copied();
        if next.is_some_and(|next| offset < next) {
            return false;
        }
        if next.is_none() && !self.floor_allows(consumer, partition, offset) {
            return false;
        }
        let Some(payload) = message.payload() else {
            // A tombstone (a key with no value) holds no record.
            return false;
        };
        let pending = self.pending.entry(partition).or_insert_with(|| {
            // A batch a crash cut short resumes at its first message, with
            // what the spool holds of it passed over.
            let spooled = match self.tail.resume {
                Some((p, first, spooled)) if p == partition && first == offset => spooled,
                _ => 0,
            };
            Pending {
                first_offset: offset,
                last_offset: offset,
                records: Vec::new(),
                bytes: 0,
                spooled,
                intent: false,
            }
        });
        if self.tail.resume.is_some_and(|(p, _, _)| p == partition) {
            self.tail.resume = None;
        }
        pending.last_offset = offset;
        pending.bytes += payload.len();
        pending.records.push(Record::new(payload.to_vec(), arrival));
        true
    }

    /// With a timestamp start, whether `offset` of a partition that has no
    /// offset of its own is at or after the timestamp's offset.
    fn floor_allows(
        &mut self,
        consumer: &BaseConsumer<Callbacks>,
        partition: i32,
        offset: i64,
    ) -> bool {
        let Some(Ok(at_ms)) = self.tail.config.start.timestamp_ms() else {
            return true;
        };
        let floor = match self.floor.get(&partition) {
            Some(floor) => *floor,
            // The timestamp is where a partition the group never read starts;
            // one it committed goes on from its commit.
            None if self.group_committed(consumer, partition) => {
                self.floor.insert(partition, i64::MIN);
                i64::MIN
            }
            None => {
                let mut list = rdkafka::TopicPartitionList::new();
                let _ = list.add_partition_offset(
                    &self.tail.config.topic,
                    partition,
                    rdkafka::Offset::Offset(at_ms),
                );
                let found = consumer
                    .offsets_for_times(list, Duration::from_secs(10))
                    .ok()
                    .and_then(|l| {
                        l.elements().first().map(|e| match e.offset() {
                            rdkafka::Offset::Offset(o) => o,
                            // No message at or after it: everything is newer than the
                            // timestamp's end, so nothing read so far counts.
                            _ => i64::MAX,
                        })
                    });
                let Some(floor) = found else {
                    // Asked again with the next message.
                    return false;
                };
                self.floor.insert(partition, floor);
                floor
            }
        };
        offset >= floor
    }

    /// Whether the group has an offset committed for `partition` (asked of
    /// the broker; an unanswered question counts as yes, so nothing the group
    /// has not read is passed over).
    fn group_committed(&self, consumer: &BaseConsumer<Callbacks>, partition: i32) -> bool {
        let mut list = rdkafka::TopicPartitionList::new();
        let _ = list.add_partition(&self.tail.config.topic, partition);
        match consumer.committed_offsets(list, Duration::from_secs(10)) {
            Ok(committed) => committed
                .elements()
                .first()
                .is_some_and(|e| matches!(e.offset(), rdkafka::Offset::Offset(_))),
            Err(_) => true,
        }
    }

    /// Drops what was read of partitions given up in a rebalance.
    fn drop_revoked(&mut self) {
        let revoked = std::mem::take(&mut self.shared().revoked);
        for partition in revoked {
            self.pending.remove(&partition);
        }
    }

    /// Hands every pending batch to the spool, partition by partition.
    fn hand_over_all(&mut self) -> Handed {
        let partitions: Vec<i32> = self.pending.keys().copied().collect();
        for partition in partitions {
            match self.hand_over(partition) {
                Handed::Done => {}
                other => return other,
            }
        }
        Handed::Done
    }

    /// Appends one partition's pending batch behind an intent, then moves the
    /// partition's checkpoint past it.
    fn hand_over(&mut self, partition: i32) -> Handed {
        let Some(pending) = self.pending.get_mut(&partition) else {
            return Handed::Done;
        };
        let stream = &self.tail.stream;
        if !pending.intent {
            self.tail.checkpoint.intent = Some(Intent {
                partition,
                first_offset: pending.first_offset,
                first_seq: stream.next_seq().saturating_sub(pending.spooled),
            });
            save(&self.tail.store, &self.tail.checkpoint, stream.name());
            pending.intent = true;
        }
        let offered = self.runtime.block_on(offer_to_spool(
            stream,
            &pending.records,
            &mut pending.spooled,
        ));
        match offered {
            Offered::Taken => {
                let next = pending.last_offset + 1;
                self.pending.remove(&partition);
                self.tail.checkpoint.next.insert(partition, next);
                self.tail.checkpoint.intent = None;
                save(
                    &self.tail.store,
                    &self.tail.checkpoint,
                    self.tail.stream.name(),
                );
                self.shared().next.insert(partition, next);
                Handed::Done
            }
            Offered::Full => Handed::Full,
            Offered::Stopping => Handed::Stopping,
        }
    }
}

/// Stores the checkpoint; a failure is logged (the broker's commits trail it,
/// so a restart reads again from them: at least once).
fn save(store: &StateFile, checkpoint: &Checkpoint, stream: &str) {
    if let Err(e) = store.store(checkpoint) {
        tracing::warn!(stream, error = %e, "cannot write the Kafka source's checkpoint");
    }
}
