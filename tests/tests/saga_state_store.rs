//! The saga state store conformance suite on every implementation.

use std::sync::Arc;

use orchestrix::saga::InMemorySagaStateStore;
use orchestrix_tests::conformance::saga_state_store;

#[tokio::test]
async fn in_memory_store_conforms() {
    saga_state_store::run_all(Arc::new(InMemorySagaStateStore::new()), "memory").await;
}
