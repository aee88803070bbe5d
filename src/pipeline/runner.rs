//! A stream's task: takes accepted records, fills the buffer, and seals it when it
//! reaches the size, when the interval since its first record passes, or on shutdown.
//! Sealed batches go to delivery tasks, at most `max_in_flight_objects` at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::buffer::{Buffer, SealedBatch};
use super::deliver::Deliverer;
use super::ingest::QueuedBatch;
use crate::config::StreamConfig;

pub struct Runner {
    stream: String,
    rx: mpsc::UnboundedReceiver<QueuedBatch>,
    buffer: Buffer,
    interval: Duration,
    deliverer: Arc<Deliverer>,
    slots: Arc<Semaphore>,
    deliveries: JoinSet<()>,
}

impl Runner {
    pub fn new(
        config: &StreamConfig,
        rx: mpsc::UnboundedReceiver<QueuedBatch>,
        deliverer: Deliverer,
    ) -> Self {
        Self {
            stream: config.name.clone(),
            rx,
            buffer: Buffer::new(config.buffering.size_bytes()),
            interval: Duration::from_secs(config.buffering.interval_seconds),
            deliverer: Arc::new(deliverer),
            slots: Arc::new(Semaphore::new(config.max_in_flight_objects)),
            deliveries: JoinSet::new(),
        }
    }

    /// Runs until shutdown is signalled and every accepted record is delivered.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut deadline: Option<Instant> = None;
        let mut stopping = false;
        loop {
            // Reap finished deliveries so the set does not grow.
            while self.deliveries.try_join_next().is_some() {}
            tokio::select! {
                batch = self.rx.recv() => {
                    let Some(batch) = batch else { break };
                    self.take(batch, &mut deadline).await;
                    if self.interval.is_zero() {
                        // Zero buffering: deliver what has arrived as soon as possible.
                        while let Ok(more) = self.rx.try_recv() {
                            self.take(more, &mut deadline).await;
                        }
                        self.flush(&mut deadline).await;
                    }
                }
                () = sleep_until(deadline) => self.flush(&mut deadline).await,
                changed = shutdown.changed(), if !stopping => {
                    // Stop intake; what is queued is still drained by `recv`.
                    stopping = true;
                    if changed.is_err() || *shutdown.borrow() {
                        self.rx.close();
                    }
                }
            }
        }
        self.flush(&mut deadline).await;
        while let Some(result) = self.deliveries.join_next().await {
            if let Err(e) = result {
                tracing::error!(stream = %self.stream, error = %e, "delivery task failed");
            }
        }
        tracing::info!(stream = %self.stream, "stream stopped, all buffers delivered");
    }

    /// Copies a batch into the buffer; dropping it frees its room in the queue.
    async fn take(&mut self, batch: QueuedBatch, deadline: &mut Option<Instant>) {
        for record in &batch.records {
            if self.buffer.is_empty() {
                *deadline = Some(Instant::now() + self.interval);
            }
            if let Some(sealed) = self.buffer.push(record) {
                self.dispatch(sealed).await;
                *deadline = (!self.buffer.is_empty()).then(|| Instant::now() + self.interval);
            }
        }
    }

    async fn flush(&mut self, deadline: &mut Option<Instant>) {
        *deadline = None;
        if let Some(sealed) = self.buffer.seal() {
            self.dispatch(sealed).await;
        }
    }

    /// Hands a sealed batch to a delivery task, waiting for a free slot: when the
    /// destination is slow, this is where the stream waits (and its backlog grows).
    async fn dispatch(&mut self, sealed: SealedBatch) {
        let Ok(permit) = self.slots.clone().acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let deliverer = self.deliverer.clone();
        self.deliveries.spawn(async move {
            deliverer.deliver(sealed).await;
            drop(permit);
        });
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::FutureExt;
    use futures::future::BoxFuture;

    use super::*;
    use crate::config::{Config, load};
    use crate::keys::KeyLayout;
    use crate::pipeline::ingest::StreamHandle;
    use crate::record::Record;
    use crate::sinks::{Object, Sink, SinkError};

    /// Keeps objects in memory: buffering logic is tested apart from any disk.
    #[derive(Default)]
    struct MemorySink(Mutex<Vec<Object>>);

    impl Sink for MemorySink {
        fn put(&self, object: Object) -> BoxFuture<'_, Result<(), SinkError>> {
            self.0.lock().unwrap().push(object);
            async { Ok(()) }.boxed()
        }
        fn describe(&self) -> String {
            "memory".into()
        }
    }

    fn config(size_mb: u64, interval: u64) -> Config {
        let mut c = load(None).unwrap();
        c.delivery_streams[0].buffering.size_mb = size_mb;
        c.delivery_streams[0].buffering.interval_seconds = interval;
        c.delivery_streams[0].compression = crate::encode::Compression::None;
        c
    }

    fn start(
        c: &Config,
    ) -> (
        StreamHandle,
        Arc<MemorySink>,
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let stream = &c.delivery_streams[0];
        let sink = Arc::new(MemorySink::default());
        let (handle, rx) = StreamHandle::new(stream.clone(), u64::MAX);
        let layout = KeyLayout::new("", "").unwrap();
        let deliverer = Deliverer::new(stream, layout, sink.clone(), handle.backlog());
        let (tx, shutdown) = watch::channel(false);
        let task = tokio::spawn(Runner::new(stream, rx, deliverer).run(shutdown));
        (handle, sink, tx, task)
    }

    /// Lets spawned tasks (delivery, encoding on the blocking pool) finish.
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn delivers_900_seconds_after_the_first_record_not_before() {
        let (handle, sink, _tx, _task) = start(&config(5, 900));
        handle
            .ingest(vec![Record::new(&b"a"[..], 1)])
            .await
            .unwrap();
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
    async fn shutdown_delivers_what_is_buffered() {
        let (handle, sink, tx, task) = start(&config(5, 900));
        handle
            .ingest(vec![Record::new(&b"x"[..], 1), Record::new(&b"y"[..], 1)])
            .await
            .unwrap();
        settle().await;
        tx.send(true).unwrap();
        handle.close();
        task.await.unwrap();
        assert_eq!(&sink.0.lock().unwrap()[0].body[..], b"xy");
        assert_eq!(
            handle.ingest(vec![Record::new(&b"z"[..], 1)]).await,
            Err(crate::pipeline::IngestError::ShuttingDown)
        );
    }
}
