//! A plugin's stdout and stderr: written to the daemon's log one line at a time,
//! tagged with the plugin and the stream, instead of the daemon's own stdio. The
//! last lines of stderr are also kept for the call that wrote them: a language
//! runtime prints an uncaught exception there before it traps, and that message
//! belongs in the failed records' `errorMessage`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// A line longer than this is logged in pieces, so a plugin that never writes a
/// newline cannot make the daemon hold its output.
const MAX_LINE: usize = 16 * 1024;

/// Lines of stderr kept for a failed call's message: enough for a Python
/// traceback's last frames and its exception line.
const TAIL_LINES: usize = 8;
/// Characters kept of each of those lines.
const TAIL_LINE_CHARS: usize = 500;

/// How lines begin that a language runtime prints on its way down and that say
/// nothing of why.
const RUNTIME_NOISE: &[&str] = &[
    // componentize-js (SpiderMonkey) after an uncaught exception.
    "Redirecting call to abort() to mozalloc_abort",
    // componentize-py's Rust runtime after an uncaught exception.
    "thread '<unnamed>' (",
    "Python function threw an unexpected exception",
    "note: run with `RUST_BACKTRACE=1`",
];

/// The last lines a plugin instance wrote to stderr since [`Tail::clear`].
#[derive(Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    /// Forgets what was written: called before each call.
    pub fn clear(&self) {
        if let Ok(mut lines) = self.0.lock() {
            lines.clear();
        }
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|lines| lines.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Keeps one line (the stderr stream's, or an error the plugin logs).
    pub fn push(&self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() || RUNTIME_NOISE.iter().any(|noise| line.starts_with(noise)) {
            return;
        }
        if let Ok(mut lines) = self.0.lock() {
            if lines.len() == TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line.chars().take(TAIL_LINE_CHARS).collect());
        }
    }
}

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
    /// Where stderr's lines are also kept; `None` for stdout.
    tail: Option<Tail>,
}

impl LogStream {
    /// The plugin's stdout.
    pub fn stdout(tags: LogTags) -> Self {
        Self {
            tags,
            name: "stdout",
            pending: Arc::default(),
            tail: None,
        }
    }

    /// The plugin's stderr, whose last lines are also kept in `tail`.
    pub fn stderr(tags: LogTags, tail: Tail) -> Self {
        Self {
            tags,
            name: "stderr",
            pending: Arc::default(),
            tail: Some(tail),
        }
    }

    /// Logs one line of output (its line break dropped).
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if let Some(tail) = &self.tail {
            tail.push(&text);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_without_the_runtimes_noise() {
        let tail = Tail::default();
        for i in 0..10 {
            tail.push(&format!("line {i}\n"));
        }
        tail.push("Redirecting call to abort() to mozalloc_abort");
        tail.push("thread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:");
        tail.push("   ");
        tail.push(&"x".repeat(2000));
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "line 3");
        assert_eq!(lines[6], "line 9");
        assert_eq!(lines[7].len(), TAIL_LINE_CHARS);
        tail.clear();
        assert!(tail.lines().is_empty());
    }
}
