//! The event-store conformance suite against PostgreSQL (needs
//! `DATABASE_URL`; skipped with a notice without it, failing when `CI` is
//! set).
//!
//! Every case connects its own small pool to one shared schema, which also
//! exercises `initialize()` running concurrently from many callers.

use orchestrix::postgres::PostgresOptions;
use orchestrix::store::postgres::PostgreSQLEventStore;

async fn store() -> Option<PostgreSQLEventStore> {
    let url = orchestrix_tests::postgres::database_url("store_conformance_postgres")?;
    let options = PostgresOptions::builder(url)
        .pool_min_size(0)
        .pool_max_size(6)
        .schema("t_conformance")
        .build()
        .expect("valid options");
    let store = PostgreSQLEventStore::connect_with(options)
        .await
        .expect("the test database answers");
    store.initialize().await.expect("the schema migrates");
    Some(store)
}

orchestrix_tests::event_store_conformance!(postgres, optional_store = store());
