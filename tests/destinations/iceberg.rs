//! An Iceberg table (SQL catalog) with its warehouse on SeaweedFS.

use crate::common::{BUCKET, S3_ADMIN, Seaweed, py_json};
use crate::common::{Table, table};
use crate::{ERRORS, Target, bucket_objects, columns, id, s3_settings};

pub struct Iceberg {
    root: tempfile::TempDir,
    seaweed: Seaweed,
}

impl Target for Iceberg {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("tempdir"),
            seaweed: Seaweed::start(),
        }
    }

    fn destination(&self, retry: i64, _convert: bool) -> Table {
        let mut destination = table([
            ("type", "iceberg".into()),
            (
                "catalog",
                toml::Value::Table(table([
                    ("type", "sql".into()),
                    (
                        "uri",
                        format!("sqlite://{}/catalog.db", self.root.path().display()).into(),
                    ),
                    ("name", "lake".into()),
                ])),
            ),
            ("warehouse", format!("s3://{BUCKET}/warehouse").into()),
            ("namespace", "logs".into()),
            ("table", "events".into()),
            (
                "create_table",
                toml::Value::Table(table([("columns", columns())])),
            ),
            ("retry_duration_seconds", retry.into()),
            ("error_output_prefix", ERRORS.into()),
        ]);
        destination.extend(s3_settings(&self.seaweed));
        destination
    }

    fn takes_format(&self) -> bool {
        false
    }

    fn down(&mut self) {
        self.seaweed.kill();
    }

    fn up(&mut self) {
        self.seaweed.run();
    }

    /// The warehouse's bucket, where the error output lands too.
    fn objects(&self) -> Vec<(String, Vec<u8>)> {
        bucket_objects(&self.seaweed)
    }

    fn delivered(&self) -> Vec<i64> {
        let db = self.root.path().join("catalog.db");
        let warehouse = format!("s3://{BUCKET}/warehouse");
        let table = py_json(
            "read_iceberg.py",
            &[
                db.to_str().expect("path"),
                "lake",
                &warehouse,
                "logs.events",
                &self.seaweed.endpoint,
                S3_ADMIN.0,
                S3_ADMIN.1,
                "--missing-ok",
            ],
        );
        let mut ids: Vec<i64> = table["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The catalog exists only after the first delivery.
    fn readable(&self) -> bool {
        self.root.path().join("catalog.db").exists()
    }
}

crate::suite!(Iceberg);
