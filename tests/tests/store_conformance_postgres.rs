//! The event-store conformance suite against PostgreSQL (needs
//! `DATABASE_URL`; skipped with a notice without it, failing when `CI` is
//! set).
//!
//! Every case connects its own small pool to one shared schema, which also
//! exercises `initialize()` running concurrently from many callers.

use orchestrix::store::postgres::PostgreSQLEventStore;

async fn store() -> Option<PostgreSQLEventStore> {
    orchestrix_tests::postgres::shared_schema_store("store_conformance_postgres", "t_conformance")
        .await
}

orchestrix_tests::event_store_conformance!(postgres, optional_store = store());
