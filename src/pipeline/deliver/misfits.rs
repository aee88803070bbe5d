//! The records of a data batch that did not convert: counted once, sealed once
//! as a `format-conversion-failed` batch before the destination commits, and
//! left out of the data batch's own failures.

use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Deliverer, Delivery};
use crate::encode::parquet::ConversionError;
use crate::pipeline::buffer::SealedBatch;
use crate::sinks::destination::Conversion;
use crate::spool::RangeSet;
use crate::telemetry;

/// The bytes of the batch's records at the (ascending) positions given.
fn bytes_of(batch: &SealedBatch, failed: &[(usize, ConversionError)]) -> usize {
    let mut failed = failed.iter().map(|(i, _)| *i).peekable();
    batch
        .iter()
        .enumerate()
        .filter(|(i, _)| failed.next_if_eq(i).is_some())
        .map(|(_, (data, _))| data.len())
        .sum()
}

/// The records of a data batch that did not convert: counted once, sealed once
/// as a `format-conversion-failed` batch (before the destination commits),
/// and left out of the data batch's own failures.
pub(super) struct Misfits<'a> {
    deliverer: &'a Deliverer,
    batch: &'a SealedBatch,
    key: &'a str,
    state: tokio::sync::Mutex<MisfitState>,
    /// Their positions, as of the last conversion.
    positions: Mutex<RangeSet>,
}

#[derive(Default)]
struct MisfitState {
    counted: bool,
    /// Sealed before the last stop, or by an earlier attempt.
    sealed: bool,
    errors: Option<Delivery>,
}

impl<'a> Misfits<'a> {
    pub(super) fn new(
        deliverer: &'a Deliverer,
        batch: &'a SealedBatch,
        key: &'a str,
        sealed: bool,
    ) -> Self {
        Self {
            deliverer,
            batch,
            key,
            state: tokio::sync::Mutex::new(MisfitState {
                sealed,
                ..MisfitState::default()
            }),
            positions: Mutex::new(RangeSet::new()),
        }
    }

    pub(super) fn positions(&self) -> RangeSet {
        self.positions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The error batch sealed by this delivery, to deliver after it.
    pub(super) fn into_errors(self) -> Option<Delivery> {
        self.state.into_inner().errors
    }
}

impl Conversion for Misfits<'_> {
    fn converted<'a>(&'a self, failed: &'a [(usize, ConversionError)]) -> BoxFuture<'a, ()> {
        async move {
            let mut positions = RangeSet::new();
            for (i, _) in failed {
                positions.insert(*i as u64..*i as u64 + 1);
            }
            *self
                .positions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = positions;
            let mut state = self.state.lock().await;
            if !state.counted {
                state.counted = true;
                let failed_bytes = bytes_of(self.batch, failed);
                telemetry::converted(
                    &self.deliverer.stream,
                    (
                        self.batch.record_count() - failed.len(),
                        self.batch.data.len() - failed_bytes,
                    ),
                    (failed.len(), failed_bytes),
                );
            }
            if !failed.is_empty() && !state.sealed {
                let errors = self
                    .deliverer
                    .conversion_errors(self.batch, failed, self.key);
                self.deliverer.seal(&errors).await;
                state.errors = Some(errors);
                state.sealed = true;
            }
        }
        .boxed()
    }
}
