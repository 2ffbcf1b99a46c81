//! The event-store conformance suite on SQLite: once on a private memory
//! database per case, once on one file shared by every case, each case with
//! its own pool (so the cases' connections contend for the file's write
//! lock as separate processes would).

use std::sync::OnceLock;

use orchestrix::store::sqlite::SqliteEventStore;

orchestrix_tests::event_store_conformance!(
    sqlite_memory,
    store = async {
        SqliteEventStore::connect("sqlite::memory:")
            .await
            .expect("a memory database opens")
    }
);

/// The URL of the file every case of `sqlite_file` shares. The cases end in
/// any order, so no case can remove it: it is left in cargo's scratch
/// directory for integration tests (under `target/`).
fn shared_file() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        format!(
            "sqlite://{}/sqlite-conformance-{}.db",
            env!("CARGO_TARGET_TMPDIR"),
            uuid::Uuid::new_v4().simple()
        )
    })
}

orchestrix_tests::event_store_conformance!(
    sqlite_file,
    store = async {
        SqliteEventStore::connect(shared_file())
            .await
            .expect("the file opens and migrates")
    }
);
