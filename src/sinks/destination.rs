//! The contract every destination follows (local folder, S3, HTTP endpoint,
//! Iceberg table): given a sealed data batch, one attempt at delivering the
//! records still owed, and which of them it could not deliver and why. The
//! delivery loop (`pipeline::deliver`) owns the rest: sealing, retrying within
//! the retry duration, and the error output.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::SinkError;
use crate::encode::Codec;
use crate::encode::parquet::{ConversionError, ParquetEncoder};
use crate::keys::KeyLayout;
use crate::pipeline::buffer::SealedBatch;
use crate::spool::RangeSet;
use uuid::Uuid;

/// One attempt at a data batch.
pub struct Offer<'a> {
    /// The batch's key: the object it becomes, or the table it names.
    pub key: &'a str,
    pub batch: &'a Arc<SealedBatch>,
    /// The records still owed, by position in the batch: all of them at the first
    /// attempt, those refused since at the next ones. A destination that cannot
    /// deliver part of a batch (an object, a commit) takes all or none.
    pub pending: &'a RangeSet,
    /// For a batch sealed before the last stop: the compression and level its
    /// key names, whatever the config says now.
    pub codec: Option<Codec>,
    /// Whether the batch was sealed before the last stop (rebuilt from the spool).
    pub rebuilt: bool,
    /// Told which records do not convert, before anything is committed.
    pub conversion: &'a dyn Conversion,
}

/// What the delivery loop does with the records a conversion could not make
/// rows of: they become `format-conversion-failed` error records, sealed before
/// the data is committed so that a restart finds them whether or not the commit
/// landed.
pub trait Conversion: Send + Sync {
    /// Called after each conversion of the batch (positions ascending); seals
    /// them the first time only.
    fn converted<'a>(&'a self, failed: &'a [(usize, ConversionError)]) -> BoxFuture<'a, ()>;
}

/// What an attempt delivered, and what it could not.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Records and bytes (as stored) delivered by this attempt.
    pub records: usize,
    pub bytes: usize,
    /// Records not delivered, by cause; empty when the attempt delivered all it
    /// was offered. Records the conversion was told of may be among them: the
    /// delivery loop leaves those to the conversion's error output.
    pub refused: Vec<Refusal>,
}

/// Records an attempt did not deliver.
#[derive(Debug)]
pub struct Refusal {
    /// Their positions in the batch.
    pub records: RangeSet,
    pub error: SinkError,
    /// Whether they may have landed although the attempt failed (a write whose
    /// answer was lost): then `holds` is asked before their error records are
    /// written.
    pub may_have_landed: bool,
}

impl Outcome {
    /// Every record in `records` refused for `error`.
    pub fn refused(records: RangeSet, error: SinkError, may_have_landed: bool) -> Self {
        Self {
            refused: vec![Refusal {
                records,
                error,
                may_have_landed,
            }],
            ..Self::default()
        }
    }
}

/// A destination of data batches.
pub trait Destination: Send + Sync {
    /// One attempt at delivering `offer.pending`. Delivering the same batch
    /// again (a retry, a rebuild after a crash) must not duplicate what an
    /// earlier attempt stored.
    fn deliver<'a>(&'a self, offer: Offer<'a>) -> BoxFuture<'a, Outcome>;

    /// Whether the batch with this key is stored after all (an attempt whose
    /// answer was lost, or a commit made before a crash).
    fn holds<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, SinkError>>;

    /// The conversion a batch with this key was (or would be) made with, to
    /// find again why its records did not convert; `None` when records are not
    /// converted.
    fn converter<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<ParquetEncoder>>, SinkError>>;

    /// The error key layout of a data batch with this key, when it is not the
    /// stream's (an Iceberg table with an error prefix of its own).
    fn error_layout(&self, _key: &str) -> Option<&KeyLayout> {
        None
    }

    /// The `!{firehose:error-output-type}` of records it did not take in time.
    fn failed_output_type(&self) -> &'static str {
        crate::output::DELIVERY_FAILED
    }

    /// Whether the time an attempt takes counts toward the retry duration (an
    /// HTTP endpoint's time to answer does not, as in Firehose).
    fn attempts_count_toward_retry(&self) -> bool {
        true
    }

    /// A short description for logs (`s3://bucket`, `iceberg:lake.logs.events`).
    fn describe(&self) -> String;
}

/// All positions of a batch.
pub fn all_records(batch: &SealedBatch) -> RangeSet {
    let mut all = RangeSet::new();
    if batch.record_count() > 0 {
        all.insert(0..batch.record_count() as u64);
    }
    all
}

/// The UUID in an object key, which names a ZIP object's single entry and an
/// HTTP batch's request ids (Firehose names them with UUIDs too); deriving it
/// from the key keeps re-encoding after a retry or a restart identical.
pub fn key_uuid(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    (0..name.len().saturating_sub(35))
        .rev()
        .find_map(|at| name.get(at..at + 36).filter(|s| Uuid::parse_str(s).is_ok()))
        .unwrap_or(name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uuid_is_found_whatever_the_stream_name_and_extension() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(
            key_uuid(&format!(
                "a/b/my.stream-1-2026-01-01-00-00-00-{id}.ndjson.gz"
            )),
            id
        );
        assert_eq!(key_uuid(&format!("s-1-2026-01-01-00-00-00-{id}")), id);
    }
}
