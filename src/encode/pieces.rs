//! An encoder's output cut into pieces for an upload running beside it, so that
//! a large object (a Parquet file of a 128 MiB buffer) is never whole in memory:
//! the encoder writes on a blocking thread, each full piece goes into a bounded
//! channel, and the encoder waits while the upload is behind.

use std::io::{self, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Bytes per piece.
const PIECE_BYTES: usize = 1024 * 1024;

/// Pieces waiting for the upload at most; more and the encoder waits.
pub const PIECES_QUEUED: usize = 2;

/// The writing end: an `io::Write` for the encoder (call from a blocking thread).
pub struct Pieces {
    tx: mpsc::Sender<Bytes>,
    piece: Vec<u8>,
    written: usize,
    /// The upload went away (it failed): what is written from then on is
    /// dropped, so that the encoder still finishes and says which records did
    /// not convert.
    lost: bool,
}

impl Pieces {
    /// A writer and the receiving end the upload reads.
    pub fn channel() -> (Self, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(PIECES_QUEUED);
        let pieces = Self {
            tx,
            piece: Vec::with_capacity(PIECE_BYTES),
            written: 0,
            lost: false,
        };
        (pieces, rx)
    }

    /// Sends what is left and closes the channel; returns the bytes written.
    pub fn finish(mut self) -> usize {
        if !self.piece.is_empty() {
            self.send();
        }
        self.written
    }

    fn send(&mut self) {
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE_BYTES));
        self.written += piece.len();
        if !self.lost && self.tx.blocking_send(Bytes::from(piece)).is_err() {
            self.lost = true;
        }
    }
}

impl Write for Pieces {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = PIECE_BYTES - self.piece.len();
        let n = buf.len().min(room);
        self.piece.extend_from_slice(&buf[..n]);
        if self.piece.len() == PIECE_BYTES {
            self.send();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Pieces stay whole: a flush does not cut one short.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_arrive_whole_and_in_order_and_a_gone_reader_loses_the_rest() {
        let (mut pieces, mut rx) = Pieces::channel();
        let data: Vec<u8> = (0..PIECE_BYTES * 5 / 2).map(|i| (i % 251) as u8).collect();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(piece) = rx.blocking_recv() {
                got.push(piece);
            }
            got
        });
        pieces.write_all(&data).unwrap();
        assert_eq!(pieces.finish(), data.len());
        let got = reader.join().unwrap();
        assert_eq!(
            got.iter().map(Bytes::len).collect::<Vec<_>>(),
            [PIECE_BYTES, PIECE_BYTES, PIECE_BYTES / 2]
        );
        assert_eq!(got.concat(), data);

        let (mut pieces, rx) = Pieces::channel();
        drop(rx);
        pieces.write_all(&data).unwrap();
        assert_eq!(pieces.finish(), data.len());
    }
}
