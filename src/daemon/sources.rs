//! The tasks that feed streams from outside the API: a file, a Kinesis stream,
//! standard input. Each stream's source can be stopped on its own, so that a
//! reload can take one stream out of service and leave the others running.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::pipeline::StreamHandle;
use crate::sources;

/// A running source and how to stop it.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The streams' running sources, by stream name.
pub struct Sources {
    running: BTreeMap<String, Running>,
    /// What sources get besides their stream.
    context: sources::Context,
}

impl Sources {
    pub fn new(input_ended: Arc<Notify>) -> Self {
        Self {
            running: BTreeMap::new(),
            context: sources::Context { input_ended },
        }
    }

    /// Starts the source of `stream`, if it has one besides the API.
    pub fn start(&mut self, stream: &StreamHandle) -> anyhow::Result<()> {
        let Some(source) = sources::open(stream, &self.context)? else {
            return Ok(());
        };
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(source.run(stopping));
        self.running
            .insert(stream.name().to_string(), Running { stop, task });
        Ok(())
    }

    /// Stops the source of the stream `name` and waits until it has handed
    /// over what it read (nothing is left between it and the spool).
    pub async fn stop(&mut self, name: &str) {
        if let Some(running) = self.running.remove(name) {
            finish(name, running).await;
        }
    }

    /// Stops every source, as [`Sources::stop`] does.
    pub async fn stop_all(&mut self) {
        let running = std::mem::take(&mut self.running);
        // All are told first, so they wind down together.
        for r in running.values() {
            let _ = r.stop.send(true);
        }
        for (name, running) in running {
            finish(&name, running).await;
        }
    }
}

async fn finish(name: &str, running: Running) {
    let _ = running.stop.send(true);
    if let Err(e) = running.task.await {
        tracing::error!(stream = %name, error = %e, "source task failed");
    }
}
