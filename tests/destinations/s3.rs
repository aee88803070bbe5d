//! S3, on SeaweedFS.

use crate::common::{BUCKET, Seaweed};
use crate::common::{Table, table};
use crate::{ERRORS, Target, bucket_objects, ids_in_objects, s3_settings};

pub struct S3 {
    scratch: tempfile::TempDir,
    seaweed: Seaweed,
}

impl Target for S3 {
    fn new() -> Self {
        Self {
            scratch: tempfile::tempdir().expect("tempdir"),
            seaweed: Seaweed::start(),
        }
    }

    fn destination(&self, retry: i64, _convert: bool) -> Table {
        let mut destination = table([
            ("type", "s3".into()),
            ("bucket", BUCKET.into()),
            ("retry_duration_seconds", retry.into()),
            ("error_output_prefix", ERRORS.into()),
        ]);
        destination.extend(s3_settings(&self.seaweed));
        destination
    }

    fn down(&mut self) {
        self.seaweed.kill();
    }

    fn up(&mut self) {
        self.seaweed.run();
    }

    fn objects(&self) -> Vec<(String, Vec<u8>)> {
        bucket_objects(&self.seaweed)
    }

    fn delivered(&self) -> Vec<i64> {
        ids_in_objects(&self.objects(), self.scratch.path())
    }
}

crate::suite!(S3);
