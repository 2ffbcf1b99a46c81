//! SQLite test support: a fresh database file per test, removed (with its
//! `-wal` and `-shm` files) when the test is done.

use std::path::{Path, PathBuf};

/// A database file in a fresh directory under the system's temp dir; the
/// directory goes when this is dropped.
#[derive(Debug)]
pub struct TempDb {
    dir: PathBuf,
    path: PathBuf,
}

impl TempDb {
    /// A fresh, not yet existing, database path; `label` names the test.
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "orchestrix-sqlite-{label}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("events.db");
        Self { dir, path }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `sqlite://<path>`, plus `query` (e.g. `?mode=ro`) if not empty.
    pub fn url(&self, query: &str) -> String {
        format!("sqlite://{}{query}", self.path.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
