//! The runner against a stream in memory, on tokio's paused clock where time matters.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::*;
use crate::config::{Config, load};
use crate::keys::KeyLayout;
use crate::pipeline::ingest::StreamHandle;
use crate::record::Record;
use crate::sinks::{Object, Sink, SinkError};

/// Keeps objects in memory: buffering logic is tested apart from any destination.
/// The first `lost_answers` writes land but answer as a broken connection.
#[derive(Default)]
struct MemorySink(Mutex<Vec<Object>>, std::sync::atomic::AtomicUsize);

impl Sink for MemorySink {
    fn put(&self, object: Object) -> BoxFuture<'_, Result<(), SinkError>> {
        self.0.lock().unwrap().push(object);
        let lost = self
            .1
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        async move {
            if lost {
                return Err(SinkError {
                    kind: crate::sinks::FailureKind::Transient,
                    code: "S3.ConnectionFailed".into(),
                    message: "connection reset".into(),
                });
            }
            Ok(())
        }
        .boxed()
    }
    fn holds(&self, key: &str) -> BoxFuture<'_, Result<bool, SinkError>> {
        let held = self.0.lock().unwrap().iter().any(|o| o.key == key);
        async move { Ok(held) }.boxed()
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}

fn config(spool: &std::path::Path, size_mb: u64, interval: u64) -> Config {
    let mut c = load(None).unwrap();
    c.spool.dir = spool.to_path_buf();
    c.delivery_streams[0].buffering.size_mb = size_mb;
    c.delivery_streams[0].buffering.interval_seconds = interval;
    c.delivery_streams[0].compression = crate::encode::Compression::None;
    c
}

/// The default stream's (local folder's) retry duration.
fn set_retry_duration(c: &mut Config, seconds: u64) {
    let crate::config::DestinationConfig::Local(local) = &mut c.delivery_streams[0].destination
    else {
        panic!("the default stream writes to a local folder");
    };
    local.keys.retry_duration_seconds = seconds;
}

fn start(c: &Config) -> (StreamHandle, Arc<MemorySink>, tokio::task::JoinHandle<()>) {
    start_with(c, None)
}

/// Starts the stream with `destination` for its data (by default objects
/// in the memory sink, which also takes the error output).
fn start_with(
    c: &Config,
    destination: Option<Arc<dyn crate::sinks::destination::Destination>>,
) -> (StreamHandle, Arc<MemorySink>, tokio::task::JoinHandle<()>) {
    let stream = &c.delivery_streams[0];
    let sink = Arc::new(MemorySink::default());
    let opened = Spool::open(&stream.name, &c.spool, false, crate::disk::os()).unwrap();
    let handle = StreamHandle::new(stream.clone(), opened.spool.clone(), 1 << 20, 1);
    let layout = KeyLayout::new("", "").unwrap();
    let destination = destination.unwrap_or_else(|| {
        Arc::new(crate::sinks::objects::ObjectsDestination::new(
            sink.clone(),
            crate::encode::Codec::new(stream.compression, None),
            None,
        ))
    });
    let sinks = crate::sinks::Sinks {
        destination,
        objects: sink.clone(),
    };
    let deliverer = Deliverer::new(stream, layout, None, sinks, opened.spool.clone(), false, 1);
    let staging = Staging::open(opened.spool.disk(), opened.spool.dir(), &stream.name).unwrap();
    let runner = Runner::new(
        stream,
        opened,
        deliverer,
        staging,
        crate::pipeline::memory::DeliveryMemory::new(256),
        None,
    );
    (handle, sink, tokio::spawn(runner.run()))
}

/// Lets spawned tasks (spool reads, encoding, ledger writes) finish.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn delivers_900_seconds_after_the_first_record_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, sink, _task) = start(&config(dir.path(), 5, 900));
    handle
        .ingest(vec![Record::new(&b"a"[..], 1)])
        .await
        .unwrap();
    settle().await;
    tokio::time::sleep(Duration::from_secs(400)).await;
    // A later record does not push the deadline back.
    handle
        .ingest(vec![Record::new(&b"b"[..], 2)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(499)).await;
    settle().await;
    assert!(sink.0.lock().unwrap().is_empty(), "delivered before 900 s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    let objects = sink.0.lock().unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(&objects[0].body[..], b"ab");
}

#[tokio::test(start_paused = true)]
async fn shutdown_delivers_what_is_buffered_and_refuses_more() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, sink, task) = start(&config(dir.path(), 5, 900));
    handle
        .ingest(vec![Record::new(&b"x"[..], 1), Record::new(&b"y"[..], 1)])
        .await
        .unwrap();
    handle.close();
    task.await.unwrap();
    assert_eq!(&sink.0.lock().unwrap()[0].body[..], b"xy");
    assert_eq!(
        handle.ingest(vec![Record::new(&b"z"[..], 1)]).await,
        Err(crate::pipeline::IngestError::ShuttingDown)
    );
}

/// Regression (torture seed 1796296554): a write that landed although its
/// answer was lost, with no retry duration left, sent its records to the
/// error output as well. The error batch now asks the destination first.
#[tokio::test(start_paused = true)]
async fn a_write_that_landed_unanswered_is_not_also_an_error_object() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), 5, 1);
    set_retry_duration(&mut c, 0);
    let (handle, sink, task) = start(&c);
    sink.1.store(1, Ordering::SeqCst);
    handle
        .ingest(vec![Record::new(&b"a"[..], 1)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    handle.close();
    task.await.unwrap();
    let objects = sink.0.lock().unwrap();
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("1970/01/01/00/default-1-"), "{keys:?}");
    assert_eq!(&objects[0].body[..], b"a");
}

/// Regression (wedges issue): buffers larger than the spool (24 partitions
/// of 64 MiB in a 1 GiB spool) never filled, and puts were refused until
/// the interval ended. A nearly full spool whose records are all read
/// seals the buffer holding its oldest record at once.
#[tokio::test(start_paused = true)]
async fn a_nearly_full_spool_seals_the_buffer_holding_its_oldest_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), 5, 900);
    c.spool.max_size_mb = 1;
    let (handle, sink, task) = start(&c);
    let records: Vec<Record> = (0..800)
        .map(|i| Record::new(format!("{i:01023}").into_bytes(), 1))
        .collect();
    handle.ingest(records).await.unwrap();
    settle().await;
    {
        let objects = sink.0.lock().unwrap();
        assert_eq!(objects.len(), 1, "not sealed before its interval");
        assert_eq!(objects[0].body.len(), 800 * 1023);
    }
    handle.close();
    task.await.unwrap();
}

/// A destination whose encoder refuses every batch, as zip at level 0 did
/// before it was stored: counts the attempts.
#[derive(Default)]
struct RefusingEncoder(std::sync::atomic::AtomicUsize);

impl crate::sinks::destination::Destination for RefusingEncoder {
    fn deliver<'a>(
        &'a self,
        offer: crate::sinks::destination::Offer<'a>,
    ) -> BoxFuture<'a, crate::sinks::destination::Outcome> {
        self.0.fetch_add(1, Ordering::SeqCst);
        async move {
            let refused = crate::sinks::objects::off_thread(|| {
                Err::<(), _>(crate::encode::EncodeError::new(
                    "unsupported Zip archive: Unsupported compression level",
                ))
            })
            .await;
            let error = refused.expect_err("the encoder refuses");
            crate::sinks::destination::Outcome::refused(offer.pending.clone(), error, false)
        }
        .boxed()
    }
    fn holds<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<bool, crate::sinks::SinkError>> {
        async { Ok(false) }.boxed()
    }
    fn converter<'a>(
        &'a self,
        _key: &'a str,
    ) -> BoxFuture<
        'a,
        Result<Option<Arc<crate::encode::parquet::ParquetEncoder>>, crate::sinks::SinkError>,
    > {
        async { Ok(None) }.boxed()
    }
    fn describe(&self) -> String {
        "refusing encoder".into()
    }
}

/// Regression (wedges issue): an encoder failure, which repeats identically
/// on every attempt, was retried for ever (past `retry_duration_seconds = 0`
/// too), so the records reached neither the destination nor the error
/// output. Now they are error records after the first attempt, whatever the
/// retry duration.
#[tokio::test(start_paused = true)]
async fn a_batch_that_cannot_be_encoded_goes_to_the_error_output_after_one_attempt() {
    for retry_duration_seconds in [0, 300] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), 5, 1);
        set_retry_duration(&mut c, retry_duration_seconds);
        let refusing = Arc::new(RefusingEncoder::default());
        let (handle, sink, task) = start_with(&c, Some(refusing.clone()));
        handle
            .ingest(vec![Record::new(&b"never-encoded"[..], 1)])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        handle.close();
        task.await.unwrap();
        assert_eq!(refusing.0.load(Ordering::SeqCst), 1, "retried");
        let objects = sink.0.lock().unwrap();
        assert_eq!(objects.len(), 1, "retry {retry_duration_seconds}");
        assert!(
            objects[0].key.contains("delivery-failed"),
            "{}",
            objects[0].key
        );
        let line: serde_json::Value = serde_json::from_slice(&objects[0].body).unwrap();
        assert_eq!(line["errorCode"], "EncodeError");
        assert_eq!(line["attemptsMade"], 1);
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(line["rawData"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, b"never-encoded");
    }
}

/// A restart that finds a sealed, undelivered batch delivers it under the key it
/// was sealed with, and buffers the unsealed records anew.
#[tokio::test]
async fn a_sealed_batch_is_delivered_again_under_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), 5, 900);
    let stream = &c.delivery_streams[0];
    {
        let opened = Spool::open(&stream.name, &c.spool, false, crate::disk::os()).unwrap();
        let records = ["r0", "r1", "r2"].map(|d| Record::new(d.as_bytes().to_vec(), 7));
        opened.spool.append(records.to_vec()).await.unwrap();
        let seal = crate::spool::Seal {
            batch: opened.spool.next_batch_id(),
            key: "sealed-before-the-crash".into(),
            seqs: vec![(0, 2)].into(),
            output: Output::Data,
            codec: None,
        };
        opened.spool.seal(seal).await.unwrap();
        opened.spool.close();
    }
    settle().await;
    let (handle, sink, task) = start(&c);
    handle.close();
    task.await.unwrap();
    let mut objects: Vec<(String, Vec<u8>)> = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|o| (o.key.clone(), o.body.to_vec()))
        .collect();
    objects.sort();
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert_eq!(
        objects[1],
        ("sealed-before-the-crash".into(), b"r0r1".to_vec())
    );
    assert!(
        objects[0].0.starts_with("1970/01/01/00/default-1-"),
        "{}",
        objects[0].0
    );
    assert_eq!(objects[0].1, b"r2");
}

/// A destination that refuses its first `refusals` attempts (a destination
/// that is down), noting when each attempt came, then takes batches.
struct Refusing {
    refusals: std::sync::atomic::AtomicUsize,
    attempts: Mutex<Vec<Instant>>,
    delivered: Mutex<Vec<Vec<u8>>>,
}

impl Refusing {
    fn new(refusals: usize) -> Arc<Self> {
        Arc::new(Self {
            refusals: refusals.into(),
            attempts: Mutex::default(),
            delivered: Mutex::default(),
        })
    }

    /// The waits between attempts, in seconds.
    fn waits(&self) -> Vec<f64> {
        let attempts = self.attempts.lock().unwrap();
        attempts
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect()
    }
}

impl crate::sinks::destination::Destination for Refusing {
    fn deliver<'a>(
        &'a self,
        offer: crate::sinks::destination::Offer<'a>,
    ) -> BoxFuture<'a, crate::sinks::destination::Outcome> {
        self.attempts.lock().unwrap().push(Instant::now());
        let down = self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let outcome = if down {
            let error = SinkError {
                kind: crate::sinks::FailureKind::Transient,
                code: "Test.Down".into(),
                message: "the destination is down".into(),
            };
            crate::sinks::destination::Outcome::refused(offer.pending.clone(), error, false)
        } else {
            self.delivered
                .lock()
                .unwrap()
                .push(offer.batch.data.to_vec());
            crate::sinks::destination::Outcome {
                records: offer.batch.record_count(),
                bytes: offer.batch.data.len(),
                refused: Vec::new(),
            }
        };
        async move { outcome }.boxed()
    }

    fn holds<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<bool, SinkError>> {
        async { Ok(false) }.boxed()
    }

    fn converter<'a>(
        &'a self,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<crate::encode::parquet::ParquetEncoder>>, SinkError>> {
        async { Ok(None) }.boxed()
    }

    fn describe(&self) -> String {
        "refusing".into()
    }
}

/// The error records written to the memory sink, as JSON.
fn error_records(sink: &MemorySink) -> Vec<serde_json::Value> {
    sink.0
        .lock()
        .unwrap()
        .iter()
        .flat_map(|o| {
            String::from_utf8_lossy(&o.body)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A destination that is down is tried again after 1, 2, 4 and 8 s (±15 %,
/// Firehose's schedule), and once it is back the batch is delivered, once,
/// with nothing in the error output.
#[tokio::test(start_paused = true)]
async fn a_destination_that_is_down_is_retried_with_doubling_waits() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), 5, 1);
    let destination = Refusing::new(4);
    let (handle, sink, task) = start_with(&c, Some(destination.clone()));
    handle
        .ingest(vec![Record::new(&b"a"[..], 1), Record::new(&b"b"[..], 1)])
        .await
        .unwrap();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
    }
    let waits = destination.waits();
    assert_eq!(waits.len(), 4, "{waits:?}");
    for (wait, expected) in waits.iter().zip([1.0, 2.0, 4.0, 8.0]) {
        assert!(
            (expected * 0.85..=expected * 1.15 + 0.1).contains(wait),
            "waits {waits:?}"
        );
    }
    assert_eq!(*destination.delivered.lock().unwrap(), vec![b"ab".to_vec()]);
    handle.close();
    task.await.unwrap();
    assert!(
        sink.0.lock().unwrap().is_empty(),
        "an error object was written"
    );
}

/// Records a destination refuses for the whole retry duration go to the error
/// output once it is over, not before, with their data and the last error.
#[tokio::test(start_paused = true)]
async fn records_go_to_the_error_output_when_the_retry_duration_is_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), 5, 1);
    set_retry_duration(&mut c, 60);
    let destination = Refusing::new(usize::MAX);
    let (handle, sink, task) = start_with(&c, Some(destination.clone()));
    handle
        .ingest(vec![Record::new(&b"a\n"[..], 7)])
        .await
        .unwrap();
    let started = Instant::now();
    while sink.0.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no error record after 300 s"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle().await;
    }
    let waited = started.elapsed();
    // The window opens at the first failure, a second after the record (the
    // buffer interval); the last wait is cut so that the last attempt comes as
    // the window closes, not a whole backoff step (up to 2 minutes) after it.
    assert!(
        waited >= Duration::from_secs(60),
        "error output after {waited:?}"
    );
    assert!(
        waited <= Duration::from_secs(70),
        "error output after {waited:?}"
    );
    let records = error_records(&sink);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["errorCode"], "Test.Down");
    assert_eq!(records[0]["rawData"], "YQo=");
    assert_eq!(records[0]["arrivalTimestamp"], 7);
    assert!(destination.delivered.lock().unwrap().is_empty());
    handle.close();
    task.await.unwrap();
}
