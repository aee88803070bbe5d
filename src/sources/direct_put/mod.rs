//! The direct-PUT source: records that producers send to the Firehose API (or
//! the NDJSON endpoint) go into their stream's spool from here, within the
//! daemon's ingest memory. The HTTP side (routes, signatures, the operations'
//! JSON) is the front door's, `crate::api`; this side knows nothing of HTTP.

mod budget;
mod config;
mod unpack;

pub use budget::{Budget, Claim};
pub use config::DirectPutSource;
pub use unpack::{Unpacked, unpack};

use crate::pipeline::{IngestError, StreamHandle};
use crate::records::Records;

/// Why records were not taken. Each is retryable: the producer sends them
/// again later (Firehose's `ServiceUnavailableException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotTaken(pub String);

/// Hands records to the stream; the caller answers only after this succeeds.
pub async fn ingest(stream: &StreamHandle, records: impl Into<Records>) -> Result<(), NotTaken> {
    stream.ingest(records).await.map_err(|e| {
        let message = match e {
            IngestError::Full => "Slow down.",
            IngestError::NoSpace => "Slow down. The delivery stream's spool disk is full.",
            IngestError::Io(_) => "Slow down. The delivery stream cannot store records right now.",
            IngestError::ShuttingDown => "The delivery stream is shutting down.",
        };
        NotTaken(message.into())
    })
}
