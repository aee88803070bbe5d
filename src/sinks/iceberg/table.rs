//! One Iceberg table as a destination: a sealed buffer's records are converted
//! with the table's own schema, written as Parquet data files (split by the
//! table's partition spec) and committed as one fast append whose snapshot names
//! the buffer, so a buffer committed before a crash is found and not committed
//! again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use iceberg::arrow::{RecordBatchPartitionSplitter, schema_to_arrow_schema};
use iceberg::spec::{DataFile, DataFileFormat, PartitionSpec, Schema};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tokio::sync::OnceCell;

use super::catalog;
use super::config::IcebergDestination;
use super::evolution;
use super::maintenance::Expiry;
use super::types;
use crate::encode::EncodeError;
use crate::encode::parquet::{ConversionError, DeserializerConfig, ParquetEncoder, WriterSettings};
use crate::sinks::settings::DestinationKind as _;
use crate::sinks::{FailureKind, SinkError};

/// The snapshot summary property that names the sealed buffer a snapshot holds.
pub const BATCH_PROPERTY: &str = "sluice.batch";

type DataWriterBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// The table a stream delivers to, and how to reach it.
pub struct IcebergTable {
    config: IcebergDestination,
    ident: TableIdent,
    /// Opened at the first delivery, so a catalog that is down delays delivery
    /// (retried) rather than the daemon's start.
    catalog: Arc<OnceCell<Arc<dyn Catalog>>>,
    /// The conversion for the table's current schema, made again when it changes.
    converter: Mutex<Option<Arc<Converter>>>,
    /// Snapshot expiry, when configured.
    expiry: Option<Expiry>,
}

/// Records to rows of one table schema.
struct Converter {
    schema_id: i32,
    encoder: Arc<ParquetEncoder>,
    /// The table's schema as Arrow (with Iceberg field ids), which converted
    /// batches are cast to.
    arrow: SchemaRef,
}

/// Data files written for a buffer, not yet committed.
pub struct Written {
    pub files: Vec<DataFile>,
    pub rows: usize,
    /// Records that do not fit the table's schema, by position in the buffer.
    pub failed: Vec<(usize, ConversionError)>,
    /// The bytes of the data files.
    pub bytes: u64,
}

impl IcebergTable {
    /// The table `config` names, through the shared `catalog` connection
    /// (opened by the first table that needs it).
    pub fn new(
        config: &IcebergDestination,
        catalog: Arc<OnceCell<Arc<dyn Catalog>>>,
    ) -> Result<Self, SinkError> {
        let namespace = NamespaceIdent::from_strs(config.namespace.split('.'))
            .map_err(|e| configuration("Iceberg.InvalidNamespace", e.to_string()))?;
        Ok(Self {
            ident: TableIdent::new(namespace, config.table.clone()),
            config: config.clone(),
            catalog,
            converter: Mutex::new(None),
            expiry: config.expire_snapshots.clone().map(Expiry::new),
        })
    }

    /// `iceberg:lake.logs.events`.
    pub fn describe(&self) -> String {
        self.config.describe()
    }

    async fn catalog(&self) -> Result<&Arc<dyn Catalog>, SinkError> {
        self.catalog
            .get_or_try_init(|| catalog::open(&self.config))
            .await
            .map_err(|message| SinkError {
                kind: FailureKind::Transient,
                code: "Iceberg.CatalogUnavailable".to_string(),
                message,
            })
    }

    /// The table as the catalog has it now, created first when it is missing and
    /// `create_table` says how.
    pub async fn load(&self) -> Result<Table, SinkError> {
        let catalog = self.catalog().await?;
        match catalog.load_table(&self.ident).await {
            Ok(table) => Ok(table),
            Err(e)
                if e.kind() == ErrorKind::TableNotFound
                    || e.kind() == ErrorKind::NamespaceNotFound =>
            {
                if self.config.create_table.is_none() {
                    return Err(configuration(
                        "Iceberg.TableNotFound",
                        format!(
                            "table {} does not exist and `create_table` is not set",
                            self.ident
                        ),
                    ));
                }
                self.create(catalog.as_ref()).await
            }
            Err(e) => Err(iceberg_error(e)),
        }
    }

    async fn create(&self, catalog: &dyn Catalog) -> Result<Table, SinkError> {
        let Some(create) = &self.config.create_table else {
            return Err(configuration(
                "Iceberg.TableNotFound",
                self.ident.to_string(),
            ));
        };
        let schema = types::table_schema(&create.columns)
            .map_err(|m| configuration("Iceberg.InvalidSchema", m))?;
        let spec: PartitionSpec = types::partition_spec(&schema, &create.partition_by)
            .map_err(|m| configuration("Iceberg.InvalidPartitionSpec", m))?;
        let namespace = self.ident.namespace();
        if !catalog
            .namespace_exists(namespace)
            .await
            .map_err(iceberg_error)?
        {
            match catalog.create_namespace(namespace, HashMap::new()).await {
                // Another writer made it meanwhile.
                Err(e) if e.kind() != ErrorKind::NamespaceAlreadyExists => {
                    return Err(iceberg_error(e));
                }
                _ => {}
            }
        }
        let creation = TableCreation::builder()
            .name(self.ident.name().to_string())
            .schema(schema)
            .partition_spec(spec.into_unbound())
            .build();
        match catalog.create_table(namespace, creation).await {
            Ok(table) => {
                tracing::info!(table = %self.ident, "created the Iceberg table");
                Ok(table)
            }
            Err(e) if e.kind() == ErrorKind::TableAlreadyExists => {
                catalog.load_table(&self.ident).await.map_err(iceberg_error)
            }
            Err(e) => Err(iceberg_error(e)),
        }
    }

    /// Whether a snapshot of the table holds the buffer `batch` (committed before
    /// a crash or before a commit's answer was lost).
    pub fn committed(table: &Table, batch: &str) -> bool {
        table.metadata().snapshots().any(|s| {
            s.summary()
                .additional_properties
                .get(BATCH_PROPERTY)
                .is_some_and(|b| b == batch)
        })
    }

    /// Converts the records and writes them as data files named after `name`
    /// (the same names when a buffer is written again, so a retry overwrites
    /// the files of an attempt that was not committed).
    pub async fn write(
        &self,
        table: &Table,
        records: Arc<dyn RecordSource>,
        name: &str,
    ) -> Result<Written, SinkError> {
        let converter = self.converter(table)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(1);
        let convert = {
            let converter = converter.clone();
            tokio::task::spawn_blocking(move || {
                converter
                    .encoder
                    .record_batches(records.records(), |batch| {
                        tx.blocking_send(batch)
                            .map_err(|_| EncodeError::new("the data file writer stopped"))
                    })
            })
        };
        let mut writer = DataWriter::new(table, name).await?;
        let mut bytes = 0u64;
        while let Some(batch) = rx.recv().await {
            let batch = converter.to_table(&batch)?;
            writer.write(batch).await?;
        }
        let (rows, failed) = convert
            .await
            .map_err(|e| encode_failure(e.to_string()))?
            .map_err(|e| encode_failure(e.to_string()))?;
        let files = writer.close().await?;
        for file in &files {
            bytes += file.file_size_in_bytes();
        }
        Ok(Written {
            files,
            rows,
            failed,
            bytes,
        })
    }

    /// Commits the data files as one fast append whose snapshot names `batch`.
    /// A conflict with another writer is retried by the crate on a fresh copy of
    /// the table, within the table's `commit.retry.*` limits.
    pub async fn commit(
        &self,
        table: &Table,
        files: Vec<DataFile>,
        batch: &str,
    ) -> Result<(), SinkError> {
        let catalog = self.catalog().await?;
        let tx = Transaction::new(table);
        let append = tx
            .fast_append()
            .add_data_files(files)
            .set_snapshot_properties(HashMap::from([(
                BATCH_PROPERTY.to_string(),
                batch.to_string(),
            )]));
        let tx = append.apply(tx).map_err(iceberg_error)?;
        let committed = tx.commit(catalog.as_ref()).await.map_err(iceberg_error)?;
        // After the commit, and never failing it: the next one tries again.
        if let Some(expiry) = &self.expiry {
            match expiry.run(catalog.as_ref(), &committed).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(table = %self.ident, snapshots = n, "expired old snapshots")
                }
                Err(e) => {
                    tracing::warn!(table = %self.ident, error = %e, "cannot expire old snapshots, trying again after a later commit")
                }
            }
        }
        Ok(())
    }

    /// With `schema_evolution` on: adds the columns the records' top-level keys
    /// need (optional, types inferred), committed before their data; returns the
    /// table as it then is.
    pub async fn evolve(
        &self,
        table: Table,
        records: Arc<dyn RecordSource>,
    ) -> Result<Table, SinkError> {
        if !self.config.schema_evolution {
            return Ok(table);
        }
        let schema = table.metadata().current_schema().clone();
        let columns =
            tokio::task::spawn_blocking(move || evolution::new_columns(&schema, records.records()))
                .await
                .map_err(|e| encode_failure(e.to_string()))?;
        if columns.is_empty() {
            return Ok(table);
        }
        let catalog = self.catalog().await?;
        let tx = Transaction::new(&table);
        let mut update = tx.update_schema();
        for (name, ty) in &columns {
            update = update.add_column(AddColumn::optional(name, ty.clone()));
        }
        let tx = update.apply(tx).map_err(iceberg_error)?;
        let table = tx.commit(catalog.as_ref()).await.map_err(iceberg_error)?;
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        tracing::info!(table = %self.ident, columns = ?names, "added columns the records carry (schema evolution)");
        Ok(table)
    }

    /// The conversion to the table's current schema, which also tells why a
    /// record does not convert (its error record).
    pub fn encoder(&self, table: &Table) -> Result<Arc<ParquetEncoder>, SinkError> {
        Ok(self.converter(table)?.encoder.clone())
    }

    fn converter(&self, table: &Table) -> Result<Arc<Converter>, SinkError> {
        let schema = table.metadata().current_schema();
        let mut cached = self
            .converter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cached.as_ref()
            && c.schema_id == schema.schema_id()
        {
            return Ok(c.clone());
        }
        let converter = Arc::new(Converter::new(schema)?);
        *cached = Some(converter.clone());
        Ok(converter)
    }
}

/// The records of a sealed buffer, as the conversion reads them.
pub trait RecordSource: Send + Sync + 'static {
    fn records(&self) -> Box<dyn Iterator<Item = &[u8]> + '_>;
}

impl Converter {
    fn new(schema: &Schema) -> Result<Self, SinkError> {
        let columns =
            types::columns(schema).map_err(|m| configuration("Iceberg.UnsupportedSchema", m))?;
        let required = schema
            .as_struct()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.required)
            .map(|(i, f)| (i, f.name.clone()))
            .collect();
        let encoder = ParquetEncoder::new(
            &columns,
            &DeserializerConfig::default(),
            WriterSettings::default(),
        )
        .map_err(|m| configuration("Iceberg.UnsupportedSchema", m))?
        .with_required(required);
        let arrow = schema_to_arrow_schema(schema).map_err(iceberg_error)?;
        Ok(Self {
            schema_id: schema.schema_id(),
            encoder: Arc::new(encoder),
            arrow: Arc::new(arrow),
        })
    }

    /// A converted batch in the table's Arrow types: the same values, cast where
    /// Iceberg's Arrow form differs (time zone, narrower integers, field ids).
    fn to_table(&self, batch: &RecordBatch) -> Result<RecordBatch, SinkError> {
        let columns = batch
            .columns()
            .iter()
            .zip(self.arrow.fields())
            .map(|(column, field)| arrow_cast::cast(column, field.data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| encode_failure(e.to_string()))?;
        RecordBatch::try_new(self.arrow.clone(), columns).map_err(|e| encode_failure(e.to_string()))
    }
}

/// Writes data files, one set per partition for a partitioned table.
enum DataWriter {
    Unpartitioned(Box<<DataWriterBuilder as IcebergWriterBuilder>::R>),
    Partitioned(
        Box<(
            FanoutWriter<DataWriterBuilder>,
            RecordBatchPartitionSplitter,
        )>,
    ),
}

impl DataWriter {
    async fn new(table: &Table, name: &str) -> Result<Self, SinkError> {
        let metadata = table.metadata();
        let schema = metadata.current_schema().clone();
        let parquet = ParquetWriterBuilder::new(writer_properties(metadata), schema.clone());
        let locations = DefaultLocationGenerator::new(metadata).map_err(iceberg_error)?;
        let names = DefaultFileNameGenerator::new(name.to_string(), None, DataFileFormat::Parquet);
        let rolling = RollingFileWriterBuilder::new_with_default_file_size(
            parquet,
            table.file_io().clone(),
            locations,
            names,
        );
        let builder = DataFileWriterBuilder::new(rolling);
        let spec = metadata.default_partition_spec();
        if spec.is_unpartitioned() {
            return Ok(Self::Unpartitioned(Box::new(
                builder.build(None).await.map_err(iceberg_error)?,
            )));
        }
        let splitter =
            RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec.clone())
                .map_err(iceberg_error)?;
        Ok(Self::Partitioned(Box::new((
            FanoutWriter::new(builder),
            splitter,
        ))))
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        match self {
            Self::Unpartitioned(writer) => writer.write(batch).await.map_err(iceberg_error),
            Self::Partitioned(partitioned) => {
                let (writer, splitter) = &mut **partitioned;
                for (key, part) in splitter.split(&batch).map_err(iceberg_error)? {
                    writer.write(key, part).await.map_err(iceberg_error)?;
                }
                Ok(())
            }
        }
    }

    async fn close(self) -> Result<Vec<DataFile>, SinkError> {
        match self {
            Self::Unpartitioned(mut writer) => writer.close().await.map_err(iceberg_error),
            Self::Partitioned(partitioned) => partitioned.0.close().await.map_err(iceberg_error),
        }
    }
}

/// Page compression as the table asks (`write.parquet.compression-codec`), zstd
/// (Iceberg's default) when it does not say or names a codec Sluice lacks.
fn writer_properties(metadata: &iceberg::spec::TableMetadata) -> WriterProperties {
    let codec = metadata
        .properties()
        .get("write.parquet.compression-codec")
        .map(|c| c.to_ascii_lowercase());
    let compression = match codec.as_deref() {
        Some("snappy") => Compression::SNAPPY,
        Some("gzip") => Compression::GZIP(Default::default()),
        Some("uncompressed") | Some("none") => Compression::UNCOMPRESSED,
        _ => Compression::ZSTD(Default::default()),
    };
    WriterProperties::builder()
        .set_compression(compression)
        .set_created_by(format!("sluice version {}", env!("CARGO_PKG_VERSION")))
        .build()
}

fn configuration(code: &str, message: impl Into<String>) -> SinkError {
    SinkError {
        kind: FailureKind::Configuration,
        code: code.to_string(),
        message: message.into(),
    }
}

fn encode_failure(message: String) -> SinkError {
    SinkError {
        kind: FailureKind::Transient,
        code: "EncodeError".to_string(),
        message,
    }
}

/// A failure of the Iceberg crate, with its kind as the code
/// (`Iceberg.CatalogCommitConflicts`).
fn iceberg_error(e: iceberg::Error) -> SinkError {
    let kind = match e.kind() {
        ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound | ErrorKind::FeatureUnsupported => {
            FailureKind::Configuration
        }
        _ => FailureKind::Transient,
    };
    SinkError {
        kind,
        code: format!("Iceberg.{}", e.kind().into_static()),
        message: e.to_string(),
    }
}
