//! The hardening cases (limits, read-back, time precision, raw reads,
//! `stream_version`, `ping`) on every event store: both in-memory stores
//! and PostgreSQL (needs `DATABASE_URL`).

use orchestrix::postgres::PostgresOptions;
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
    let url = orchestrix_tests::postgres::database_url("store_hardening")?;
    let options = PostgresOptions::builder(url)
        .pool_min_size(0)
        .pool_max_size(4)
        .schema("t_hardening")
        .build()
        .expect("valid options");
    let store = PostgreSQLEventStore::connect_with(options)
        .await
        .expect("the test database answers");
    store.initialize().await.expect("the schema migrates");
    Some(store)
}

orchestrix_tests::hardening_conformance!(postgres, optional_store = postgres());
