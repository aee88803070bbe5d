//! Object-store destinations, S3-compatible stores and local folders alike, through
//! the `object_store` crate: one code path, two builders (`local` here, `s3::sink`).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    PutPayload, WriteMultipart,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use super::{FailureKind, Object, Sink, SinkError};

/// Objects larger than this go up as multipart uploads, in parts of this size
/// (S3 takes parts of 5 MiB to 5 GiB).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one object uploaded at once.
const PARTS_IN_FLIGHT: usize = 4;
/// Parts of one streamed object (a Parquet file being made) uploaded at once:
/// each is a copy of what the encoder wrote, so each costs a part's memory.
const STREAMED_PARTS_IN_FLIGHT: usize = 2;

/// Stores objects through any `object_store` backend.
pub struct ObjectStoreSink {
    store: Arc<dyn ObjectStore>,
    /// Prepended to every key (the folder, for a local destination).
    base: String,
    description: String,
    /// Whether the store keeps `Content-Encoding` (S3 does; a folder does not).
    attributes: bool,
    /// Error codes are Firehose's: `S3.AccessDenied`; local folders use `Local.`.
    code_prefix: &'static str,
}

impl ObjectStoreSink {
    /// A local folder. Files are written to a temporary name and renamed, with fsync,
    /// so a reader never sees half an object and a crash never leaves one. Folders
    /// are created as objects are written: a folder that cannot be created yet (a
    /// disk not mounted) is retried like any other destination outage.
    pub fn local(path: &Path) -> Result<Self, SinkError> {
        let absolute = std::path::absolute(path).map_err(|e| SinkError {
            kind: FailureKind::Configuration,
            code: "Local.InvalidPath".into(),
            message: format!("{}: {e}", path.display()),
        })?;
        if let Err(e) = std::fs::create_dir_all(&absolute) {
            tracing::warn!(path = %absolute.display(), error = %e, "cannot create the destination folder yet, will retry on delivery");
        }
        let base = absolute.to_string_lossy().trim_matches('/').to_string();
        Ok(Self {
            store: Arc::new(LocalFileSystem::new().with_fsync(true)),
            base,
            description: format!("local:{}", absolute.display()),
            attributes: false,
            code_prefix: "Local",
        })
    }

    /// An S3-compatible store, built by `s3::sink`.
    pub(super) fn s3(store: Arc<dyn ObjectStore>, bucket: &str) -> Self {
        Self {
            store,
            base: String::new(),
            description: format!("s3://{bucket}"),
            attributes: true,
            code_prefix: "S3",
        }
    }

    fn attributes(&self, object: &Object) -> Attributes {
        let mut attributes = Attributes::new();
        if let (true, Some(encoding)) = (self.attributes, object.content_encoding) {
            attributes.insert(Attribute::ContentEncoding, encoding.into());
        }
        attributes
    }

    /// Uploads in parts; a failed upload is aborted, so no parts are left behind.
    async fn put_multipart(
        &self,
        path: &object_store::path::Path,
        body: Bytes,
        attributes: Attributes,
    ) -> Result<(), object_store::Error> {
        let opts = PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let upload = self.store.put_multipart_opts(path, opts).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        for at in (0..body.len()).step_by(PART_BYTES) {
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(key = %path, error = %abort, "cannot abort a failed multipart upload");
                }
                return Err(e);
            }
            writer.put(body.slice(at..(at + PART_BYTES).min(body.len())));
        }
        // `finish` aborts the upload itself when a part or the completion fails.
        writer.finish().await.map(|_| ())
    }

    /// The store path of a key. A key the store refuses is refused on every
    /// attempt: permanent.
    fn path(&self, key: &str) -> Result<object_store::path::Path, SinkError> {
        let full = if self.base.is_empty() {
            key.to_string()
        } else {
            format!("{}/{}", self.base, key)
        };
        object_store::path::Path::parse(&full).map_err(|e| SinkError {
            kind: FailureKind::Permanent,
            code: format!("{}.InvalidKey", self.code_prefix),
            message: e.to_string(),
        })
    }
}

impl Sink for ObjectStoreSink {
    fn put(&self, object: Object) -> BoxFuture<'_, Result<(), SinkError>> {
        async move {
            let path = self.path(&object.key)?;
            let attributes = self.attributes(&object);
            let result = if object.body.len() > PART_BYTES {
                self.put_multipart(&path, object.body, attributes).await
            } else {
                let opts = PutOptions {
                    attributes,
                    ..Default::default()
                };
                self.store
                    .put_opts(&path, PutPayload::from_bytes(object.body), opts)
                    .await
                    .map(|_| ())
            };
            result.map_err(|e| classify(&e, self.code_prefix))
        }
        .boxed()
    }

    /// Buffers up to a part, so a small object is one plain put; past it, the
    /// parts go up as they fill, a few at once, while the rest is being made.
    fn put_streamed(
        &self,
        key: String,
        mut pieces: mpsc::Receiver<Bytes>,
        commit: oneshot::Receiver<bool>,
    ) -> BoxFuture<'_, Result<(), SinkError>> {
        async move {
            // Streamed objects (Parquet files) have no `Content-Encoding`.
            let mut writer =
                BufWriter::with_capacity(self.store.clone(), self.path(&key)?, PART_BYTES)
                    .with_max_concurrency(STREAMED_PARTS_IN_FLIGHT);
            let mut sent = Ok(());
            while let Some(piece) = pieces.recv().await {
                sent = writer.put(piece).await;
                if sent.is_err() {
                    // The encoder sees the channel closed and drops the rest.
                    drop(pieces);
                    break;
                }
            }
            let stored = match (sent, commit.await) {
                (Ok(()), Ok(true)) => writer.shutdown().await.map_err(|e| match e.into_inner() {
                    Some(inner) => match inner.downcast::<object_store::Error>() {
                        Ok(e) => *e,
                        Err(other) => object_store::Error::Generic {
                            store: "object store",
                            source: other,
                        },
                    },
                    None => object_store::Error::Generic {
                        store: "object store",
                        source: "the upload failed".into(),
                    },
                }),
                (sent, _) => {
                    // Failed or not wanted: no part may be left behind.
                    if let Err(abort) = writer.abort().await {
                        tracing::warn!(error = %abort, "cannot abort a multipart upload");
                    }
                    sent
                }
            };
            stored.map_err(|e| classify(&e, self.code_prefix))
        }
        .boxed()
    }

    fn holds(&self, key: &str) -> BoxFuture<'_, Result<bool, SinkError>> {
        let path = self.path(key);
        async move {
            match self.store.head(&path?).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(classify(&e, self.code_prefix)),
            }
        }
        .boxed()
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// S3 error codes worth telling apart, as they appear in S3's error responses.
const S3_CODES: &[(&str, FailureKind)] = &[
    ("NoSuchBucket", FailureKind::Configuration),
    ("AccessDenied", FailureKind::Configuration),
    ("InvalidAccessKeyId", FailureKind::Configuration),
    ("SignatureDoesNotMatch", FailureKind::Configuration),
    ("ExpiredToken", FailureKind::Configuration),
    ("InvalidToken", FailureKind::Configuration),
    ("AllAccessDisabled", FailureKind::Configuration),
    ("KMS.", FailureKind::Configuration),
    ("SlowDown", FailureKind::Transient),
    ("ServiceUnavailable", FailureKind::Transient),
    ("RequestTimeout", FailureKind::Transient),
    ("InternalError", FailureKind::Transient),
];

/// Maps an `object_store` error to a Firehose-style code (`S3.NoSuchBucket`) and a
/// retry class. `object_store` keeps S3's error code only in its message, so the
/// code is found there; failing that, the error's kind decides.
fn classify(e: &object_store::Error, prefix: &str) -> SinkError {
    use object_store::Error as E;
    let message = e.to_string();
    let (code, kind) = match S3_CODES.iter().find(|(c, _)| message.contains(c)) {
        Some((c, kind)) => (c.trim_end_matches('.').to_string(), *kind),
        None => {
            let (code, kind) = match e {
                E::PermissionDenied { .. } => ("AccessDenied", FailureKind::Configuration),
                E::Unauthenticated { .. } => ("InvalidAccessKeyId", FailureKind::Configuration),
                E::NotFound { .. } => ("NoSuchBucket", FailureKind::Configuration),
                _ if message.contains("error sending request") || message.contains("connect") => {
                    ("ConnectionFailed", FailureKind::Transient)
                }
                _ => ("InternalError", FailureKind::Transient),
            };
            (code.to_string(), kind)
        }
    };
    SinkError {
        kind,
        code: format!("{prefix}.{code}"),
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::path::Path as StorePath;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
        ObjectStoreExt, PutResult, UploadPart,
    };

    use super::*;

    /// An in-memory store whose multipart uploads fail at their second part.
    #[derive(Debug, Default)]
    struct FailingParts {
        inner: InMemory,
        aborted: Arc<AtomicUsize>,
    }

    #[derive(Debug)]
    struct FailingUpload {
        parts: usize,
        aborted: Arc<AtomicUsize>,
    }

    fn failed(what: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "test",
            source: what.to_string().into(),
        }
    }

    #[async_trait]
    impl MultipartUpload for FailingUpload {
        fn put_part(&mut self, _data: PutPayload) -> UploadPart {
            self.parts += 1;
            let fail = self.parts == 2;
            Box::pin(async move {
                if fail {
                    Err(failed("part 2 failed"))
                } else {
                    Ok(())
                }
            })
        }
        async fn complete(&mut self) -> object_store::Result<PutResult> {
            Err(failed("completed an upload whose part failed"))
        }
        async fn abort(&mut self) -> object_store::Result<()> {
            self.aborted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[async_trait]
    impl ObjectStore for FailingParts {
        async fn put_opts(
            &self,
            location: &StorePath,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            _location: &StorePath,
            _opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            Ok(Box::new(FailingUpload {
                parts: 0,
                aborted: self.aborted.clone(),
            }))
        }
        async fn get_opts(
            &self,
            location: &StorePath,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<StorePath>>,
        ) -> BoxStream<'static, object_store::Result<StorePath>> {
            self.inner.delete_stream(locations)
        }
        fn list(
            &self,
            prefix: Option<&StorePath>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&StorePath>,
        ) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &StorePath,
            to: &StorePath,
            options: CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    impl std::fmt::Display for FailingParts {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("FailingParts")
        }
    }

    fn object(key: &str, len: usize) -> Object {
        Object {
            key: key.into(),
            body: Bytes::from(vec![b'x'; len]),
            content_encoding: Some("gzip"),
        }
    }

    #[tokio::test]
    async fn a_multipart_upload_that_fails_midway_is_aborted() {
        let store = Arc::new(FailingParts::default());
        let sink = ObjectStoreSink::s3(store.clone(), "b");
        let err = sink.put(object("big", 3 * PART_BYTES)).await.unwrap_err();
        assert!(err.message.contains("part 2 failed"), "{err}");
        assert_eq!(store.aborted.load(Ordering::SeqCst), 1);
        assert!(store.inner.get(&StorePath::from("big")).await.is_err());
    }

    #[tokio::test]
    async fn small_objects_take_one_put_with_their_content_encoding() {
        let store = Arc::new(FailingParts::default());
        let sink = ObjectStoreSink::s3(store.clone(), "b");
        sink.put(object("small", 1000)).await.unwrap();
        let got = store.inner.get(&StorePath::from("small")).await.unwrap();
        assert_eq!(
            got.attributes
                .get(&Attribute::ContentEncoding)
                .map(|v| v.as_ref()),
            Some("gzip")
        );
        assert_eq!(got.bytes().await.unwrap().len(), 1000);
    }

    /// Feeds `pieces` of `piece` bytes to `put_streamed` as an encoder would,
    /// then commits with `commit`; returns the upload's result and whether the
    /// upload stopped reading before the end.
    async fn stream(
        sink: &ObjectStoreSink,
        key: &str,
        pieces: usize,
        piece: usize,
        commit: bool,
    ) -> (Result<(), SinkError>, bool) {
        let (tx, rx) = mpsc::channel(2);
        let (done, committed) = oneshot::channel();
        let feed = async move {
            let mut cut_off = false;
            for _ in 0..pieces {
                if tx.send(Bytes::from(vec![b'p'; piece])).await.is_err() {
                    cut_off = true;
                    break;
                }
            }
            drop(tx);
            let _ = done.send(commit);
            cut_off
        };
        let (cut_off, stored) = tokio::join!(feed, sink.put_streamed(key.into(), rx, committed));
        (stored, cut_off)
    }

    #[tokio::test]
    async fn a_streamed_object_is_stored_only_when_committed() {
        let store = Arc::new(FailingParts::default());
        let sink = ObjectStoreSink::s3(store.clone(), "b");
        let (stored, _) = stream(&sink, "kept", 3, 1000, true).await;
        stored.unwrap();
        let got = store.inner.get(&StorePath::from("kept")).await.unwrap();
        assert_eq!(got.bytes().await.unwrap(), vec![b'p'; 3000]);
        let (stored, _) = stream(&sink, "dropped", 3, 1000, false).await;
        stored.unwrap();
        assert!(store.inner.get(&StorePath::from("dropped")).await.is_err());
    }

    #[tokio::test]
    async fn a_streamed_upload_that_fails_midway_is_aborted_and_stops_reading() {
        let store = Arc::new(FailingParts::default());
        let sink = ObjectStoreSink::s3(store.clone(), "b");
        // Parts of 8 MiB from 1 MiB pieces: the second part fails, which shows
        // once the parts in flight are waited for; the encoder is told (its
        // channel closes) long before it has sent all 100 pieces.
        let (stored, cut_off) = stream(&sink, "big", 100, 1 << 20, true).await;
        let err = stored.unwrap_err();
        assert!(err.message.contains("part 2 failed"), "{err}");
        assert!(cut_off);
        assert_eq!(store.aborted.load(Ordering::SeqCst), 1);
        assert!(store.inner.get(&StorePath::from("big")).await.is_err());
    }
}
