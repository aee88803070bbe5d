//! systemd's notify protocol through the real daemon, with a `NOTIFY_SOCKET` the
//! test listens on: `READY=1` only once a spool holding records is recovered and
//! the listener is up, `WATCHDOG=1` at half of `WATCHDOG_USEC`, `RELOADING=1` and
//! `READY=1` around a reload on SIGHUP, `STOPPING=1` on SIGTERM.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::*;

/// Every datagram the daemon sends within `window`, with when it arrived.
fn receive(socket: &UnixDatagram, window: Duration) -> Vec<(Instant, String)> {
    let end = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        socket
            .set_read_timeout(Some(
                end.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            got.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    got
}

#[test]
fn ready_after_recovery_watchdog_pings_reloading_and_stopping_on_sigterm() {
    let config = "[server]\nlisten = \"{listen}\"\n[[delivery_streams]]\nname = \"s\"\n\
                  buffering = { size_mb = 64, interval_seconds = 900 }\n\
                  destination = { type = \"local\", path = \"{dir}/out\" }\n";
    // Records acknowledged into the spool, then the daemon killed before delivering.
    let daemon = Daemon::start(config);
    let records: Vec<String> = (0..200).map(|i| format!("spooled-{i}\n")).collect();
    assert!(put_batch(daemon.addr, "s", &records));
    let dir = daemon.into_dir();

    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let path = socket_path.display().to_string();
    let started = Instant::now();
    let mut daemon = Daemon::start_in_env(
        dir,
        config,
        &[("NOTIFY_SOCKET", &path), ("WATCHDOG_USEC", "400000")],
    );
    let messages = receive(&socket, Duration::from_millis(2500));
    let ready: Vec<&(Instant, String)> = messages
        .iter()
        .filter(|(_, m)| m.contains("READY=1"))
        .collect();
    assert_eq!(ready.len(), 1, "{messages:?}");
    assert!(
        ready[0].1.contains("STATUS=taking records on 127.0.0.1:"),
        "{}",
        ready[0].1
    );
    // The status says what the spool held when the daemon became ready.
    assert!(
        ready[0]
            .1
            .contains("1 delivery streams, 200 records waiting"),
        "{}",
        ready[0].1
    );
    assert!(ready[0].0 > started);
    // Ready means taking records: a put right after is acknowledged.
    assert!(put_batch(daemon.addr, "s", &["after-ready\n".to_string()]));

    // WATCHDOG_USEC 400 ms: a ping every 200 ms.
    let pings: Vec<Instant> = messages
        .iter()
        .filter(|(_, m)| m.trim() == "WATCHDOG=1")
        .map(|(at, _)| *at)
        .collect();
    assert!(
        (8..=16).contains(&pings.len()),
        "{} pings in 2.5 s: {messages:?}",
        pings.len()
    );
    for pair in pings.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap > Duration::from_millis(120) && gap < Duration::from_millis(400),
            "{gap:?}"
        );
    }

    // A reload (the file unchanged) is framed by RELOADING and READY.
    signal(daemon.pid(), "HUP");
    let reload = receive(&socket, Duration::from_millis(1500));
    let states: Vec<&str> = reload
        .iter()
        .flat_map(|(_, m)| m.lines())
        .filter(|l| *l == "RELOADING=1" || *l == "READY=1")
        .collect();
    assert_eq!(states, ["RELOADING=1", "READY=1"], "{reload:?}");
    assert!(
        reload
            .iter()
            .any(|(_, m)| m.contains("MONOTONIC_USEC=") && m.contains("RELOADING=1")),
        "{reload:?}"
    );
    daemon.wait_for_log("configuration reloaded: no delivery stream changed");
    assert!(put_batch(daemon.addr, "s", &["after-reload\n".to_string()]));

    signal(daemon.pid(), "TERM");
    let after = receive(&socket, Duration::from_millis(1500));
    let stopping = after.iter().find(|(_, m)| m.contains("STOPPING=1"));
    assert!(stopping.is_some(), "{after:?}");
    assert!(stopping.unwrap().1.contains("STATUS=stopping intake"));
    assert!(daemon.stop_after_signal().success());
    // What was in the spool before READY was delivered at the stop.
    let delivered = delivered(&daemon.path("out"));
    assert_eq!(
        delivered.len(),
        202,
        "recovered records and the ones after READY and the reload"
    );
    assert!(delivered.contains_key("spooled-0\n") && delivered.contains_key("after-ready\n"));
}
