//! A plugin's stdout and stderr: written to the daemon's log one line at a time,
//! tagged with the plugin and the stream, instead of the daemon's own stdio.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// A line longer than this is logged in pieces, so a plugin that never writes a
/// newline cannot make the daemon hold its output.
const MAX_LINE: usize = 16 * 1024;

/// Where plugin output comes from, for the log.
#[derive(Debug, Clone)]
pub struct LogTags {
    pub stream: Arc<str>,
    pub plugin: Arc<str>,
}

/// One of a plugin's output streams.
#[derive(Clone)]
pub struct LogStream {
    tags: LogTags,
    name: &'static str,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl LogStream {
    pub fn new(tags: LogTags, name: &'static str) -> Self {
        Self {
            tags,
            name,
            pending: Arc::default(),
        }
    }

    /// Logs one line of output (its line break dropped).
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        tracing::info!(
            stream = &*self.tags.stream,
            plugin = &*self.tags.plugin,
            output = self.name,
            "{}",
            text.trim_end()
        );
    }

    /// Takes written bytes and logs each complete line.
    fn take(&self, bytes: &[u8]) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        pending.extend_from_slice(bytes);
        while let Some(end) = pending
            .iter()
            .position(|&b| b == b'\n')
            .or((pending.len() >= MAX_LINE).then_some(MAX_LINE - 1))
        {
            let line: Vec<u8> = pending.drain(..=end).collect();
            self.emit(&line);
        }
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        // The last clone logs an unterminated last line.
        if Arc::strong_count(&self.pending) == 1
            && let Ok(pending) = self.pending.lock()
            && !pending.is_empty()
        {
            self.emit(&pending);
        }
    }
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
