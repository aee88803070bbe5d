//! Retrying a batch's delivery: how long to wait between attempts (`backoff`),
//! how much of the retry duration a batch has used (`clock`), and the waits
//! themselves, logged and counted as delivery failures.

mod backoff;
mod clock;

use std::time::Duration;

pub use backoff::Backoff;
pub use clock::RetryClock;

use crate::telemetry;

/// Waits between a stream's failed attempts.
pub struct Retrier {
    stream: String,
    /// The destination, as logs name it.
    destination: String,
    backoff: Backoff,
}

impl Retrier {
    pub fn new(stream: &str, destination: String) -> Self {
        Self {
            stream: stream.to_string(),
            destination,
            backoff: Backoff::default(),
        }
    }

    /// Logs a failed attempt and waits before the next one; returns the wait.
    pub async fn wait_after_failure(&self, attempt: u32, code: &str, error: &str) -> Duration {
        self.wait_within(attempt, code, error, Duration::MAX).await
    }

    /// As [`Self::wait_after_failure`], waiting no longer than what is `left`
    /// of the retry duration, so that the last attempt comes as it ends (as
    /// Firehose retries until the duration is over), not up to a whole
    /// backoff step after it.
    pub async fn wait_within(
        &self,
        attempt: u32,
        code: &str,
        error: &str,
        left: Duration,
    ) -> Duration {
        telemetry::delivery_failed(&self.stream, code);
        let wait = self.backoff.delay(attempt).min(left);
        tracing::warn!(
            stream = %self.stream, destination = %self.destination, attempt, code, error,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "delivery failed, will retry"
        );
        tokio::time::sleep(wait).await;
        wait
    }

    /// Retries a spool operation until it succeeds: without it the batch cannot be
    /// delivered safely, and giving up would lose it.
    pub async fn until_ok<F, Fut>(&self, code: &str, op: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = std::io::Result<()>>,
    {
        let mut attempt = 0u32;
        while let Err(e) = op().await {
            attempt += 1;
            self.wait_after_failure(attempt, code, &e.to_string()).await;
        }
    }
}
