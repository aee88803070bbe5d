//! How long to wait between delivery attempts: exponential backoff with jitter.
//!
//! Firehose's documented schedule for HTTP endpoints (1 s, ×2, ±15 %, capped) is
//! used for every destination. Waits use tokio's clock, so tests can pause time.

use std::time::Duration;

use rand::Rng;

/// An exponential backoff schedule.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Relative jitter: 0.15 means ±15 %.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
            jitter: 0.15,
        }
    }
}

impl Backoff {
    /// The wait after the `attempt`-th failure (1-based): `min(max, initial × 2^(n-1))`
    /// times a random factor in `[1 - jitter, 1 + jitter]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let base = exp.min(self.max);
        let factor = rand::rng().random_range((1.0 - self.jitter)..=(1.0 + self.jitter));
        base.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps_within_jitter() {
        let b = Backoff::default();
        for (attempt, secs) in [(1, 1.0), (2, 2.0), (3, 4.0), (8, 120.0), (40, 120.0)] {
            let d = b.delay(attempt).as_secs_f64();
            assert!(
                (secs * 0.85..=secs * 1.15).contains(&d),
                "attempt {attempt}: {d}"
            );
        }
    }
}
