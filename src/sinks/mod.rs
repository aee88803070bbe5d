//! Destinations, one folder or file each (`local/`, `s3/`, `http/`, `iceberg/`,
//! with `objects.rs` delivering batches as objects for the first two): their
//! settings and checks, and one attempt at a sealed batch that says which
//! records it could not deliver (`destination.rs`). Below them, `Sink` stores
//! one object under a key (a folder or a bucket), for data objects, error
//! records and backups alike, and says whether a failure is worth retrying.
//! Sinks know nothing of buffering.

pub mod destination;
pub mod http;
pub mod iceberg;
pub mod kinds;
pub mod local;
pub mod object_store;
pub mod objects;
pub mod s3;
pub mod settings;

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

/// Where a stream's batches go: the destination of data batches, and the
/// object store that takes error records and backups (the destination's bucket
/// or folder, or an HTTP endpoint's `error_destination`).
pub struct Sinks {
    pub destination: std::sync::Arc<dyn destination::Destination>,
    pub objects: std::sync::Arc<dyn Sink>,
}

/// An object ready to store: key, body and the metadata Firehose sets on it.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: String,
    pub body: bytes::Bytes,
    pub content_encoding: Option<&'static str>,
}

/// Whether retrying can help: the destination's fault (down, throttled) or the
/// configuration's (bucket missing, access denied), which only an operator can fix
/// but which is still retried for the retry duration, as Firehose does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Network, 5xx, throttling: likely to pass by itself.
    Transient,
    /// Permission, missing bucket or folder: needs an operator.
    Configuration,
    /// The payload is refused for good, by the destination (HTTP 413) or by
    /// this process's encoder (a codec or conversion that fails the same way on
    /// every attempt): retrying cannot help, so its records go to the error
    /// output after this attempt.
    Permanent,
    /// This process could not make the payload for a reason that may pass (an
    /// encoder task that panicked or was cancelled): retried, within the retry
    /// duration like every other failure.
    Local,
}

/// A failed delivery attempt, with the code Firehose would log (`S3.AccessDenied`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SinkError {
    pub kind: FailureKind,
    pub code: String,
    pub message: String,
}

/// An object store (a folder or a bucket).
pub trait Sink: Send + Sync {
    /// Stores `object`; storing the same key twice leaves one object (a retry after
    /// an ambiguous failure must not duplicate data).
    fn put(&self, object: Object) -> BoxFuture<'_, Result<(), SinkError>>;

    /// Stores an object whose body arrives in `pieces` while it is being made, so
    /// that it need not be whole in memory. Once the pieces end, `commit` says
    /// whether to store it (`true`) or to drop what was sent (`false` or gone:
    /// nothing is stored). The default gathers the pieces and calls `put`.
    fn put_streamed(
        &self,
        key: String,
        mut pieces: mpsc::Receiver<Bytes>,
        commit: oneshot::Receiver<bool>,
    ) -> BoxFuture<'_, Result<(), SinkError>> {
        async move {
            let mut body = BytesMut::new();
            while let Some(piece) = pieces.recv().await {
                body.extend_from_slice(&piece);
            }
            if !commit.await.unwrap_or(false) {
                return Ok(());
            }
            self.put(Object {
                key,
                body: body.freeze(),
                content_encoding: None,
            })
            .await
        }
        .boxed()
    }

    /// Whether an object is stored under `key`: a write whose answer was lost
    /// may have landed, and its records must not also go to the error output.
    fn holds(&self, key: &str) -> BoxFuture<'_, Result<bool, SinkError>>;

    /// A short description for logs (`local:/var/data`, `s3://bucket`).
    fn describe(&self) -> String;
}
