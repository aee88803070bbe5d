//! File descriptors for many streams: each stream holds a few open at all times
//! (its spool segment, ledger and lock), so a config with thousands of streams
//! needs more than the 1,024 a default soft limit allows. At start the soft limit
//! is raised as far as the hard limit lets it; a hard limit that is still too low
//! is a clear error then, not a failure later under load.

use std::io;

/// Descriptors each stream holds open, measured: segment, ledger, lock.
pub const PER_STREAM: u64 = 3;
/// For everything else: listeners, connections, destinations, plugins, reads.
pub const MARGIN: u64 = 512;

/// Why the daemon cannot have the descriptors its streams need.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    #[error(
        "{streams} delivery streams need about {needed} open files, and the hard limit is {hard}: \
         raise it (LimitNOFILE= in the systemd unit, or ulimit -Hn) or configure fewer streams"
    )]
    TooLow {
        streams: usize,
        needed: u64,
        hard: u64,
    },
    #[error("cannot read or raise the open-file limit: {0}")]
    Io(#[from] io::Error),
}

/// How many descriptors `streams` streams need.
pub fn needed(streams: usize) -> u64 {
    (streams as u64)
        .saturating_mul(PER_STREAM)
        .saturating_add(MARGIN)
}

/// Raises the soft open-file limit to what `streams` streams need, if it is
/// lower; returns the soft limit now in force.
pub fn ensure(streams: usize) -> Result<u64, DescriptorError> {
    let needed = needed(streams);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed; it lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    if limit.rlim_cur >= needed {
        return Ok(limit.rlim_cur);
    }
    if limit.rlim_max < needed {
        return Err(DescriptorError::TooLow {
            streams,
            needed,
            hard: limit.rlim_max,
        });
    }
    let raised = libc::rlimit {
        rlim_cur: needed,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads the struct passed; it lives for the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_covers_the_streams_after_ensure() {
        let soft = ensure(100).expect("a hard limit of 812 or more");
        assert!(soft >= needed(100));
    }

    #[test]
    fn a_hard_limit_too_low_is_a_clear_error() {
        let err = ensure(usize::MAX / 4).unwrap_err();
        assert!(err.to_string().contains("LimitNOFILE="), "{err}");
    }
}
