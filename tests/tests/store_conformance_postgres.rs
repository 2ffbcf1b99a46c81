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

/// A store that also writes the typed metadata columns
/// (`write_typed_metadata_columns`, for a rolling upgrade from version 3
/// or earlier), in a schema of its own: the opt-in keeps every promise.
async fn store_writing_typed_columns() -> Option<PostgreSQLEventStore> {
    let store = orchestrix_tests::postgres::shared_schema_store(
        "store_conformance_postgres",
        "t_conformance_typed",
    )
    .await?;
    Some(store.write_typed_metadata_columns(true))
}

orchestrix_tests::event_store_conformance!(
    postgres_typed_columns,
    optional_store = store_writing_typed_columns()
);
