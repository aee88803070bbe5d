//! Standard input as a source, for pipes (`app | sluice run ...`): one record per
//! line. At the end of the input the last (unfinished) line is handed over too and
//! the daemon is told to stop, which delivers everything before it exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, watch};

mod config;

pub use config::StdinSource;

use crate::pipeline::StreamHandle;
use crate::record::{Record, now_ms};
use crate::sources::lines::{Cut, LineCutter, Multiline};
use crate::sources::{Handover, hand_to_spool};

/// How often an open multi-line record is checked for its timeout.
const TICK: Duration = Duration::from_millis(250);
/// Records per spool append.
const BATCH_RECORDS: usize = 500;

/// Standard input, read into one stream.
pub struct StdinTail {
    stream: StreamHandle,
    config: StdinSource,
    /// Notified when the input ends.
    ended: Arc<Notify>,
}

impl StdinTail {
    pub fn new(stream: StreamHandle, config: StdinSource, ended: Arc<Notify>) -> Self {
        Self {
            stream,
            config,
            ended,
        }
    }
}

impl crate::sources::Source for StdinTail {
    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> BoxFuture<'static, ()> {
        Box::pin(run(self.stream, self.config, stop, self.ended))
    }
}

/// Reads standard input into `stream` until it ends (then `ended` is notified) or
/// `stop` turns true. A bad multi-line pattern is refused by `sluice check`.
async fn run(
    stream: StreamHandle,
    config: StdinSource,
    mut stop: watch::Receiver<bool>,
    ended: Arc<Notify>,
) {
    let multiline = match config.multiline.as_ref().map(Multiline::new).transpose() {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(stream = %stream.name(), error = %e, "stdin source cannot start");
            ended.notify_one();
            return;
        }
    };
    let mut cutter = LineCutter::new(&config.delimiter, multiline, 0);
    let mut input = tokio::io::stdin();
    let mut buf = vec![0u8; 256 * 1024];
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let cuts = tokio::select! {
            _ = stop.changed() => return,
            read = input.read(&mut buf) => match read {
                Ok(0) => {
                    let cuts = cutter.finish();
                    lines += cuts.len() as u64;
                    hand_over(&stream, cuts, &mut stop).await;
                    break;
                }
                Ok(n) => {
                    bytes += n as u64;
                    cutter.push(&buf[..n])
                }
                Err(e) => {
                    tracing::error!(stream = %stream.name(), error = %e, "cannot read standard input; stopping");
                    let cuts = cutter.finish();
                    hand_over(&stream, cuts, &mut stop).await;
                    break;
                }
            },
            () = tokio::time::sleep(TICK) => cutter.expire(Instant::now()).into_iter().collect(),
        };
        lines += cuts.len() as u64;
        if !hand_over(&stream, cuts, &mut stop).await {
            return;
        }
    }
    tracing::info!(stream = %stream.name(), records = lines, bytes, "end of standard input, stopping");
    ended.notify_one();
}

/// Appends the records in batches, waiting while the spool is full. False when
/// the daemon is stopping.
async fn hand_over(
    stream: &StreamHandle,
    cuts: Vec<Cut>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let arrival = now_ms();
    let records: Vec<Record> = cuts
        .into_iter()
        .map(|c| Record::new(c.data, arrival))
        .collect();
    for batch in records.chunks(BATCH_RECORDS) {
        if !hand_to_spool(
            stream,
            batch.to_vec(),
            Handover::Unchecked,
            stop,
            TICK,
            &mut 0,
        )
        .await
        {
            return false;
        }
    }
    true
}
