//! The signals the daemon acts on: SIGTERM and Ctrl-C stop it, SIGHUP reloads
//! its configuration. The handlers are installed once, so a signal that comes
//! while the daemon is busy (a reload under way) waits its turn, never lost.

use tokio::signal::unix::{Signal as Stream, SignalKind, signal};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Shutdown,
    Reload,
}

/// The daemon's signal handlers.
pub struct Signals {
    term: Stream,
    interrupt: Stream,
    hangup: Stream,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            Some(()) = self.term.recv() => Signal::Shutdown,
            Some(()) = self.interrupt.recv() => Signal::Shutdown,
            Some(()) = self.hangup.recv() => Signal::Reload,
        }
    }

    /// The next signal asking for a shutdown; reloads asked meanwhile are
    /// ignored (the daemon is stopping).
    pub async fn shutdown(&mut self) {
        while self.next().await != Signal::Shutdown {}
    }
}
