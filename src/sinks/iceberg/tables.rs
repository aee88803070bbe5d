//! The tables a stream delivers to: one, or one per value of the routing
//! metadata its namespace and table names take (Firehose's per-record routing).
//! A batch's key starts with `<namespace>/<table>/`, so the key names its table,
//! after a restart too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use iceberg::Catalog;
use tokio::sync::OnceCell;

use super::config::IcebergDestination;
use super::table::IcebergTable;
use crate::keys::KeyLayout;
use crate::sinks::SinkError;
use crate::sinks::settings::DestinationKind as _;

/// Tables by namespace and name, sharing one catalog connection.
pub struct IcebergTables {
    config: IcebergDestination,
    catalog: Arc<OnceCell<Arc<dyn Catalog>>>,
    tables: Mutex<HashMap<(String, String), Arc<IcebergTable>>>,
    /// Error key layouts of tables with an error prefix of their own.
    error_layouts: HashMap<(String, String), KeyLayout>,
}

impl IcebergTables {
    pub fn new(config: &IcebergDestination) -> Self {
        Self {
            config: config.clone(),
            catalog: Arc::new(OnceCell::new()),
            tables: Mutex::new(HashMap::new()),
            error_layouts: config.table_error_layouts().into_iter().collect(),
        }
    }

    /// The error key layout of the table a batch with this key goes to, when
    /// it has one of its own.
    pub fn error_layout(&self, key: &str) -> Option<&KeyLayout> {
        let (namespace, table) = table_of(key)?;
        self.error_layouts
            .get(&(namespace.to_string(), table.to_string()))
    }

    /// The table a batch with this key goes to.
    pub fn for_key(&self, key: &str) -> Result<Arc<IcebergTable>, SinkError> {
        let (namespace, table) =
            table_of(key).unwrap_or((&self.config.namespace, &self.config.table));
        let mut tables = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = tables.get(&(namespace.to_string(), table.to_string())) {
            return Ok(t.clone());
        }
        let config = IcebergDestination {
            namespace: namespace.to_string(),
            table: table.to_string(),
            ..self.config.clone()
        };
        let t = Arc::new(IcebergTable::new(&config, self.catalog.clone())?);
        tables.insert((namespace.to_string(), table.to_string()), t.clone());
        Ok(t)
    }

    /// `iceberg:lake.logs.events` (with the routing expressions unrendered).
    pub fn describe(&self) -> String {
        self.config.describe()
    }
}

/// The namespace and table a data key names: it starts `<namespace>/<table>/`
/// (partition values hold no `/`; a prefix without expressions is followed by
/// Firehose's default `yyyy/MM/dd/HH/`).
fn table_of(key: &str) -> Option<(&str, &str)> {
    let mut parts = key.splitn(3, '/');
    let namespace = parts.next()?;
    let table = parts.next()?;
    parts.next()?;
    (!namespace.is_empty() && !table.is_empty()).then_some((namespace, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_table() {
        assert_eq!(
            table_of("logs.app/events/events-1-2026-01-01-00-00-00-x"),
            Some(("logs.app", "events"))
        );
        assert_eq!(
            table_of("logs/events/2026/12/07/05/events-1-2026"),
            Some(("logs", "events"))
        );
        assert_eq!(table_of("events-1-2026"), None);
        assert_eq!(table_of("logs/events-1-2026"), None);
    }
}
