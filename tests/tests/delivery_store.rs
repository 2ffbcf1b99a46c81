//! The delivery store conformance suite, on every implementation.

use std::sync::Arc;

use orchestrix::delivery::{InMemoryDeliveryStore, PostgreSQLDeliveryStore};
use orchestrix_tests::conformance::delivery_store;
use orchestrix_tests::postgres::TestStore;

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
