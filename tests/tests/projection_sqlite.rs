//! Projections on SQLite: the state store conformance suite (memory and
//! file), and the projection engine following a SQLite event store (catch-up
//! then live, restart, two runners on two pools of one file, as two
//! processes have, 8 concurrent writers) with its checkpoints in the same
//! file.

use std::sync::Arc;

use orchestrix::projection::{ProjectionStateStore, SqliteProjectionStateStore};
use orchestrix::sqlite::{SqliteError, SqliteOptions, connect_pool};
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_tests::conformance::projection_state_store;
use orchestrix_tests::projection_scenarios::*;
use orchestrix_tests::sqlite::TempDb;

/// An event store and a projection state store sharing one pool on `file`.
async fn stores(file: &TempDb) -> (SqliteEventStore, SqliteProjectionStateStore) {
    let pool = connect_pool(&SqliteOptions::new(file.url("")).expect("valid"))
        .await
        .expect("opens");
    let events = SqliteEventStore::from_pool(pool.clone());
    events
        .initialize()
        .await
        .expect("the event schema migrates");
    let states = SqliteProjectionStateStore::from_pool(pool);
    states
        .initialize()
        .await
        .expect("the projection schema migrates");
    (events, states)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_state_store_conforms() {
    let store = SqliteProjectionStateStore::connect("sqlite::memory:")
        .await
        .expect("opens");
    projection_state_store::run_all(Arc::new(store), "sqlite-memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_state_store_conforms() {
    let file = TempDb::new("projection-conformance");
    let store = SqliteProjectionStateStore::connect(&file.url(""))
        .await
        .expect("opens");
    projection_state_store::run_all(Arc::new(store), "sqlite-file").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_two_pools_of_one_file_share_the_lease() {
    // Two pools on one file are what two processes have: the lease one
    // takes is seen, and refused to the other, by the file alone.
    let file = TempDb::new("projection-two-pools");
    let first = SqliteProjectionStateStore::connect(&file.url(""))
        .await
        .expect("opens");
    let second = SqliteProjectionStateStore::connect(&file.url(""))
        .await
        .expect("opens");
    let ttl = std::time::Duration::from_secs(30);
    assert_eq!(
        first
            .acquire_lease("totals", "first", ttl)
            .await
            .expect("acquire"),
        orchestrix::projection::LeaseOutcome::Acquired
    );
    match second
        .acquire_lease("totals", "second", ttl)
        .await
        .expect("acquire")
    {
        orchestrix::projection::LeaseOutcome::Held { owner, .. } => assert_eq!(owner, "first"),
        other => panic!("expected Held, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_then_live_on_sqlite() {
    let file = TempDb::new("projection-live");
    let (events, states) = stores(&file).await;
    catch_up_then_live(Arc::new(events), states).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_sqlite_resumes_at_the_checkpoint_without_reapplying() {
    let file = TempDb::new("projection-restart");
    let (events, states) = stores(&file).await;
    restart_resumes_at_the_checkpoint_without_reapplying(Arc::new(events), states).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_on_two_pools_of_one_file_apply_every_event_once() {
    let file = TempDb::new("projection-two-runners");
    let (events, first) = stores(&file).await;
    let (_, second) = stores(&file).await;
    two_runners_apply_every_event_once(Arc::new(events), first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_with_a_live_projection_on_sqlite() {
    let file = TempDb::new("projection-writers");
    let (events, states) = stores(&file).await;
    eight_concurrent_writers_with_a_live_projection_on(Arc::new(events), states, 50).await;
}

#[tokio::test]
async fn a_read_only_file_gives_a_typed_error_on_save() {
    let file = TempDb::new("projection-read-only");
    let (_, states) = stores(&file).await;
    drop(states);
    let read_only = SqliteProjectionStateStore::connect(&file.url("?mode=ro"))
        .await
        .expect("an up-to-date file opens read-only");
    let mut state = orchestrix::projection::ProjectionState::new("totals");
    state.position = 3;
    let error = read_only
        .save(&state, "owner")
        .await
        .expect_err("a read-only file refuses the write");
    assert!(
        matches!(
            SqliteError::find(&error),
            Some(SqliteError::ReadOnly { .. })
        ),
        "{error}"
    );
}
