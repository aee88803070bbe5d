//! Object-store destinations (local folder; S3-compatible stores share this path)
//! through the `object_store` crate.

use std::path::Path;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{FailureKind, Object, Sink, SinkError};

/// Stores objects through any `object_store` backend.
pub struct ObjectStoreSink {
    store: Arc<dyn ObjectStore>,
    /// Prepended to every key (the folder, for a local destination).
    base: String,
    description: String,
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
        })
    }
}

impl Sink for ObjectStoreSink {
    fn put(&self, object: Object) -> BoxFuture<'_, Result<(), SinkError>> {
        async move {
            let full = if self.base.is_empty() {
                object.key.clone()
            } else {
                format!("{}/{}", self.base, object.key)
            };
            let path = object_store::path::Path::parse(&full).map_err(|e| SinkError {
                kind: FailureKind::Configuration,
                code: "InvalidKey".into(),
                message: e.to_string(),
            })?;
            self.store
                .put(&path, PutPayload::from_bytes(object.body))
                .await
                .map(|_| ())
                .map_err(|e| classify(&e))
        }
        .boxed()
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Maps an `object_store` error to Firehose-style codes and a retry class.
fn classify(e: &object_store::Error) -> SinkError {
    use object_store::Error as E;
    let (kind, code) = match e {
        E::PermissionDenied { .. } => (FailureKind::Configuration, "S3.AccessDenied"),
        E::Unauthenticated { .. } => (FailureKind::Configuration, "S3.InvalidAccessKeyId"),
        E::NotFound { .. } => (FailureKind::Configuration, "S3.NoSuchBucket"),
        _ => (FailureKind::Transient, "InternalError"),
    };
    SinkError {
        kind,
        code: code.into(),
        message: e.to_string(),
    }
}
