//! The delivery store conformance suite, on every implementation.

use std::sync::Arc;

use orchestrix::delivery::{InMemoryDeliveryStore, PostgreSQLDeliveryStore, SqliteDeliveryStore};
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
    let parked = orchestrix::delivery::DeliveryStore::parked(&reopened, None)
        .await
        .expect("list");
    assert!(!parked.is_empty());
}
