//! How much of its retry duration a batch's delivery has used. The window opens
//! at the first failed attempt (contract §9.4); it counts the waits between
//! attempts, and for object stores the attempts themselves, but not an HTTP
//! endpoint's time to answer. The deliverer keeps it in the spool's ledger after
//! each failure, so a restart continues the window instead of opening a new one.

use std::time::Duration;

/// One batch's retry clock.
#[derive(Debug)]
pub struct RetryClock {
    batch: u64,
    spent: Duration,
    /// Whether the window is open (an attempt failed).
    running: bool,
}

impl RetryClock {
    /// The clock of batch `batch`, which used `spent` before the last stop.
    pub fn new(batch: u64, spent: Duration) -> Self {
        Self {
            batch,
            spent,
            running: !spent.is_zero(),
        }
    }

    pub fn batch(&self) -> u64 {
        self.batch
    }

    pub fn spent(&self) -> Duration {
        self.spent
    }

    /// An attempt failed after `attempt` (`None`: its time does not count). The
    /// first failure opens the window and counts nothing.
    pub fn failed(&mut self, attempt: Option<Duration>) {
        if self.running {
            self.spent += attempt.unwrap_or_default();
        }
        self.running = true;
    }

    /// The wait before the next attempt, which always counts.
    pub fn waited(&mut self, wait: Duration) {
        self.spent += wait;
    }

    /// An attempt succeeded: the next request gets a window of its own. Returns
    /// whether a window was open (then the reset is worth keeping).
    pub fn succeeded(&mut self) -> bool {
        let was_running = self.running;
        self.spent = Duration::ZERO;
        self.running = false;
        was_running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_window_opens_at_the_first_failure_and_counts_waits_and_attempts() {
        let mut c = RetryClock::new(7, Duration::ZERO);
        c.failed(Some(30 * S)); // the first attempt does not count
        assert_eq!(c.spent(), Duration::ZERO);
        c.waited(S);
        c.failed(Some(2 * S));
        c.failed(None); // an HTTP endpoint's answer time
        c.waited(2 * S);
        assert_eq!(c.spent(), 5 * S);
        assert!(c.succeeded());
        assert_eq!(c.spent(), Duration::ZERO);
        assert!(!c.succeeded(), "no window open any more");
    }

    #[test]
    fn a_clock_kept_from_before_a_restart_is_open_and_continues() {
        let mut c = RetryClock::new(7, 4 * S);
        c.failed(Some(S));
        assert_eq!((c.batch(), c.spent()), (7, 5 * S));
    }
}
