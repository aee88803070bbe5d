//! A local folder.

use crate::common::objects;
use crate::common::{Table, table};
use crate::{ERRORS, Target, ids_in_objects};

pub struct Local {
    root: tempfile::TempDir,
}

impl Target for Local {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn destination(&self, retry: i64, _convert: bool) -> Table {
        let out = self.root.path().join("out");
        table([
            ("type", "local".into()),
            ("path", out.display().to_string().into()),
            ("retry_duration_seconds", retry.into()),
            ("error_output_prefix", ERRORS.into()),
        ])
    }

    /// A file where the folder was: every write fails.
    fn down(&mut self) {
        let out = self.root.path().join("out");
        std::fs::create_dir_all(&out).expect("out");
        std::fs::rename(&out, self.root.path().join("away")).expect("move out away");
        std::fs::write(&out, b"not a folder").expect("file in its place");
    }

    fn up(&mut self) {
        let out = self.root.path().join("out");
        std::fs::remove_file(&out).expect("remove the file");
        std::fs::rename(self.root.path().join("away"), &out).expect("move out back");
    }

    fn objects(&self) -> Vec<(String, Vec<u8>)> {
        objects(&self.root.path().join("out"))
    }

    fn delivered(&self) -> Vec<i64> {
        ids_in_objects(&self.objects(), self.root.path())
    }
}

crate::suite!(Local);
