//! `wait_for_append` on SQLite: an append wakes a follower of the same
//! store at once (by its signal: the follower does not poll in time), and
//! of another store on the same file (as another process would be) through
//! its polling of the last position; never by `max_wait`.

use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_tests::conformance::ConformanceEvent;
use orchestrix_tests::sqlite::TempDb;

/// Far beyond the test's timeout: a follower that returns in time was woken
/// by the append.
const MAX_WAIT: Duration = Duration::from_secs(60);
const TEST_TIMEOUT: Duration = Duration::from_secs(10);

async fn open(db: &TempDb) -> SqliteEventStore {
    SqliteEventStore::connect(&db.url(""))
        .await
        .expect("the file opens and migrates")
}

/// Starts a follower waiting past position 1 on `follower`, appends through
/// `writer`, and expects the follower back well before `MAX_WAIT`.
async fn append_wakes(follower: &SqliteEventStore, writer: &SqliteEventStore) {
    writer
        .save("first", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    let waiting = follower.clone();
    let waiter = tokio::spawn(async move { waiting.wait_for_append(1, MAX_WAIT).await });
    tokio::task::yield_now().await;
    assert!(
        !waiter.is_finished(),
        "nothing after position 1 yet: the follower must still wait"
    );
    let appended = writer
        .save("second", &[ConformanceEvent::envelope(1, 2)], Some(0))
        .await
        .expect("save");
    assert_eq!(appended.positions, [2]);
    tokio::time::timeout(TEST_TIMEOUT, waiter)
        .await
        .expect("the append wakes the follower long before max_wait")
        .expect("the waiter runs")
        .expect("waiting reads the file");
    let page = follower.read_all(2, 10).await.expect("read");
    assert_eq!(page.len(), 1, "the follower reads what woke it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_wakes_a_follower_of_the_same_store() {
    let db = TempDb::new("wait-same");
    // Polls too rarely to matter: only the append's own signal can wake it.
    let store = open(&db).await.with_append_poll_interval(MAX_WAIT);
    append_wakes(&store, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_by_another_store_on_the_file_wakes_a_follower() {
    let db = TempDb::new("wait-other");
    let (follower, writer) = (open(&db).await, open(&db).await);
    append_wakes(&follower, &writer).await;
}

#[tokio::test]
async fn a_wait_for_a_position_already_there_returns_at_once() {
    let store = SqliteEventStore::connect("sqlite::memory:")
        .await
        .expect("a memory database opens");
    store
        .save("first", &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("save");
    tokio::time::timeout(TEST_TIMEOUT, store.wait_for_append(0, MAX_WAIT))
        .await
        .expect("position 1 is already past 0")
        .expect("waiting reads the database");
}
