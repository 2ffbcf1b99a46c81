//! The event-store conformance suite on SQLite: once on a private memory
//! database per case, once on one file shared by every case, each case with
//! its own pool (so the cases' connections contend for the file's write
//! lock as separate processes would).

use std::sync::OnceLock;

use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_tests::sqlite::TempDb;

orchestrix_tests::event_store_conformance!(
    sqlite_memory,
    store = async {
        SqliteEventStore::connect("sqlite::memory:")
            .await
            .expect("a memory database opens")
    }
);

/// The file every case of `sqlite_file` shares (left in the temp dir: the
/// cases end in any order).
fn shared_file() -> &'static TempDb {
    static FILE: OnceLock<TempDb> = OnceLock::new();
    FILE.get_or_init(|| TempDb::new("conformance"))
}

orchestrix_tests::event_store_conformance!(
    sqlite_file,
    store = async {
        SqliteEventStore::connect(&shared_file().url(""))
            .await
            .expect("the file opens and migrates")
    }
);
