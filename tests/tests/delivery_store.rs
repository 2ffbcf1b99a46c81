//! The delivery store conformance suite, on every implementation.

use std::sync::Arc;

use orchestrix::delivery::{
    DeliveryStore, DeliveryStoreError, InMemoryDeliveryStore, PostgreSQLDeliveryStore,
    SqliteDeliveryStore,
};
use orchestrix::projection::ProjectionStoreError;
use orchestrix::sqlite::SqliteError;
use orchestrix_tests::conformance::delivery_store;
use orchestrix_tests::postgres::TestStore;
use orchestrix_tests::sqlite::TempDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_delivery_store_conforms() {
    delivery_store::run_all(Arc::new(InMemoryDeliveryStore::new()), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_delivery_store_conforms() {
    let Some(test) = TestStore::new("postgres_delivery_store_conforms", 8).await else {
        return;
    };
    let store = PostgreSQLDeliveryStore::from_pool_with_schema(test.pool().clone(), &test.schema)
        .expect("valid schema");
    delivery_store::run_all(Arc::new(store), "pg").await;
    test.cleanup().await;
}

/// A database whose collation follows a locale (here the column's, ICU's
/// root locale, which puts `a` before `B`) still lists parked events in
/// byte order, as the in-memory and SQLite stores do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_parked_events_are_in_byte_order_whatever_the_collation() {
    let Some(test) = TestStore::new("postgres_parked_byte_order", 2).await else {
        return;
    };
    let store = PostgreSQLDeliveryStore::from_pool_with_schema(test.pool().clone(), &test.schema)
        .expect("valid schema");
    store.initialize().await.expect("migrates");
    let statement = format!(
        "ALTER TABLE \"{}\".delivery_dead_letters ALTER COLUMN handler TYPE text COLLATE \"und-x-icu\"",
        test.schema
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(test.pool())
        .await
        .expect("the column takes a locale's collation");
    delivery_store::parked_events_are_listed_per_handler_in_position_order(&store, "icu").await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_delivery_store_conforms() {
    let store = SqliteDeliveryStore::connect("sqlite::memory:")
        .await
        .expect("opens");
    delivery_store::run_all(Arc::new(store), "sqlite-memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_delivery_store_conforms() {
    let db = TempDb::new("delivery-store");
    let store = SqliteDeliveryStore::connect(&db.url(""))
        .await
        .expect("opens");
    delivery_store::run_all(Arc::new(store), "sqlite-file").await;
    // What was stored is in the file: a second store on it sees it.
    let reopened = SqliteDeliveryStore::connect(&db.url(""))
        .await
        .expect("reopens");
    let parked = reopened.parked(None).await.expect("list");
    assert!(!parked.is_empty());
}

/// A delivery store on a file opened read-only reads, and refuses to write
/// with the typed `SqliteError::ReadOnly` behind its error; a connection
/// string that is not SQLite's is a configuration error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_delivery_store_errors_are_typed() {
    let db = TempDb::new("delivery-read-only");
    let writable = SqliteDeliveryStore::connect(&db.url(""))
        .await
        .expect("opens");
    assert!(
        writable
            .mark_processed("h", uuid::Uuid::new_v4())
            .await
            .expect("mark")
    );
    drop(writable);

    let read_only = SqliteDeliveryStore::connect(&db.url("?mode=ro"))
        .await
        .expect("an up-to-date file opens read-only");
    assert!(read_only.parked(None).await.expect("reads").is_empty());
    let error = read_only
        .mark_processed("h", uuid::Uuid::new_v4())
        .await
        .expect_err("a write on a read-only file");
    assert!(
        matches!(
            SqliteError::find(&error),
            Some(SqliteError::ReadOnly { .. })
        ),
        "{error}"
    );

    let error = SqliteDeliveryStore::connect("postgres://localhost/db")
        .await
        .expect_err("not SQLite");
    assert!(
        matches!(
            error,
            DeliveryStoreError::Checkpoints(ProjectionStoreError::Configuration(_))
        ),
        "{error}"
    );
}
