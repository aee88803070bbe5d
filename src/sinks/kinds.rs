//! The one list of destination kinds, and the object destinations an HTTP
//! endpoint's (or an Iceberg table's) error records may go to. A new kind is
//! its folder (its settings and their [`DestinationKind`]), a variant here and
//! an arm in [`DestinationConfig::kind`].

use std::sync::Arc;

use serde::Deserialize;

use super::http::HttpDestination;
use super::iceberg::IcebergDestination;
use super::local::LocalDestination;
use super::s3::S3Destination;
use super::settings::{DestinationKind, ObjectLayout};
use super::{Sink, SinkError};
use crate::config::ConfigError;

/// Where a stream's objects go.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DestinationConfig {
    /// A folder on local disk; object keys become relative paths.
    Local(LocalDestination),
    /// An S3-compatible object store: AWS S3, MinIO, SeaweedFS, ...
    S3(S3Destination),
    /// An HTTP endpoint that speaks Firehose's HTTP delivery protocol.
    Http(HttpDestination),
    /// An Apache Iceberg table.
    Iceberg(IcebergDestination),
}

impl DestinationConfig {
    /// The kind's settings behind the contract.
    pub fn kind(&self) -> &dyn DestinationKind {
        match self {
            Self::Local(d) => d,
            Self::S3(d) => d,
            Self::Http(d) => d,
            Self::Iceberg(d) => d,
        }
    }

    /// Keys and failure handling (see [`DestinationKind::layout`]).
    pub fn layout(&self) -> ObjectLayout<'_> {
        self.kind().layout()
    }

    pub fn error_output_prefix(&self) -> &str {
        self.layout().error_output_prefix
    }

    /// A short description for logs (`local:/data/out`, `s3://bucket`, the URL).
    pub fn describe(&self) -> String {
        self.kind().describe()
    }
}

/// Where an HTTP destination's failed records (and, with `AllData`, all records)
/// are written: Firehose requires an S3 backup for HTTP endpoints, and so does Sluice.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObjectDestination {
    Local(LocalDestination),
    S3(S3Destination),
}

impl ObjectDestination {
    pub fn layout(&self) -> ObjectLayout<'_> {
        match self {
            Self::Local(l) => l.keys.layout(),
            Self::S3(s) => s.keys.layout(),
        }
    }

    /// The store its objects go to.
    pub fn store(&self) -> Result<Arc<dyn Sink>, SinkError> {
        Ok(match self {
            Self::Local(local) => {
                Arc::new(super::object_store::ObjectStoreSink::local(&local.path)?)
            }
            Self::S3(s3) => Arc::new(super::s3::sink(s3)?),
        })
    }

    /// Its `BucketARN`.
    pub fn arn(&self) -> String {
        match self {
            Self::Local(local) => local.arn(),
            Self::S3(s3) => s3.arn(),
        }
    }

    /// `sluice check`'s checks; `at` turns a key of the destination into its path.
    pub fn check(&self, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        match self {
            Self::Local(local) => local.check_own(at, errors),
            Self::S3(s3) => s3.check_own(at, errors),
        }
    }
}
