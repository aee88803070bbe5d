//! The daemon's memory for sealed batches being encoded and delivered
//! (`server.delivery_memory_mb`), shared by every stream.
//!
//! Open buffers wait on disk (`staged.rs`); a sealed batch is read back into
//! memory only once it has its share here. A stream that cannot get one waits
//! before reading more of its spool, so pressure ends as `Slow down.` at
//! ingest when the spool is full, never as a daemon killed for memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes a loaded batch holds per record besides its data: its mark (end, and
/// a run of sequence numbers and arrival when records interleave) and its
/// range of sequence numbers.
const PER_RECORD: usize = 48;

const MIB: usize = 1024 * 1024;

/// The budget, in MiB permits.
#[derive(Clone)]
pub struct DeliveryMemory {
    permits: Arc<Semaphore>,
    total_mb: u32,
}

impl DeliveryMemory {
    pub fn new(total_mb: u64) -> Self {
        let total_mb = u32::try_from(total_mb).unwrap_or(u32::MAX).max(1);
        Self {
            permits: Arc::new(Semaphore::new(total_mb as usize)),
            total_mb,
        }
    }

    /// Waits for the share of a batch of `records` records and `bytes` bytes:
    /// at least 1 MiB, at most the whole budget (a batch larger than the
    /// budget goes alone). Held until the share drops.
    pub async fn take(&self, records: usize, bytes: usize) -> Share {
        let need = (bytes + records * PER_RECORD).div_ceil(MIB);
        let share = u32::try_from(need)
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_mb);
        let permit = match self.permits.clone().acquire_many_owned(share).await {
            Ok(permit) => permit,
            // The semaphore is never closed.
            Err(_) => unreachable!("the delivery memory is never closed"),
        };
        self.report();
        Share {
            permit: Some(permit),
            memory: self.clone(),
        }
    }

    fn report(&self) {
        let budget = u64::from(self.total_mb) * MIB as u64;
        let free = self.permits.available_permits() as u64 * MIB as u64;
        crate::telemetry::delivery_memory(budget.saturating_sub(free), budget);
    }
}

/// A batch's share of the delivery memory, given back when dropped.
pub struct Share {
    permit: Option<OwnedSemaphorePermit>,
    memory: DeliveryMemory,
}

impl Drop for Share {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.memory.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_wait_for_their_share_and_a_large_one_goes_alone() {
        let memory = DeliveryMemory::new(100);
        let a = memory.take(1_000, 60 * MIB).await;
        // 60 MiB + 48 KB of marks: 61 MiB taken, 39 left.
        assert_eq!(memory.permits.available_permits(), 39);
        let waiting = tokio::spawn({
            let memory = memory.clone();
            async move { memory.take(0, 50 * MIB).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "50 MiB fit in 39");
        drop(a);
        let b = waiting.await.unwrap();
        assert_eq!(memory.permits.available_permits(), 50);
        drop(b);
        // Larger than the budget: takes all of it, and goes.
        let all = memory.take(0, 500 * MIB).await;
        assert_eq!(memory.permits.available_permits(), 0);
        drop(all);
        assert_eq!(memory.permits.available_permits(), 100);
    }
}
