//! `/metrics`: Firehose's CloudWatch metrics as Prometheus samples, counted exactly.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn counts_match_what_was_put_and_delivered() {
    let config = Conf::new().stream(Stream::new("m").at_once()).text();
    let d = Daemon::start(&config);
    for _ in 0..3 {
        let r = firehose(
            d.addr,
            "PutRecordBatch",
            r#"{"DeliveryStreamName":"m","Records":[{"Data":"aGVsbG8K"},{"Data":"d29ybGQK"}]}"#,
        );
        assert_eq!(r.status, 200);
    }
    let r = firehose(
        d.addr,
        "PutRecord",
        r#"{"DeliveryStreamName":"m","Record":{"Data":"IQo="}}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        http(
            d.addr,
            "POST",
            "/delivery-streams/m/records",
            &[],
            b"a\nb\n"
        )
        .unwrap()
        .status,
        200
    );
    // A refused put is not counted as incoming.
    assert_eq!(
        firehose(
            d.addr,
            "PutRecord",
            r#"{"DeliveryStreamName":"nope","Record":{"Data":"IQo="}}"#
        )
        .status,
        400
    );

    let at = |s: &str| metric(&d, s);
    assert_eq!(
        at(r#"sluice_incoming_records_total{stream="m"}"#),
        Some(9.0)
    );
    assert_eq!(
        at(r#"sluice_incoming_bytes_total{stream="m"}"#),
        Some((3 * 12 + 2 + 4) as f64)
    );
    assert_eq!(
        at(r#"sluice_incoming_put_requests_total{stream="m",operation="PutRecordBatch"}"#),
        Some(3.0)
    );
    assert_eq!(
        at(r#"sluice_incoming_put_requests_total{stream="m",operation="PutRecord"}"#),
        Some(1.0)
    );
    assert_eq!(
        at(r#"sluice_incoming_put_requests_total{stream="m",operation="PutNdjson"}"#),
        Some(1.0)
    );
    // Zero buffering: everything is delivered shortly, and the backlog drains to 0.
    eventually(
        Duration::from_secs(10),
        || format!("nine records delivered:\n{}", d.log()),
        || (at(r#"sluice_delivered_records_total{stream="m"}"#) == Some(9.0)).then_some(()),
    );
    eventually(
        Duration::from_secs(10),
        || format!("the backlog to drain:\n{}", d.log()),
        || (at(r#"sluice_backlog_records{stream="m"}"#) == Some(0.0)).then_some(()),
    );
    // Everything delivered: the spool's segment is emptied down to its 8-byte header.
    eventually(
        Duration::from_secs(10),
        || format!("the spool emptied:\n{}", d.log()),
        || (at(r#"sluice_spool_bytes{stream="m"}"#) == Some(8.0)).then_some(()),
    );
    let objects = at(r#"sluice_delivered_objects_total{stream="m"}"#).unwrap();
    assert_eq!(objects as usize, common::objects(&d.path("out")).len());
    let stored: usize = common::objects(&d.path("out"))
        .iter()
        .map(|(_, b)| b.len())
        .sum();
    assert_eq!(
        at(r#"sluice_delivered_bytes_total{stream="m"}"#),
        Some(stored as f64)
    );
}
