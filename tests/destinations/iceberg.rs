//! An Iceberg table (SQL catalog) with its warehouse on SeaweedFS.

use crate::common::{BUCKET, S3_ADMIN, Seaweed, py_json};
use crate::{COLUMNS, ERRORS, Target, bucket_objects, id, s3_settings};

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

    fn destination(&self, retry: u64, _convert: bool) -> String {
        format!(
            "{{ type = \"iceberg\", catalog = {{ type = \"sql\", uri = \"sqlite://{}/catalog.db\", name = \"lake\" }}, \
             warehouse = \"s3://{BUCKET}/warehouse\", {}, namespace = \"logs\", table = \"events\", \
             create_table = {{ columns = {COLUMNS} }}, retry_duration_seconds = {retry}, {ERRORS} }}",
            self.root.path().display(),
            s3_settings(&self.seaweed)
        )
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
