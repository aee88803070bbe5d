//! The daemon's standard input, written by a thread of the test (a pipe's
//! writer blocks while the source is paused).

use std::io::Write;
use std::ops::Range;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::common::{Daemon, Table, toml};
use crate::{Feed, lines};

pub struct Stdin {
    /// Bytes for the writer thread, which takes the pipe at the first write.
    writer: Option<(mpsc::Sender<Vec<u8>>, JoinHandle<()>)>,
}

impl Stdin {
    fn write(&mut self, d: &Daemon, bytes: Vec<u8>) {
        let (send, _) = self.writer.get_or_insert_with(|| {
            let mut pipe = d.take_stdin();
            let (send, receive) = mpsc::channel::<Vec<u8>>();
            let thread = std::thread::spawn(move || {
                for bytes in receive {
                    // The daemon gone (a failed test) ends the writing.
                    if pipe.write_all(&bytes).is_err() {
                        return;
                    }
                }
            });
            (send, thread)
        });
        send.send(bytes).expect("the writer thread runs");
    }
}

impl Drop for Stdin {
    fn drop(&mut self) {
        if let Some((send, thread)) = self.writer.take() {
            drop(send);
            let _ = thread.join();
        }
    }
}

impl Feed for Stdin {
    fn new() -> Self {
        Self { writer: None }
    }

    fn source(&self) -> Option<Table> {
        Some(toml! { type = "stdin" })
    }

    fn produce(&mut self, d: &Daemon, range: Range<usize>, pad: usize) -> Vec<String> {
        let lines = lines('i', range, pad);
        self.write(d, lines.concat().into_bytes());
        lines
    }

    /// A line of `bytes` bytes (its pieces go to the error output).
    fn produce_oversized(&mut self, d: &Daemon, bytes: usize) -> Vec<u8> {
        let line = format!("{}\n", "x".repeat(bytes - 1)).into_bytes();
        self.write(d, line.clone());
        line
    }
}

crate::suite!(Stdin:
    an_oversized_record_goes_to_the_error_output_and_the_rest_on,
    a_stop_delivers_everything_taken,
    a_full_spool_pauses_the_source_and_nothing_is_dropped,
);
