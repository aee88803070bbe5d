//! After a restart: which records read from the spool were delivered already, and
//! which belong to a batch sealed before the stop. Such a batch is rebuilt from its
//! records and delivered again under its sealed key, so the object it may already
//! have written is overwritten with the same bytes rather than duplicated.

use std::time::Duration;

use std::sync::Arc;

use super::buffer::SealedBatch;
use super::deliver::Delivery;
use super::staged::{StagedBatch, StagedBuffer, Staging};
use crate::output::Output;
use crate::record::{KinesisMeta, Record, now_ms};
use crate::spool::{Damage, RangeSet, Recovery, Seal, SeqBitmap};

/// A sealed batch being rebuilt, in staging files like an open buffer: a
/// restart may find as many batches sealed as were in flight, each up to
/// 128 MiB.
struct Rebuild {
    seal: Seal,
    buffer: StagedBuffer,
    /// Per record, its Kinesis metadata: a transform that runs again needs it.
    kinesis: Vec<Option<KinesisMeta>>,
}

/// Which copies of a record read after a restart are written or sealed already;
/// the runner writes the others. A stream without backup ignores `backup`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// Its destination copy (or its error record, or nothing: dropped).
    pub primary: bool,
    pub backup: bool,
}

/// A batch rebuilt from the spool, and its records' Kinesis metadata. Its
/// records wait on disk (`staged`) until the runner has memory to load them
/// into `delivery.batch`.
pub struct Rebuilt {
    pub delivery: Delivery,
    pub staged: Option<StagedBatch>,
    pub kinesis: Vec<Option<KinesisMeta>>,
}

pub struct Recovering {
    delivered: SeqBitmap,
    primary_done: SeqBitmap,
    backup_done: SeqBitmap,
    /// The retry time each batch had used before the stop.
    retry_spent_ms: std::collections::BTreeMap<u64, u64>,
    /// Few: the batches that were in flight at the stop.
    rebuilds: Vec<Rebuild>,
    horizon: u64,
}

impl Recovering {
    /// `None` when there is nothing to recover.
    pub fn new(recovery: Recovery, staging: &Arc<Staging>) -> Option<Self> {
        if recovery.pending.is_empty()
            && recovery.delivered.is_empty()
            && recovery.primary_done.is_empty()
            && recovery.backup_done.is_empty()
        {
            return None;
        }
        let horizon = recovery.horizon;
        let rebuilds = recovery
            .pending
            .into_iter()
            .map(|seal| Rebuild {
                seal,
                buffer: StagedBuffer::new(staging.clone(), usize::MAX),
                kinesis: Vec::new(),
            })
            .collect();
        Some(Self {
            delivered: recovery.delivered,
            primary_done: recovery.primary_done,
            backup_done: recovery.backup_done,
            retry_spent_ms: recovery.retry_spent_ms,
            rebuilds,
            horizon,
        })
    }

    /// Records from here on were sealed in no batch before the stop.
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    /// Which of the record's copies are taken care of: written already, or held
    /// by sealed batches (then the record is added to each one's rebuild: a data
    /// batch and its backup hold the same records).
    pub fn claim_record(&mut self, seq: u64, record: &Record) -> Claimed {
        if self.delivered.contains(seq) {
            return Claimed {
                primary: true,
                backup: true,
            };
        }
        let mut claimed = Claimed {
            primary: self.primary_done.contains(seq),
            backup: self.backup_done.contains(seq),
        };
        for r in self
            .rebuilds
            .iter_mut()
            .filter(|r| r.seal.seqs.contains(seq))
        {
            match &r.seal.output {
                Output::Backup => claimed.backup = true,
                _ => claimed.primary = true,
            }
            match &r.seal.output {
                // Conversion errors are found again by converting the raw records,
                // transform failures by transforming them again.
                Output::Data
                | Output::Backup
                | Output::ConversionErrors { .. }
                | Output::Oversized
                | Output::ProcessingFailed => {
                    r.buffer.push(&record.data, record.arrival_ms, seq..seq + 1);
                    r.kinesis.push(record.kinesis.clone());
                }
                Output::Refused { .. } => {
                    if let Some(refusal) = &record.refused {
                        let line = crate::error_output::refused_line(record, refusal);
                        r.buffer.push(&line, record.arrival_ms, seq..seq + 1);
                    }
                    r.kinesis.push(None);
                }
                Output::Errors {
                    failure: Some(failure),
                    output_type,
                    ..
                } => {
                    let line = crate::error_output::delivery_failed_line(
                        failure,
                        record,
                        seq,
                        output_type,
                    );
                    r.buffer.push(&line, record.arrival_ms, seq..seq + 1);
                    r.kinesis.push(None);
                }
                // A damaged-data batch holds no sound records.
                Output::Errors { failure: None, .. } => {}
            }
        }
        claimed
    }

    /// Whether a damaged stretch is taken care of: written to the error output
    /// already, or part of a sealed damaged-data batch (its error line is added to
    /// it). Damage inside a sealed data batch leaves that batch without the
    /// records, and they go to a new error batch.
    pub fn claim_damage(&mut self, damage: &Damage, error_line: &[u8]) -> bool {
        if self.delivered.intersects(&damage.seqs) {
            return true;
        }
        let owner = self.rebuilds.iter_mut().find(|r| {
            matches!(r.seal.output, Output::Errors { failure: None, .. })
                && r.seal.seqs.contains(damage.seqs.start)
        });
        match owner {
            Some(r) => {
                r.buffer.push(error_line, now_ms(), damage.seqs.clone());
                r.kinesis.push(None);
                true
            }
            None => false,
        }
    }

    /// The rebuilt batches, ready to deliver (sealed already).
    /// A data batch whose records that did not convert were sealed in their own
    /// batch (it holds the same records) is told so, so it does not seal them twice.
    pub fn into_deliveries(self) -> Vec<Rebuilt> {
        let conversion_errors: Vec<RangeSet> = self
            .rebuilds
            .iter()
            .filter(|r| matches!(r.seal.output, Output::ConversionErrors { .. }))
            .map(|r| r.seal.seqs.clone())
            .collect();
        let spent = self.retry_spent_ms;
        self.rebuilds
            .into_iter()
            .map(|mut r| Rebuilt {
                delivery: Delivery {
                    id: r.seal.batch,
                    retry_spent: Duration::from_millis(
                        spent.get(&r.seal.batch).copied().unwrap_or(0),
                    ),
                    codec: r.seal.codec,
                    conversion_errors_sealed: r.seal.output == Output::Data
                        && conversion_errors.contains(&r.seal.seqs),
                    key: r.seal.key,
                    batch: SealedBatch::empty(),
                    output: r.seal.output,
                    needs_seal: false,
                },
                staged: r.buffer.seal(),
                kinesis: r.kinesis,
            })
            .collect()
    }
}
