//! Apache Iceberg tables as a destination: records become rows of a table in a
//! SQL catalog, committed one snapshot per sealed buffer, exactly once.

mod catalog;
mod config;
mod describe;
mod destination;
mod evolution;
mod maintenance;
mod routing;
mod table;
mod tables;
mod types;

pub use config::{CatalogConfig, CreateTable, IcebergDestination, TableSettings, Warehouse};
pub use maintenance::ExpireSnapshots;
pub use routing::{DATABASE_KEY, TABLE_KEY, TableRouting};
pub use table::{BATCH_PROPERTY, IcebergTable, RecordSource, Written};
pub use tables::IcebergTables;
