//! Opening the table's catalog (SQL or REST), with the warehouse's storage: the same S3
//! connection settings and credentials as the S3 destination, or a local folder.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::{S3_ACCESS_KEY_ID, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION};
use iceberg::io::{S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN};
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_rest::{
    REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE, RestCatalogBuilder,
};
use iceberg_catalog_sql::SqlCatalogBuilder;
use iceberg_storage_opendal::OpenDalStorageFactory;

use super::config::{CatalogConfig, IcebergDestination, Warehouse};

/// Connects to the catalog (a SQLite database is created if missing).
pub async fn open(config: &IcebergDestination) -> Result<Arc<dyn Catalog>, String> {
    let warehouse = config.warehouse()?;
    let location = config.warehouse_location()?;
    let (storage, props) = match warehouse {
        Warehouse::S3 { .. } => (
            OpenDalStorageFactory::S3 {
                customized_credential_load: None,
            },
            s3_props(config)?,
        ),
        Warehouse::Local(path) => {
            std::fs::create_dir_all(&path).map_err(|e| {
                format!("cannot create the warehouse folder {}: {e}", path.display())
            })?;
            (OpenDalStorageFactory::Fs, HashMap::new())
        }
    };
    match &config.catalog {
        CatalogConfig::Sql { uri, name } => {
            let catalog = SqlCatalogBuilder::default()
                .uri(sqlite_uri(uri)?)
                .warehouse_location(location)
                .props(props)
                .with_storage_factory(Arc::new(storage))
                .load(name.clone(), HashMap::new())
                .await
                .map_err(|e| format!("cannot open the SQL catalog {uri}: {e}"))?;
            Ok(Arc::new(catalog))
        }
        CatalogConfig::Rest {
            uri,
            name,
            warehouse,
            token,
            credential,
            oauth2_server_uri,
            scope,
        } => {
            let mut props = props;
            props.insert(REST_CATALOG_PROP_URI.to_string(), uri.clone());
            props.insert(
                REST_CATALOG_PROP_WAREHOUSE.to_string(),
                warehouse.clone().unwrap_or(location),
            );
            let optional = [
                ("token", token.as_ref().map(|t| t.expose().to_string())),
                (
                    "credential",
                    credential.as_ref().map(|c| c.expose().to_string()),
                ),
                ("oauth2-server-uri", oauth2_server_uri.clone()),
                ("scope", scope.clone()),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    props.insert(key.to_string(), value);
                }
            }
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(Arc::new(storage))
                .load(name.clone(), props)
                .await
                .map_err(|e| format!("cannot open the REST catalog {uri}: {e}"))?;
            Ok(Arc::new(catalog))
        }
    }
}

/// The S3 settings of the warehouse's file IO; keys from the settings or a
/// profile, else the AWS environment variables (read by the file IO itself).
fn s3_props(config: &IcebergDestination) -> Result<HashMap<String, String>, String> {
    let aws = &config.aws;
    let mut props = HashMap::from([(S3_REGION.to_string(), aws.region())]);
    if let Some(endpoint) = &aws.endpoint {
        props.insert(S3_ENDPOINT.to_string(), endpoint.clone());
        props.insert(S3_PATH_STYLE_ACCESS.to_string(), "true".to_string());
    }
    if let Some(keys) = aws.static_keys()? {
        props.insert(S3_ACCESS_KEY_ID.to_string(), keys.access_key_id);
        props.insert(
            S3_SECRET_ACCESS_KEY.to_string(),
            keys.secret_access_key.expose().to_string(),
        );
        if let Some(token) = keys.session_token {
            props.insert(S3_SESSION_TOKEN.to_string(), token.expose().to_string());
        }
    }
    Ok(props)
}

/// The database URI for sqlx: the file is created when missing, and its folder
/// too.
fn sqlite_uri(uri: &str) -> Result<String, String> {
    let path = uri
        .strip_prefix("sqlite://")
        .or_else(|| uri.strip_prefix("sqlite:"))
        .unwrap_or(uri);
    let file = path.split('?').next().unwrap_or(path);
    if let Some(parent) = std::path::Path::new(file).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            format!(
                "cannot create the catalog's folder {}: {e}",
                parent.display()
            )
        })?;
    }
    Ok(if path.contains('?') {
        format!("sqlite://{path}")
    } else {
        format!("sqlite://{path}?mode=rwc")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_uris_create_the_database_unless_told_otherwise() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("sub/catalog.db");
        let uri = format!("sqlite://{}", db.display());
        assert_eq!(
            sqlite_uri(&uri).expect("a uri"),
            format!("sqlite://{}?mode=rwc", db.display())
        );
        assert!(db.parent().expect("a folder").is_dir());
        assert_eq!(
            sqlite_uri("sqlite:///x/c.db?mode=ro").expect("a uri"),
            "sqlite:///x/c.db?mode=ro"
        );
    }
}
