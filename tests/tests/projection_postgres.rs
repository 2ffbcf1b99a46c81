//! Projections on PostgreSQL: the state store conformance suite, catch-up
//! then live on the PostgreSQL event store, a restart, and two runners on
//! two connection pools (as two processes have).

use std::sync::Arc;

use orchestrix::projection::{PostgreSQLProjectionStateStore, ProjectionStateStore};
use orchestrix_tests::conformance::projection_state_store;
use orchestrix_tests::postgres::{TestStore, pool};
use orchestrix_tests::projection_scenarios::*;

/// A projection state store in the test store's schema, on its own pool of
/// at most `connections`.
async fn state_store(test: &TestStore, connections: u32) -> PostgreSQLProjectionStateStore {
    let states = PostgreSQLProjectionStateStore::from_pool_with_schema(
        pool(&test.url, connections).await,
        &test.schema,
    )
    .expect("valid schema");
    states
        .initialize()
        .await
        .expect("the projection schema migrates");
    states
}

#[tokio::test]
async fn postgres_state_store_conforms() {
    let Some(test) = TestStore::new("postgres_state_store_conforms", 4).await else {
        return;
    };
    projection_state_store::run_all(Arc::new(state_store(&test, 8).await), "pg").await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_then_live_on_postgres() {
    let Some(test) = TestStore::new("catch_up_then_live_on_postgres", 4).await else {
        return;
    };
    let states = state_store(&test, 2).await;
    catch_up_then_live(Arc::new(test.store.clone()), states).await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_on_two_pools_apply_every_event_once() {
    let Some(test) = TestStore::new("two_runners_on_two_pools_apply_every_event_once", 4).await
    else {
        return;
    };
    let first = state_store(&test, 2).await;
    let second = state_store(&test, 2).await;
    two_runners_apply_every_event_once(Arc::new(test.store.clone()), first, second).await;
    test.cleanup().await;
}
