//! systemd's notify protocol (`Type=notify` in `config/sluice.service`): `READY=1`
//! once the spools are recovered and the listener is up, so that units ordered
//! after Sluice start when it takes records; `RELOADING=1` and `READY=1` around
//! a reload on SIGHUP; `STOPPING=1` when a shutdown begins;
//! `STATUS=` lines saying what it is doing; and `WATCHDOG=1` pings when the unit
//! sets `WatchdogSec=`. Without `NOTIFY_SOCKET` each call does nothing.

use sd_notify::NotifyState;

/// Sends `states`; a failure is logged, never fatal (the service manager may be
/// gone while the daemon still has records to deliver).
fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// Startup is done: records are taken from now on.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload began (SIGHUP); [`ready`] follows when it is done. The monotonic
/// time lets `Type=notify-reload` units use it too.
pub fn reloading() {
    let mut states = vec![
        NotifyState::Reloading,
        NotifyState::Status("reloading the configuration"),
    ];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    send(&states);
}

/// What the daemon is doing, for `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// A shutdown began: intake stops, buffers are delivered.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// Pings the watchdog at half the unit's `WatchdogSec=` from a task on the
/// daemon's runtime, for the life of the process: if the runtime stalls, the pings
/// stop and systemd restarts the service. Nothing without a watchdog.
pub fn spawn_watchdog() {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = timeout / 2;
    tracing::info!(
        every_ms = every.as_millis() as u64,
        "pinging systemd's watchdog"
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    });
}
