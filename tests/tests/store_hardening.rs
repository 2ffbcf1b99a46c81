//! The hardening cases (limits, read-back, time precision, raw reads,
//! `stream_version`, `ping`) on every event store: both in-memory stores
//! and PostgreSQL (needs `DATABASE_URL`).

use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};
use orchestrix_tests::conformance::BlockingStore;

orchestrix_tests::hardening_conformance!(
    in_memory_async,
    store = async { InMemoryAsyncEventStore::new() }
);

orchestrix_tests::hardening_conformance!(
    in_memory_blocking,
    store = async { BlockingStore(InMemoryEventStore::new()) }
);

async fn postgres() -> Option<PostgreSQLEventStore> {
    orchestrix_tests::postgres::shared_schema_store("store_hardening", "t_hardening").await
}

orchestrix_tests::hardening_conformance!(postgres, optional_store = postgres());

orchestrix_tests::hardening_conformance!(
    sqlite,
    store = async {
        orchestrix::store::sqlite::SqliteEventStore::connect("sqlite::memory:")
            .await
            .expect("a memory database opens")
    }
);
