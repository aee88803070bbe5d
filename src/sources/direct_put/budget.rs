//! One memory budget for every request in flight: bodies being read and
//! decoded, and records on their way into the spool.
//!
//! Without it, memory grows with the number of requests at once (and with the
//! records each holds): twenty clients sending 16 MiB bodies of tiny lines
//! would take a machine's memory. A request claims what it is about to hold
//! before it holds it; a claim that does not fit waits up to [`WAIT`] and is
//! then answered with Firehose's throttling answer (`ServiceUnavailableException`,
//! "Slow down."), which every SDK retries. Nothing of a throttled request is
//! stored.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::NotTaken;

/// How long a claim waits for memory that other requests hold.
pub const WAIT: Duration = Duration::from_secs(1);

/// The daemon's ingest memory, in bytes.
pub struct Budget {
    bytes: Arc<Semaphore>,
    total: usize,
}

impl Budget {
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// An empty claim, to grow as the request reads and decodes.
    pub fn claim(&self) -> Claim<'_> {
        Claim {
            budget: self,
            held: None,
        }
    }

    /// Bytes not claimed now.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.bytes.available_permits()
    }
}

/// What one request holds of the budget; given back when dropped.
pub struct Claim<'a> {
    budget: &'a Budget,
    held: Option<OwnedSemaphorePermit>,
}

impl Claim<'_> {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.held
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Claims `bytes` more, waiting up to [`WAIT`] for them. A request larger
    /// than the whole budget gets the whole budget (it runs alone).
    pub async fn grow(&mut self, bytes: usize) -> Result<(), NotTaken> {
        let want = bytes.min(self.budget.total - self.bytes());
        if want == 0 {
            return Ok(());
        }
        let semaphore = Arc::clone(&self.budget.bytes);
        let permits = u32::try_from(want).unwrap_or(u32::MAX);
        let more = match semaphore.clone().try_acquire_many_owned(permits) {
            Ok(permit) => permit,
            Err(_) => tokio::time::timeout(WAIT, semaphore.acquire_many_owned(permits))
                .await
                .map_err(|_| throttled())?
                .map_err(|_| throttled())?,
        };
        match &mut self.held {
            Some(held) => held.merge(more),
            None => self.held = Some(more),
        }
        Ok(())
    }

    /// Gives back all but `bytes` (what the request still holds).
    pub fn shrink_to(&mut self, bytes: usize) {
        if let Some(held) = &mut self.held
            && held.num_permits() > bytes
        {
            drop(held.split(held.num_permits() - bytes));
        }
    }
}

fn throttled() -> NotTaken {
    crate::telemetry::ingest_throttled("memory");
    NotTaken("Slow down.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn claims_wait_for_memory_and_give_it_back() {
        let budget = Budget::new(100);
        let mut a = budget.claim();
        a.grow(60).await.unwrap();
        assert_eq!((a.bytes(), budget.free()), (60, 40));
        // 60 + 50 > 100: the second claim waits, then is throttled.
        let mut b = budget.claim();
        let started = tokio::time::Instant::now();
        let err = b.grow(50).await.unwrap_err();
        assert_eq!(err, NotTaken("Slow down.".into()));
        assert!(started.elapsed() >= WAIT);
        assert_eq!(b.bytes(), 0, "a throttled claim holds nothing");
        a.shrink_to(10);
        assert_eq!(budget.free(), 90);
        b.grow(50).await.unwrap();
        drop(a);
        drop(b);
        assert_eq!(budget.free(), 100);
    }

    #[tokio::test]
    async fn a_claim_waiting_for_memory_gets_it_when_another_ends() {
        let budget = Arc::new(Budget::new(100));
        let mut a = budget.claim();
        a.grow(80).await.unwrap();
        let waiting = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move {
                let mut b = budget.claim();
                b.grow(50).await.map(|()| b.bytes())
            })
        };
        tokio::time::sleep(WAIT / 4).await;
        drop(a);
        assert_eq!(waiting.await.unwrap().unwrap(), 50);
    }

    #[tokio::test]
    async fn a_claim_over_the_whole_budget_gets_the_whole_budget() {
        let budget = Budget::new(100);
        let mut a = budget.claim();
        a.grow(30).await.unwrap();
        a.grow(500).await.unwrap();
        assert_eq!((a.bytes(), budget.free()), (100, 0));
    }
}
