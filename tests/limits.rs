//! Limits against slow, idle and abusive clients through the real daemon: headers
//! and bodies that trickle are cut off while others are served, a flood of
//! connections past `server.max_connections` is answered 503 and closed without the
//! daemon's memory growing, and deeply nested JSON is refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// One stream delivering at once; `server` sets keys of `[server]`.
fn config(server: Table) -> String {
    Conf::new()
        .merge("server", server)
        .stream(Stream::new("s").at_once())
        .text()
}

/// Sends `bytes` one at a time, `gap` apart, until the daemon closes the
/// connection (or `give_up` passes); returns when it was closed, if it was, and
/// what the daemon wrote.
fn trickle(
    stream: &mut TcpStream,
    bytes: &[u8],
    gap: Duration,
    give_up: Duration,
) -> (Option<Duration>, String) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut answer = Vec::new();
    for byte in bytes.iter().cycle() {
        if started.elapsed() > give_up {
            return (None, String::from_utf8_lossy(&answer).into_owned());
        }
        if stream.write_all(&[*byte]).is_err() {
            return (
                Some(started.elapsed()),
                String::from_utf8_lossy(&answer).into_owned(),
            );
        }
        let mut buf = [0u8; 1024];
        match stream.read(&mut buf) {
            Ok(0) => {
                return (
                    Some(started.elapsed()),
                    String::from_utf8_lossy(&answer).into_owned(),
                );
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                return (
                    Some(started.elapsed()),
                    String::from_utf8_lossy(&answer).into_owned(),
                );
            }
        }
        // A trickling client: the gap between bytes is the load's shape.
        std::thread::sleep(gap);
    }
    unreachable!("cycle never ends")
}

#[test]
fn a_client_trickling_headers_or_a_body_is_cut_off_while_others_are_served() {
    let mut daemon = Daemon::start(&config(
        toml! { header_timeout_seconds = 2  body_timeout_seconds = 2 },
    ));
    let addr = daemon.addr;
    let served = std::thread::spawn(move || {
        (0..10)
            .filter(|i| {
                // Ten clients spread over the trickling one's two seconds.
                std::thread::sleep(Duration::from_millis(200));
                put_batch(addr, "s", &[format!("served-{i}\n")])
            })
            .count()
    });
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let (closed, _) = trickle(
        &mut slow,
        b"X-Slow: yes-",
        Duration::from_millis(200),
        Duration::from_secs(15),
    );
    let closed = closed.expect("a trickling header is cut off");
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_secs(6),
        "{closed:?}"
    );
    assert_eq!(
        served.join().unwrap(),
        10,
        "the other client was served meanwhile"
    );

    let mut slow_body = TcpStream::connect(addr).unwrap();
    slow_body
        .write_all(
            b"POST /delivery-streams/s/records HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
        )
        .unwrap();
    let (closed, answer) = trickle(
        &mut slow_body,
        b"line\n",
        Duration::from_millis(200),
        Duration::from_secs(15),
    );
    assert!(closed.is_some(), "a trickling body is cut off: {answer}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestTimeoutException"), "{answer}");

    // An idle keep-alive connection is closed after the header timeout too.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    assert!(daemon.stop().success());
    assert_eq!(delivered(&daemon.path("out")).len(), 10);
}

#[test]
fn a_connection_flood_past_the_cap_is_refused_without_memory_growing() {
    let mut daemon = Daemon::start(&config(
        toml! { max_connections = 20  header_timeout_seconds = 60 },
    ));
    let addr = daemon.addr;
    assert!(put_batch(addr, "s", &["warm-up\n".to_string()]));
    // Twenty connections hold the cap with half a request each. One opened while
    // the warm-up's connection still held its slot is refused (503 and closed):
    // another takes its place, until twenty are held.
    let hold = || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
        s
    };
    let mut held: Vec<TcpStream> = (0..20).map(|_| hold()).collect();
    let mut holders_refused = 0.0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Silence shows a held slot only once the daemon had time to refuse it.
        std::thread::sleep(Duration::from_millis(300));
        held.retain_mut(|s| {
            s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
            // Silence is a held slot; an answer or the end is a refusal.
            let silent = matches!(s.read(&mut [0u8; 1]), Err(e)
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
            if !silent {
                holders_refused += 1.0;
            }
            silent
        });
        if held.len() == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "cannot hold 20 connections");
        held.extend((held.len()..20).map(|_| hold()));
    }
    let before = peak_rss_kb(daemon.pid());
    let mut refused = 0;
    for i in 0..2000 {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        // One that is served instead would wait out the timeout: stop at the first
        // (2,000 of them would take hours).
        assert!(
            answer.starts_with("HTTP/1.1 503") && answer.contains("Slow down."),
            "connection {i} past the cap got {answer:?}:\n{}",
            daemon.log()
        );
        refused += 1;
    }
    let after = peak_rss_kb(daemon.pid());
    assert_eq!(
        refused, 2000,
        "every connection past the cap is answered 503 and closed"
    );
    assert!(
        after < before + 10 * 1024,
        "peak RSS went from {before} to {after} kB"
    );
    drop(held);
    // Once the holders leave, connections are served again.
    // (The daemon may see the holders leave a moment after they did.)
    let mut tries = 0.0;
    eventually(
        Duration::from_secs(10),
        || format!("a put served after the flood:\n{}", daemon.log()),
        || {
            tries += 1.0;
            put_batch(addr, "s", &["after\n".to_string()]).then_some(())
        },
    );
    let counted = metric(
        &daemon,
        "sluice_ingest_throttled_requests_total{reason=\"connections\"}",
    )
    .unwrap_or(0.0);
    let expected = 2000.0 + holders_refused;
    assert!(
        (expected..expected + tries).contains(&counted),
        "{counted} refusals counted"
    );
    assert!(daemon.stop().success());
}

/// Nesting costs no stack: what is not read is skipped without recursing (serde_json
/// skips unknown values iteratively), and a value read as a type it cannot be is
/// refused at its first level.
#[test]
fn deeply_nested_json_is_bounded_and_the_daemon_goes_on() {
    let mut daemon = Daemon::start(&config(Table::new()));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let skipped = format!(
        "{{\"DeliveryStreamName\":\"s\",\"Records\":[{{\"Data\":\"bmVzdGVkCg==\",\"x\":{deep}}}]}}"
    );
    let reply = firehose(daemon.addr, "PutRecordBatch", &skipped);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let as_data = format!("{{\"DeliveryStreamName\":\"s\",\"Records\":[{{\"Data\":{deep}}}]}}");
    let reply = firehose(daemon.addr, "PutRecordBatch", &as_data);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["__type"], "SerializationException");
    let describe = format!("{{\"DeliveryStreamName\":\"s\",\"x\":{deep}}}");
    let reply = firehose(daemon.addr, "DescribeDeliveryStream", &describe);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.json()["DeliveryStreamDescription"]["DeliveryStreamName"],
        "s"
    );
    assert!(put_batch(daemon.addr, "s", &["fine\n".to_string()]));
    assert!(daemon.stop().success());
    let lines = delivered(&daemon.path("out"));
    assert!(
        lines.contains_key("nested\n") && lines.contains_key("fine\n"),
        "{lines:?}"
    );
}
