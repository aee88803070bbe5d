//! The Iceberg destination's settings, as written in the config file, and their
//! checks (`sluice check` reports them with their key paths).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::aws::AwsConnection;
use crate::config::{ConfigError, FormatConfig, Secret, ServerConfig, StreamConfig};
use crate::encode::parquet::Column;
use crate::encode::parquet::ParquetEncoder;
use crate::keys::KeyLayout;
use crate::sinks::kinds::ObjectDestination;
use crate::sinks::local::LocalDestination;
use crate::sinks::s3::S3Destination;
use crate::sinks::settings::{BackupMode, DestinationKind, KeyRouting, ObjectKeys, ObjectLayout};
use crate::sinks::{FailureKind, SinkError, Sinks};

use super::IcebergTables;
use super::maintenance::ExpireSnapshots;
use super::types;

/// Firehose's default retry duration for Iceberg destinations (0 to 7,200 s).
const DEFAULT_RETRY_DURATION_SECONDS: u64 = 300;
/// Firehose's longest retry duration for Iceberg destinations.
const MAX_RETRY_DURATION_SECONDS: u64 = 7_200;

/// `destination = { type = "iceberg", ... }`: records land in Parquet data files
/// of an Apache Iceberg table, one snapshot per sealed buffer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcebergDestination {
    /// Where the table's metadata lives.
    pub catalog: CatalogConfig,
    /// The warehouse new tables are created under: `s3://bucket/path`, or a local
    /// folder (`file:///var/lib/lake` or an absolute path). Error records go to
    /// the same bucket or folder, under `error_output_prefix`.
    pub warehouse: String,
    /// Endpoint, region and credentials of the warehouse's bucket, as every
    /// AWS-backed component's.
    #[serde(flatten)]
    pub aws: AwsConnection,
    /// The table's namespace (Firehose's `DestinationDatabaseName`); dots make
    /// nested namespaces. May take a record's routing metadata:
    /// `!{partitionKeyFromQuery:destinationDatabaseName}`.
    pub namespace: String,
    /// The table's name (Firehose's `DestinationTableName`), or a record's
    /// routing metadata: `!{partitionKeyFromQuery:destinationTableName}`, or
    /// `!{partitionKeyFromLambda:destinationTableName}` from a plugin.
    pub table: String,
    /// Creates the table when it does not exist (Firehose's
    /// `TableCreationConfiguration`); without it a missing table is a delivery
    /// failure, retried, then `delivery-failed` error records.
    pub create_table: Option<CreateTable>,
    /// Firehose's `SchemaEvolutionConfiguration`: a top-level key the table
    /// lacks adds an optional column (type inferred from its first non-null
    /// value) in a schema update committed before the data. Off: such keys are
    /// ignored.
    #[serde(default)]
    pub schema_evolution: bool,
    /// Expires old snapshots after commits (Firehose leaves it to a separate job).
    pub expire_snapshots: Option<ExpireSnapshots>,
    /// Where error records go (under the warehouse's bucket or folder), unless
    /// the batch's table has an `error_output_prefix` of its own in `tables`.
    #[serde(default)]
    pub error_output_prefix: String,
    /// Settings of particular tables (Firehose's
    /// `DestinationTableConfigurationList`), for streams that route records
    /// to several.
    #[serde(default)]
    pub tables: Vec<TableSettings>,
    /// Firehose's `CustomTimeZone`, for the time in error object keys.
    pub time_zone: Option<String>,
    /// How long a failing commit is retried before its records go to the error
    /// output as `delivery-failed`.
    #[serde(default = "default_retry_duration")]
    pub retry_duration_seconds: u64,
}

fn default_retry_duration() -> u64 {
    DEFAULT_RETRY_DURATION_SECONDS
}

/// The catalog that holds the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CatalogConfig {
    /// Iceberg's JDBC/SQL catalog in a SQLite database: `uri` is
    /// `sqlite:///path/catalog.db` (created if missing), `name` the catalog name
    /// stored in its rows, which pyiceberg, Spark or Trino use to see the same
    /// tables.
    Sql { uri: String, name: String },
    /// An Iceberg REST catalog (Polaris, Lakekeeper, Nessie, Gravitino,
    /// SeaweedFS's S3 Tables, R2 Data Catalog): `uri` its base URL, `warehouse`
    /// the warehouse to ask it for (else the destination's `warehouse`),
    /// authentication by a bearer `token` or OAuth2 client credentials
    /// (`credential = "client_id:client_secret"`, tokens from `oauth2_server_uri`
    /// or the catalog's own token endpoint, for `scope`). No SigV4 signing.
    Rest {
        uri: String,
        #[serde(default = "default_rest_name")]
        name: String,
        warehouse: Option<String>,
        token: Option<Secret>,
        credential: Option<Secret>,
        oauth2_server_uri: Option<String>,
        scope: Option<String>,
    },
}

fn default_rest_name() -> String {
    "rest".to_string()
}

impl CatalogConfig {
    /// The catalog's name (as engines name it).
    pub fn name(&self) -> &str {
        match self {
            Self::Sql { name, .. } | Self::Rest { name, .. } => name,
        }
    }
}

/// A table to create when it is missing: its columns, in the Glue/Hive type names
/// the Parquet conversion takes, and its partitioning with Iceberg's transforms
/// (`day(ts)`, `hour(ts)`, `bucket(16, id)`, `truncate(4, s)`, `country`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTable {
    pub columns: Vec<Column>,
    #[serde(default)]
    pub partition_by: Vec<String>,
}

/// One table's own settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TableSettings {
    pub namespace: String,
    pub table: String,
    /// Firehose's per-table `S3ErrorOutputPrefix`: error records of the
    /// batches bound for this table.
    pub error_output_prefix: Option<String>,
    /// Firehose's `UniqueKeys`, which updates and deletes match rows on.
    /// Refused: Sluice appends only (see README).
    #[serde(default)]
    pub unique_keys: Vec<String>,
}

/// Where a warehouse is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warehouse {
    S3 { bucket: String, path: String },
    Local(PathBuf),
}

impl IcebergDestination {
    /// The warehouse's place, or why it is not one.
    pub fn warehouse(&self) -> Result<Warehouse, String> {
        let text = self.warehouse.trim_end_matches('/');
        if let Some(rest) = text
            .strip_prefix("s3://")
            .or_else(|| text.strip_prefix("s3a://"))
        {
            let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
            return Ok(Warehouse::S3 {
                bucket: bucket.to_string(),
                path: path.to_string(),
            });
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if path.starts_with('/') {
            Ok(Warehouse::Local(PathBuf::from(path)))
        } else {
            Err(format!(
                "`{}` is neither s3://bucket/path nor an absolute local path (file:///path)",
                self.warehouse
            ))
        }
    }

    /// The warehouse as Iceberg spells locations (`s3://bucket/path`,
    /// `file:///path`).
    pub fn warehouse_location(&self) -> Result<String, String> {
        Ok(match self.warehouse()? {
            Warehouse::S3 { bucket, path } if path.is_empty() => format!("s3://{bucket}"),
            Warehouse::S3 { bucket, path } => format!("s3://{bucket}/{path}"),
            Warehouse::Local(path) => format!("file://{}", path.display()),
        })
    }

    /// Where error records are written: the warehouse's bucket (keys from its
    /// root, as Firehose's error bucket) or folder.
    pub fn error_destination(&self) -> Result<ObjectDestination, String> {
        let keys = ObjectKeys {
            prefix: String::new(),
            error_output_prefix: self.error_output_prefix.clone(),
            time_zone: self.time_zone.clone(),
            retry_duration_seconds: self.retry_duration_seconds,
            s3_backup_mode: BackupMode::Disabled,
            backup_prefix: String::new(),
        };
        Ok(match self.warehouse()? {
            Warehouse::S3 { bucket, .. } => ObjectDestination::S3(S3Destination {
                bucket,
                aws: self.aws.clone(),
                keys,
            }),
            Warehouse::Local(path) => ObjectDestination::Local(LocalDestination { path, keys }),
        })
    }

    /// The key layout of error records of batches bound for `namespace.table`,
    /// when that table has an error prefix of its own.
    pub fn table_error_layouts(&self) -> Vec<((String, String), KeyLayout)> {
        self.tables
            .iter()
            .filter_map(|t| {
                let prefix = t.error_output_prefix.as_deref()?;
                // Checked at load; a prefix that does not parse keeps the stream's.
                let layout = KeyLayout::new("", prefix).ok()?;
                Some(((t.namespace.clone(), t.table.clone()), layout))
            })
            .collect()
    }
}

impl DestinationKind for IcebergDestination {
    /// `lake.logs.events`, for logs.
    fn describe(&self) -> String {
        format!(
            "iceberg:{}.{}.{}",
            self.catalog.name(),
            self.namespace,
            self.table
        )
    }

    /// Keys of error objects and the retry duration.
    fn layout(&self) -> ObjectLayout<'_> {
        ObjectLayout {
            prefix: "",
            time_zone: self.time_zone.as_deref(),
            error_output_prefix: &self.error_output_prefix,
            retry_duration_seconds: self.retry_duration_seconds,
            backup_prefix: None,
        }
    }

    fn max_retry_duration_seconds(&self) -> u64 {
        MAX_RETRY_DURATION_SECONDS
    }

    /// The checks `sluice check` runs, and what does not go with a table in the
    /// stream `s`: the table's schema decides the columns and Parquet its file
    /// format, so the stream's own format and compression do not apply.
    fn check(&self, s: &StreamConfig, at: &dyn Fn(&str) -> String, errors: &mut Vec<ConfigError>) {
        if matches!(s.format, FormatConfig::Parquet(_)) {
            errors.push(ConfigError::new(
                at("format"),
                "an Iceberg destination converts records with its table's schema: remove `format`",
            ));
        }
        if s.compression != crate::encode::Compression::None {
            errors.push(ConfigError::new(
                at("compression"),
                "an Iceberg table's data files are Parquet: remove `compression`",
            ));
        }
        match &self.catalog {
            CatalogConfig::Sql { uri, .. } if !uri.starts_with("sqlite:") => {
                errors.push(ConfigError::new(
                    at("destination.catalog.uri"),
                    format!("`{uri}` is not a SQLite URI (sqlite:///path/catalog.db)"),
                ));
            }
            CatalogConfig::Rest { uri, .. }
                if !(uri.starts_with("http://") || uri.starts_with("https://")) =>
            {
                errors.push(ConfigError::new(
                    at("destination.catalog.uri"),
                    format!("`{uri}` must start with http:// or https://"),
                ));
            }
            CatalogConfig::Rest {
                token: Some(_),
                credential: Some(_),
                ..
            } => {
                errors.push(ConfigError::new(
                    at("destination.catalog.token"),
                    "give a token or OAuth2 client credentials, not both",
                ));
            }
            _ => {}
        }
        if self.catalog.name().is_empty() {
            errors.push(ConfigError::new(
                at("destination.catalog.name"),
                "must not be empty",
            ));
        }
        if let Err(e) = self.warehouse() {
            errors.push(ConfigError::new(at("destination.warehouse"), e));
        }
        for (key, value) in [("namespace", &self.namespace), ("table", &self.table)] {
            if value.is_empty() || value.split('.').any(str::is_empty) {
                errors.push(ConfigError::new(
                    at(&format!("destination.{key}")),
                    "must be a name (dots separate nested namespaces)",
                ));
            }
        }
        if self.table.contains('.') {
            errors.push(ConfigError::new(
                at("destination.table"),
                "a table name has no dots (put the namespace in `namespace`)",
            ));
        }
        self.aws
            .check(&|key| at(&format!("destination.{key}")), errors);
        if self
            .expire_snapshots
            .as_ref()
            .is_some_and(|e| e.retain_last == 0)
        {
            errors.push(ConfigError::new(
                at("destination.expire_snapshots.retain_last"),
                "must be at least 1 (the current snapshot is always kept)",
            ));
        }
        for (i, t) in self.tables.iter().enumerate() {
            let at_table = |key: &str| at(&format!("destination.tables[{i}].{key}"));
            if t.namespace.is_empty() || t.namespace.split('.').any(str::is_empty) {
                errors.push(ConfigError::new(at_table("namespace"), "must be a name"));
            }
            if t.table.is_empty() || t.table.contains('.') {
                errors.push(ConfigError::new(
                    at_table("table"),
                    "must be a table name, without dots",
                ));
            }
            if self.tables[..i]
                .iter()
                .any(|o| o.namespace == t.namespace && o.table == t.table)
            {
                errors.push(ConfigError::new(
                    at_table("table"),
                    format!("{}.{} is listed twice", t.namespace, t.table),
                ));
            }
            if let Some(prefix) = &t.error_output_prefix
                && let Err((_, e)) = KeyLayout::new("", prefix)
            {
                errors.push(ConfigError::new(
                    at_table("error_output_prefix"),
                    e.to_string(),
                ));
            }
            if !t.unique_keys.is_empty() {
                errors.push(ConfigError::new(
                    at_table("unique_keys"),
                    "updates and deletes are not supported: Sluice appends rows only (the Iceberg crate it uses cannot commit equality deletes); records whose `operation` is update or delete go to the error output",
                ));
            }
        }
        if let Some(create) = &self.create_table {
            if create.columns.is_empty() {
                errors.push(ConfigError::new(
                    at("destination.create_table.columns"),
                    "a table needs at least one column",
                ));
            }
            if let Err(e) = types::table_schema(&create.columns)
                .and_then(|schema| types::partition_spec(&schema, &create.partition_by))
            {
                errors.push(ConfigError::new(at("destination.create_table"), e));
            }
        }
    }

    /// Records are buffered per table: the data prefix names the table,
    /// taken from a record's routing metadata where the stream supplies it.
    fn routing(&self, s: &StreamConfig) -> KeyRouting {
        let query_keys = s
            .metadata_query()
            .and_then(crate::processors::metadata_extraction::MetadataExtraction::key_names);
        let routing = self.table_routing(query_keys.as_deref(), s.plugins().next().is_some());
        KeyRouting {
            prefix: routing.prefix,
            defaults: routing.defaults,
            inserts_only: true,
        }
    }

    fn start(
        &self,
        _s: &StreamConfig,
        _server: &ServerConfig,
        _parquet: Option<Arc<ParquetEncoder>>,
    ) -> Result<Sinks, SinkError> {
        let errors = self.error_destination().map_err(|message| SinkError {
            kind: FailureKind::Configuration,
            code: "Iceberg.InvalidWarehouse".to_string(),
            message,
        })?;
        Ok(Sinks {
            destination: Arc::new(IcebergTables::new(self)),
            objects: errors.store()?,
        })
    }

    fn error_bucket_arn(&self) -> String {
        self.error_destination()
            .map(|errors| errors.arn())
            .unwrap_or_default()
    }

    fn description(
        &self,
        _s: &StreamConfig,
        processing: Value,
        s3: Value,
    ) -> (&'static str, Value) {
        (
            "IcebergDestinationDescription",
            self.table_description(processing, s3),
        )
    }
}
