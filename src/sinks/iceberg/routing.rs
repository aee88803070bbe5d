//! Which table a record goes to. Firehose reads a record's routing metadata by
//! name: `destinationDatabaseName` and `destinationTableName`, from a
//! `metadata_extraction` query or a plugin (a Lambda's `otfMetadata`), override
//! the configured namespace and table; a record without them goes to the
//! configured table. A batch's key starts with `<namespace>/<table>/`, so records
//! are buffered per table and each batch's key names its table.

use std::collections::BTreeMap;

use super::IcebergDestination;

/// The routing metadata key naming a record's namespace.
pub const DATABASE_KEY: &str = "destinationDatabaseName";
/// The routing metadata key naming a record's table.
pub const TABLE_KEY: &str = "destinationTableName";

/// How a stream's records name their table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRouting {
    /// The prefix of data keys: `<namespace>/<table>/`, either one a
    /// `!{partitionKeyFrom...}` expression when records may name it.
    pub prefix: String,
    /// For names taken from routing metadata by their Firehose names: the
    /// configured name a record without that metadata goes to, by partition
    /// key (`partitionKeyFromQuery:destinationTableName`, or the bare key of a
    /// plugin's).
    pub defaults: BTreeMap<String, String>,
}

impl IcebergDestination {
    /// The routing of a stream whose `metadata_extraction` query yields
    /// `query_keys` (if it has one) and which has plugins or not. A name the
    /// config writes as an expression is used as written.
    pub fn table_routing(&self, query_keys: Option<&[String]>, has_plugins: bool) -> TableRouting {
        let mut defaults = BTreeMap::new();
        let mut name = |configured: &str, key: &str| -> String {
            if configured.contains("!{") {
                return configured.to_string();
            }
            let partition = if query_keys.is_some_and(|keys| keys.iter().any(|k| k == key)) {
                format!("partitionKeyFromQuery:{key}")
            } else if has_plugins {
                key.to_string()
            } else {
                return configured.to_string();
            };
            defaults.insert(partition.clone(), configured.to_string());
            match partition.strip_prefix("partitionKeyFromQuery:") {
                Some(key) => format!("!{{partitionKeyFromQuery:{key}}}"),
                None => format!("!{{partitionKeyFromLambda:{key}}}"),
            }
        };
        let namespace = name(&self.namespace, DATABASE_KEY);
        let table = name(&self.table, TABLE_KEY);
        TableRouting {
            prefix: format!("{namespace}/{table}/"),
            defaults,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(namespace: &str, table: &str) -> IcebergDestination {
        serde_json::from_value(serde_json::json!({
            "catalog": { "type": "sql", "uri": "sqlite:///c.db", "name": "lake" },
            "warehouse": "file:///wh", "namespace": namespace, "table": table,
        }))
        .expect("destination")
    }

    #[test]
    fn routing_metadata_overrides_the_configured_names_by_their_firehose_names() {
        let d = destination("logs", "events");
        assert_eq!(d.table_routing(None, false).prefix, "logs/events/");
        assert!(d.table_routing(None, false).defaults.is_empty());
        let keys = vec![TABLE_KEY.to_string(), "other".to_string()];
        let r = d.table_routing(Some(&keys), false);
        assert_eq!(
            r.prefix,
            "logs/!{partitionKeyFromQuery:destinationTableName}/"
        );
        assert_eq!(
            r.defaults,
            BTreeMap::from([(
                "partitionKeyFromQuery:destinationTableName".to_string(),
                "events".to_string()
            )])
        );
        let r = d.table_routing(None, true);
        assert_eq!(
            r.prefix,
            "!{partitionKeyFromLambda:destinationDatabaseName}/!{partitionKeyFromLambda:destinationTableName}/"
        );
        assert_eq!(
            r.defaults.get(DATABASE_KEY).map(String::as_str),
            Some("logs")
        );
        assert_eq!(
            r.defaults.get(TABLE_KEY).map(String::as_str),
            Some("events")
        );
        // Written as an expression: used as written, no default.
        let d = destination("logs", "!{partitionKeyFromQuery:kind}");
        let keys = vec!["kind".to_string(), TABLE_KEY.to_string()];
        let r = d.table_routing(Some(&keys), false);
        assert_eq!(r.prefix, "logs/!{partitionKeyFromQuery:kind}/");
        assert!(r.defaults.is_empty());
    }
}
