//! After a restart: which records read from the spool were delivered already, and
//! which belong to a batch sealed before the stop. Such a batch is rebuilt from its
//! records and delivered again under its sealed key, so the object it may already
//! have written is overwritten with the same bytes rather than duplicated.

use std::collections::BTreeMap;

use super::buffer::{Buffer, SealedBatch};
use super::deliver::Delivery;
use crate::record::{Record, now_ms};
use crate::spool::{Damage, RangeSet, Recovery, Seal};

/// A sealed batch being rebuilt.
struct Rebuild {
    seal: Seal,
    buffer: Buffer,
}

pub struct Recovering {
    delivered: RangeSet,
    rebuilds: Vec<Rebuild>,
    /// First sequence number of each sealed range → (its end, the rebuild).
    owners: BTreeMap<u64, (u64, usize)>,
    horizon: u64,
}

impl Recovering {
    /// `None` when there is nothing to recover.
    pub fn new(recovery: Recovery) -> Option<Self> {
        if recovery.pending.is_empty() && recovery.delivered.is_empty() {
            return None;
        }
        let mut owners = BTreeMap::new();
        let mut horizon = recovery.delivered.end();
        let rebuilds: Vec<Rebuild> = recovery
            .pending
            .into_iter()
            .enumerate()
            .map(|(i, seal)| {
                for r in seal.seqs.iter() {
                    owners.insert(r.start, (r.end, i));
                }
                horizon = horizon.max(seal.seqs.end());
                Rebuild {
                    seal,
                    buffer: Buffer::new(usize::MAX),
                }
            })
            .collect();
        Some(Self {
            delivered: recovery.delivered,
            rebuilds,
            owners,
            horizon,
        })
    }

    /// Records from here on were sealed in no batch before the stop.
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    fn owner(&self, seq: u64) -> Option<usize> {
        self.owners
            .range(..=seq)
            .next_back()
            .filter(|(_, (end, _))| seq < *end)
            .map(|(_, (_, i))| *i)
    }

    /// Whether the record is taken care of: delivered already, or part of a sealed
    /// batch (then it is added to the batch's rebuild).
    pub fn claim_record(&mut self, seq: u64, record: &Record) -> bool {
        if self.delivered.contains(seq) {
            return true;
        }
        match self.owner(seq) {
            Some(i) => {
                self.rebuilds[i]
                    .buffer
                    .push(&record.data, record.arrival_ms, seq..seq + 1);
                true
            }
            None => false,
        }
    }

    /// Whether a damaged stretch is taken care of: written to the error output
    /// already, or part of a sealed error batch (its error line is added to it).
    /// Damage inside a sealed data batch leaves that batch without the records, and
    /// they go to a new error batch.
    pub fn claim_damage(&mut self, damage: &Damage, error_line: &[u8]) -> bool {
        if self.delivered.intersects(&damage.seqs) {
            return true;
        }
        match self.owner(damage.seqs.start) {
            Some(i) if self.rebuilds[i].seal.error_output_type.is_some() => {
                self.rebuilds[i]
                    .buffer
                    .push(error_line, now_ms(), damage.seqs.clone());
                true
            }
            _ => false,
        }
    }

    /// The rebuilt batches, ready to deliver (sealed already).
    pub fn into_deliveries(self) -> Vec<Delivery> {
        self.rebuilds
            .into_iter()
            .map(|mut r| Delivery {
                id: r.seal.batch,
                key: r.seal.key,
                batch: r.buffer.seal().unwrap_or(SealedBatch {
                    data: Vec::new(),
                    records: Vec::new(),
                    seqs: RangeSet::new(),
                }),
                error_output_type: r.seal.error_output_type,
                needs_seal: false,
            })
            .collect()
    }
}
