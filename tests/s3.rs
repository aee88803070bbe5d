//! The S3 destination against a real SeaweedFS server: keys, bodies, multipart
//! uploads, prefix expressions, the error output, outages, retry durations, wrong
//! credentials, source backup. Objects are read back with boto3.

mod common;

use std::io::Read;

use base64::Engine;
use common::*;
use serde_json::json;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Stream `s` writing to `bucket` in SeaweedFS with Sluice's credentials.
fn s3_stream(s3: &Seaweed, bucket: &str) -> Stream {
    Stream::new("s").destination(table([
        ("type", "s3".into()),
        ("bucket", bucket.into()),
        ("endpoint", s3.endpoint.clone().into()),
        ("access_key_id", S3_USER.0.into()),
        ("secret_access_key", S3_USER.1.into()),
    ]))
}

/// Puts `records` to the stream `s`; true if all were acknowledged.
fn put(d: &Daemon, records: &[String]) -> bool {
    put_batch(d.addr, "s", records)
}

fn gunzip(body: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut out)
        .expect("gzip object");
    out
}

#[test]
fn objects_land_under_firehose_keys_with_their_bytes_and_encoding() {
    let s3 = Seaweed::start();
    let config = Conf::new()
        .stream(
            s3_stream(&s3, BUCKET)
                .set("compression", "gzip")
                .buffering(1, 900)
                .merge(
                    "destination",
                    toml! {
                        prefix = "logs/!{timestamp:yyyy}/!{firehose:random-string}/"
                        error_output_prefix = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM}/"
                    },
                ),
        )
        .text();
    let mut d = Daemon::start(&config);
    let records = json_lines(300, "n");
    assert!(put(&d, &records[..150]));
    assert!(put(&d, &records[150..]));
    assert!(d.stop().success(), "{}", d.log());
    let objects = s3.objects(BUCKET);
    assert_eq!(objects.len(), 1, "{objects:?}");
    let o = &objects[0];
    let year = chrono::Utc::now().format("%Y").to_string();
    let parts: Vec<&str> = o.key.split('/').collect();
    assert_eq!(parts.len(), 4, "{}", o.key);
    assert_eq!((parts[0], parts[1]), ("logs", year.as_str()));
    assert_eq!(parts[2].len(), 11, "random-string: {}", parts[2]);
    assert!(
        parts[3].starts_with(&format!("s-1-{year}-")) && parts[3].ends_with(".gz"),
        "{}",
        parts[3]
    );
    assert_eq!(o.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(gunzip(&o.body), records.concat());
}

#[test]
fn a_buffer_over_8_mb_goes_up_in_parts_and_leaves_no_upload_open() {
    let s3 = Seaweed::start();
    let config = Conf::new()
        .stream(s3_stream(&s3, BUCKET).buffering(32, 900))
        .text();
    let mut d = Daemon::start(&config);
    let big = format!("{}\n", "q".repeat(100_000 - 1));
    // 200 records of 100 kB: 20 MB, one object of three 8 MiB parts.
    for _ in 0..5 {
        assert!(put(&d, &vec![big.clone(); 40]));
    }
    assert!(d.stop().success(), "{}", d.log());
    let objects = s3.objects(BUCKET);
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].body.len(), 200 * big.len());
    assert!(objects[0].body == big.repeat(200).into_bytes());
    // A multipart ETag ends in -<parts>.
    assert!(objects[0].etag.ends_with("-3"), "{}", objects[0].etag);
    assert_eq!(s3.admin(&["uploads", BUCKET]), json!([]));
}

#[test]
fn an_outage_delays_delivery_and_loses_nothing() {
    let mut s3 = Seaweed::start();
    let config = Conf::new()
        .stream(s3_stream(&s3, BUCKET).buffering(1, 1))
        .text();
    let mut d = Daemon::start(&config);
    let before = json_lines(100, "before");
    assert!(put(&d, &before));
    s3.wait_for(BUCKET, "", 1, &d);
    s3.kill();
    let during = json_lines(100, "during");
    assert!(put(&d, &during), "puts are acknowledged while S3 is down");
    d.wait_for_log("delivery failed, will retry");
    s3.run();
    let objects = s3.wait_for(BUCKET, "", 2, &d);
    assert!(d.stop().success());
    let mut got: Vec<String> = objects
        .iter()
        .flat_map(|o| {
            String::from_utf8(o.body.clone())
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    got.sort();
    let mut expected: Vec<String> = before
        .iter()
        .chain(&during)
        .map(|l| l.trim_end().to_string())
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}

/// A bucket that does not exist (SeaweedFS answers AccessDenied to a non-admin
/// identity): after the retry duration the records go to the error output, which
/// waits (in the spool) until it can be written too.
#[test]
fn a_retry_duration_that_runs_out_sends_records_to_the_error_output() {
    let s3 = Seaweed::start();
    let config = Conf::new()
        .stream(
            s3_stream(&s3, "later-bucket")
                .buffering(1, 1)
                .set("destination.retry_duration_seconds", 2)
                .errors_by_type(),
        )
        .text();
    let mut d = Daemon::start(&config);
    let records = json_lines(5, "lost?");
    assert!(put(&d, &records));
    d.wait_for_log("delivery failed for the whole retry duration");
    assert!(d.log().contains("S3.AccessDenied"), "{}", d.log());
    s3.admin(&["create-bucket", "later-bucket"]);
    let errors = s3.wait_for("later-bucket", "errors/delivery-failed/", 1, &d);
    assert!(d.stop().success());
    assert_eq!(
        s3.objects("later-bucket").len(),
        1,
        "no data object, only the error output"
    );
    let body = String::from_utf8(errors[0].body.clone()).unwrap();
    let got: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 5);
    for (line, record) in got.iter().zip(&records) {
        assert_eq!(line["errorCode"], "S3.AccessDenied");
        assert!(line["attemptsMade"].as_u64().unwrap() >= 2, "{line}");
        assert!(
            line["errorMessage"]
                .as_str()
                .unwrap()
                .contains("Access Denied"),
            "{line}"
        );
        assert!(line["attemptEndingTimestamp"].as_i64() >= line["arrivalTimestamp"].as_i64());
        assert_eq!(
            B64.decode(line["rawData"].as_str().unwrap()).unwrap(),
            record.as_bytes()
        );
    }
}

/// Wrong credentials: a clear error in the log (never the secret), records kept in
/// the spool, and delivered once the daemon restarts with the right ones.
#[test]
fn wrong_credentials_are_reported_and_nothing_is_lost() {
    let s3 = Seaweed::start();
    let wrong = Conf::new()
        .stream(
            s3_stream(&s3, BUCKET)
                .buffering(1, 1)
                .set("destination.secret_access_key", "not-the-secret"),
        )
        .text();
    let d = Daemon::start(&wrong);
    let records = json_lines(50, "kept");
    assert!(put(&d, &records));
    d.wait_for_log("S3.SignatureDoesNotMatch");
    assert!(!d.log().contains("not-the-secret"), "the secret is logged");
    let dir = d.into_dir(); // stopped without delivering: the records are in the spool
    let right = Conf::new()
        .stream(s3_stream(&s3, BUCKET).buffering(1, 1))
        .text();
    let mut d = Daemon::start_in(dir, &right);
    let objects = s3.wait_for(BUCKET, "", 1, &d);
    assert!(d.stop().success());
    let body: String = objects
        .iter()
        .map(|o| String::from_utf8(o.body.clone()).unwrap())
        .collect();
    assert_eq!(body, records.concat());
}

/// Credentials from a named profile of the shared credentials file, and the source
/// backup: every record also lands, as received, under the backup prefix.
#[test]
fn profile_credentials_and_source_backup() {
    let s3 = Seaweed::start();
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n\
             [sluice]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            S3_USER.0, S3_USER.1
        ),
    )
    .unwrap();
    let config = Conf::new()
        .stream(
            Stream::new("s")
                .set("compression", "gzip")
                .buffering(1, 900)
                .destination(toml! {
                    type = "s3"
                    profile = "sluice"
                    prefix = "data/"
                    s3_backup_mode = "Enabled"
                    backup_prefix = "backup/"
                })
                .set("destination.bucket", BUCKET)
                .set("destination.endpoint", s3.endpoint.clone()),
        )
        .text();
    let mut d = Daemon::start_in_env(
        dir,
        &config,
        &[("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap())],
    );
    let records = json_lines(40, "b");
    assert!(put(&d, &records));
    assert!(d.stop().success(), "{}", d.log());
    let objects = s3.objects(BUCKET);
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert!(objects[0].key.starts_with("backup/2") && objects[1].key.starts_with("data/2"));
    for o in &objects {
        assert_eq!(gunzip(&o.body), records.concat(), "{}", o.key);
    }
}
