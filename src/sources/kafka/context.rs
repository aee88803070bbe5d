//! What librdkafka calls back into: rebalances (the offsets of partitions
//! being given up are committed first), errors and logs (to the daemon's log,
//! naming the stream), and statistics (consumer lag per partition, for
//! `/metrics`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::telemetry;

/// What the consumer thread and the callbacks share.
#[derive(Default)]
pub struct Shared {
    /// By partition: the offset of the next message to hand over.
    pub next: BTreeMap<i32, i64>,
    /// The offsets last committed, by partition.
    pub committed: BTreeMap<i32, i64>,
    /// The partitions this instance holds now.
    pub assigned: BTreeSet<i32>,
    /// Partitions given up since the consumer thread last looked: what it read
    /// of them and did not hand over is dropped (the new owner reads it).
    pub revoked: Vec<i32>,
}

pub struct Callbacks {
    pub stream: String,
    /// Told what the source waits for (`/ready`).
    pub handle: crate::pipeline::StreamHandle,
    pub topic: String,
    pub shared: Arc<Mutex<Shared>>,
}

impl Callbacks {
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding it leaves plain numbers behind: still usable.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The offsets to commit for `partitions` (of those this instance holds):
    /// what the spool holds, where it moved since the last commit.
    pub fn due(&self, shared: &Shared, partitions: &BTreeSet<i32>) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for partition in partitions {
            let Some(&next) = shared.next.get(partition) else {
                continue;
            };
            if shared.committed.get(partition) == Some(&next) {
                continue;
            }
            // Adding a partition with a valid offset cannot fail.
            let _ = list.add_partition_offset(&self.topic, *partition, Offset::Offset(next));
        }
        list
    }

    /// Commits the offsets of `partitions`, synchronously or not; the
    /// broker's answer (`commit_callback`) notes them. A failure is logged:
    /// the next commit carries them again.
    pub fn commit(
        &self,
        consumer: &BaseConsumer<Self>,
        partitions: &BTreeSet<i32>,
        mode: CommitMode,
    ) {
        let list = {
            let shared = self.lock();
            self.due(&shared, partitions)
        };
        if list.count() == 0 {
            return;
        }
        if let Err(e) = consumer.commit(&list, mode) {
            tracing::warn!(stream = %self.stream, topic = %self.topic, error = %e, "committing offsets failed; they go with the next commit");
        }
    }
}

impl ClientContext for Callbacks {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(stream = %self.stream, facility, "kafka: {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(stream = %self.stream, facility, "kafka: {message}")
            }
            _ => tracing::debug!(stream = %self.stream, facility, "kafka: {message}"),
        }
    }

    /// Errors that stop the source (no broker answers, a refused login, a
    /// missing topic) are also what `/ready` says it waits for, until the
    /// consumer thread finds the topic again; the others (one broker's
    /// connection dropped, say) are only logged.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(stream = %self.stream, topic = %self.topic, error = %error, reason, "kafka client error");
        use rdkafka::types::RDKafkaErrorCode as Code;
        if matches!(
            error.rdkafka_error_code(),
            Some(
                Code::AllBrokersDown
                    | Code::Authentication
                    | Code::SaslAuthenticationFailed
                    | Code::TopicAuthorizationFailed
                    | Code::GroupAuthorizationFailed
                    | Code::UnknownTopic
                    | Code::UnknownTopicOrPartition
            )
        ) {
            self.handle
                .wait_for(Some(format!("the Kafka brokers ({error}: {reason})")));
        }
    }

    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        for (partition, stats) in &topic.partitions {
            // -1: the partition is not consumed here, or the lag is unknown.
            if *partition >= 0 && stats.consumer_lag >= 0 {
                telemetry::kafka_lag(&self.stream, *partition, stats.consumer_lag);
            }
        }
    }
}

impl ConsumerContext for Callbacks {
    /// The broker took the offsets: they are not sent again until they move.
    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        if result.is_err() {
            return;
        }
        let mut shared = self.lock();
        for element in offsets.elements() {
            if let Offset::Offset(offset) = element.offset()
                && element.error().is_ok()
            {
                shared.committed.insert(element.partition(), offset);
                telemetry::kafka_committed(&self.stream, element.partition(), offset);
            }
        }
    }

    /// Before partitions are given up, their offsets are committed up to what
    /// the spool holds, so the next owner starts there.
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                let partitions: BTreeSet<i32> =
                    list.elements().iter().map(|e| e.partition()).collect();
                self.commit(consumer, &partitions, CommitMode::Sync);
                let mut shared = self.lock();
                for partition in &partitions {
                    shared.assigned.remove(partition);
                    shared.revoked.push(*partition);
                }
                tracing::info!(stream = %self.stream, topic = %self.topic, partitions = ?partitions, "partitions given up");
            }
            Rebalance::Assign(list) => {
                let partitions: BTreeSet<i32> =
                    list.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(stream = %self.stream, topic = %self.topic, partitions = ?partitions, "partitions assigned");
                self.lock().assigned.extend(partitions);
                self.handle.wait_for(None);
            }
            Rebalance::Error(e) => {
                tracing::warn!(stream = %self.stream, topic = %self.topic, error = %e, "rebalance failed");
            }
        }
    }
}
