//! Data batches as objects in a folder or a bucket (the local and S3
//! destinations): one object per batch, compressed with the stream's codec or
//! converted to a Parquet file that is uploaded while it is made. An object is
//! stored whole or not at all, so an attempt delivers all its records or none.

mod describe;

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::oneshot;

use super::destination::{Destination, Offer, Outcome, key_uuid};
use super::{FailureKind, Object, Sink, SinkError, Sinks};
use crate::encode::Codec;
use crate::encode::parquet::ParquetEncoder;
use crate::encode::pieces::Pieces;

pub use describe::description;

/// The sinks of an object destination: batches become objects in `store`, as
/// error records and backups do.
pub fn sinks(
    store: Arc<dyn Sink>,
    stream: &crate::config::StreamConfig,
    parquet: Option<Arc<ParquetEncoder>>,
) -> Sinks {
    let destination = ObjectsDestination::new(store.clone(), stream.codec(), parquet);
    Sinks {
        destination: Arc::new(destination),
        objects: store,
    }
}

/// The extension of converted objects, as Firehose's.
pub const PARQUET_EXTENSION: &str = ".parquet";

/// The error code of a batch sealed for Parquet and rebuilt after the config
/// switched conversion off.
const FORMAT_SWITCHED: &str = "Sluice.FormatSwitched";

/// Batches stored as objects in `store`.
pub struct ObjectsDestination {
    store: Arc<dyn Sink>,
    codec: Codec,
    /// Converts batches to Parquet, when the stream's format says so.
    parquet: Option<Arc<ParquetEncoder>>,
}

impl ObjectsDestination {
    pub fn new(store: Arc<dyn Sink>, codec: Codec, parquet: Option<Arc<ParquetEncoder>>) -> Self {
        Self {
            store,
            codec,
            parquet,
        }
    }

    /// Encodes the batch with its codec into one object and stores it.
    async fn store_encoded(&self, offer: Offer<'_>) -> Outcome {
        let codec = offer.codec.unwrap_or(self.codec);
        let entry = key_uuid(offer.key);
        let batch = offer.batch.clone();
        let body = match off_thread(move || codec.encode(&batch.data, &entry)).await {
            Ok(body) => body,
            Err(error) => return Outcome::refused(offer.pending.clone(), error, false),
        };
        let bytes = body.len();
        let object = Object {
            key: offer.key.to_string(),
            body: Bytes::from(body),
            content_encoding: codec.compression.content_encoding(),
        };
        match self.store.put(object).await {
            Ok(()) => Outcome {
                records: offer.batch.record_count(),
                bytes,
                refused: Vec::new(),
            },
            Err(error) => Outcome::refused(offer.pending.clone(), error, true),
        }
    }

    /// Converts the batch to Parquet while the file is uploaded, a part at a
    /// time (the file is never whole in memory). The conversion is told of the
    /// records that do not convert before the upload is completed; a file with
    /// no rows is not stored.
    async fn store_parquet(&self, offer: Offer<'_>, parquet: Arc<ParquetEncoder>) -> Outcome {
        let (pieces, receiver) = Pieces::channel();
        let (commit, committed) = oneshot::channel();
        let upload = self
            .store
            .put_streamed(offer.key.to_string(), receiver, committed);
        let convert = async {
            let batch = offer.batch.clone();
            let written = off_thread(move || {
                let written = parquet.encode_to(batch.iter().map(|(data, _)| data), pieces)?;
                let bytes = written.out.finish();
                Ok((written.rows, written.failed, bytes))
            })
            .await;
            if let Ok((_, failed, _)) = &written {
                offer.conversion.converted(failed).await;
            }
            let _ = commit.send(matches!(&written, Ok((rows, _, _)) if *rows > 0));
            written
        };
        let (written, uploaded) = tokio::join!(convert, upload);
        let (rows, bytes) = match (written, &uploaded) {
            (Ok((rows, _, bytes)), _) => (rows, bytes),
            // The conversion stopped because the upload did (its pieces had
            // nowhere to go): the upload's failure is the one to retry.
            (Err(_), Err(error)) => {
                return Outcome::refused(offer.pending.clone(), error.clone(), false);
            }
            (Err(error), Ok(())) => return Outcome::refused(offer.pending.clone(), error, false),
        };
        match uploaded {
            Ok(()) => Outcome {
                records: rows,
                bytes,
                refused: Vec::new(),
            },
            Err(error) => Outcome::refused(offer.pending.clone(), error, true),
        }
    }
}

impl Destination for ObjectsDestination {
    fn deliver<'a>(&'a self, offer: Offer<'a>) -> BoxFuture<'a, Outcome> {
        async move {
            match &self.parquet {
                // A batch sealed raw before a restart that switched Parquet on
                // stays raw: its key's extension says so.
                Some(parquet) if offer.codec.is_none() => {
                    self.store_parquet(offer, parquet.clone()).await
                }
                // Sealed as Parquet before a restart that switched it off: no
                // schema to convert with, and raw bytes under a `.parquet` key
                // would break its readers, so the records go to the error
                // output, raw.
                None if offer.rebuilt
                    && offer.codec.is_none()
                    && offer.key.ends_with(PARQUET_EXTENSION) =>
                {
                    let error = SinkError {
                        kind: FailureKind::Permanent,
                        code: FORMAT_SWITCHED.to_string(),
                        message: "the batch was sealed for Parquet and the stream no longer converts to Parquet".to_string(),
                    };
                    Outcome::refused(offer.pending.clone(), error, false)
                }
                _ => self.store_encoded(offer).await,
            }
        }
        .boxed()
    }

    fn holds<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, SinkError>> {
        self.store.holds(key)
    }

    fn converter<'a>(
        &'a self,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<ParquetEncoder>>, SinkError>> {
        let parquet = self.parquet.clone();
        async move { Ok(parquet) }.boxed()
    }

    fn describe(&self) -> String {
        self.store.describe()
    }
}

/// Runs an encoder off the async threads. An error it returns is about the
/// batch and the settings, which the next attempt has too: `Permanent`, so the
/// records go to the error output instead of being retried for ever (zip at a
/// level the codec refused did that). A task that panicked or was cancelled
/// is `Local`: retried within the retry duration.
pub async fn off_thread<T: Send + 'static>(
    encode: impl FnOnce() -> Result<T, crate::encode::EncodeError> + Send + 'static,
) -> Result<T, SinkError> {
    let error = |kind, message: String| SinkError {
        kind,
        code: ENCODE_ERROR.to_string(),
        message,
    };
    match tokio::task::spawn_blocking(encode).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(error(FailureKind::Permanent, e.to_string())),
        Err(e) => Err(error(FailureKind::Local, e.to_string())),
    }
}

/// The error code of a batch that could not be encoded.
pub const ENCODE_ERROR: &str = "EncodeError";
