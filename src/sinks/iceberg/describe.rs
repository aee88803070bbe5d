//! How `DescribeDeliveryStream` shows an Iceberg destination.

use serde_json::{Value, json};

use super::{CatalogConfig, IcebergDestination};

impl IcebergDestination {
    /// Firehose's `IcebergDestinationDescription`: the table and the tables with
    /// settings of their own as destination table configurations, the catalog as
    /// a `sluice` ARN.
    pub fn table_description(&self, processing: Value, mut s3: Value) -> Value {
        let (kind, uri) = match &self.catalog {
            CatalogConfig::Sql { uri, .. } => ("sql", uri),
            CatalogConfig::Rest { uri, .. } => ("rest", uri),
        };
        let name = self.catalog.name();
        s3["S3BackupMode"] = json!("Disabled");
        // The configured table (or routing expression), then each table with
        // settings of its own.
        let mut tables = vec![json!({
            "DestinationDatabaseName": self.namespace,
            "DestinationTableName": self.table,
            "UniqueKeys": [],
            "S3ErrorOutputPrefix": self.error_output_prefix,
        })];
        for t in &self.tables {
            tables.push(json!({
                "DestinationDatabaseName": t.namespace,
                "DestinationTableName": t.table,
                "UniqueKeys": t.unique_keys,
                "S3ErrorOutputPrefix": t.error_output_prefix.as_deref().unwrap_or(&self.error_output_prefix),
            }));
        }
        json!({
            "DestinationTableConfigurationList": tables,
            "SchemaEvolutionConfiguration": { "Enabled": self.schema_evolution },
            "TableCreationConfiguration": { "Enabled": self.create_table.is_some() },
            "BufferingHints": s3["BufferingHints"].clone(),
            "ProcessingConfiguration": processing,
            "S3BackupMode": "FailedDataOnly",
            "RetryOptions": { "DurationInSeconds": self.retry_duration_seconds },
            "RoleARN": "arn:aws:iam::000000000000:role/sluice",
            "AppendOnly": true,
            "CatalogConfiguration": {
                "CatalogARN": format!("arn:sluice:iceberg:::catalog/{kind}/{name}"),
                "CatalogURI": uri,
                "WarehouseLocation": self.warehouse_location().unwrap_or_default(),
            },
            "S3DestinationDescription": s3,
        })
    }
}
