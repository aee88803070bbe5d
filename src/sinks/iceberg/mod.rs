//! Apache Iceberg tables as a destination: records become rows of a table in a
//! SQL catalog, committed one snapshot per sealed buffer, exactly once.

mod catalog;
mod config;
mod evolution;
mod maintenance;
mod table;
mod tables;
mod types;

pub use config::{CatalogConfig, CreateTable, IcebergDestination, Warehouse};
pub use maintenance::ExpireSnapshots;
pub use table::{BATCH_PROPERTY, IcebergTable, RecordSource, Written};
pub use tables::IcebergTables;
