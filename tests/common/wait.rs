//! Waiting on conditions, not clocks: a test polls for what it needs (a file, a
//! metric, a log line) until a deadline, and fails saying what it waited for.

use std::time::{Duration, Instant};

/// How often a condition is checked: often enough that a test waits little
/// past the moment it holds, rarely enough not to load a two-core machine.
const POLL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`, and returns that; panics once
/// `deadline` has passed with `what` (such as the daemon's log after what was
/// awaited) so the failure says what did not happen.
pub fn eventually<T>(
    deadline: Duration,
    what: impl Fn() -> String,
    check: impl FnMut() -> Option<T>,
) -> T {
    poll_until(deadline, check).unwrap_or_else(|| panic!("waited {deadline:?} for {}", what()))
}

/// Polls `check` until it returns `Some`, or `None` once `deadline` has passed:
/// for a caller with something to clean up before it fails.
pub fn poll_until<T>(deadline: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Reads with `read` until `done` holds for the reading or `deadline` passes,
/// and returns the last reading either way: for a test whose assertions then
/// say what is wrong with it better than a timeout would.
pub fn read_until<T>(
    deadline: Duration,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let until = Instant::now() + deadline;
    loop {
        let reading = read();
        if done(&reading) || Instant::now() >= until {
            return reading;
        }
        std::thread::sleep(POLL);
    }
}
