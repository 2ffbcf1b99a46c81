//! The projection state store conformance suite on every implementation.

use std::sync::Arc;

use orchestrix::projection::InMemoryProjectionStateStore;
use orchestrix_tests::conformance::projection_state_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_conforms() {
    projection_state_store::run_all(Arc::new(InMemoryProjectionStateStore::new()), "memory").await;
}
