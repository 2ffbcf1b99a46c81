//! Following the global stream of the in-memory async store: an append
//! wakes a waiting follower at once, not after `max_wait`.

use std::time::{Duration, Instant};

use orchestrix::store::{AsyncEventStore, InMemoryAsyncEventStore};
use orchestrix_tests::conformance::ConformanceEvent;

/// Far longer than the test may take: a follower that returns before it was
/// woken by the append, not by the timeout.
const LONG_WAIT: Duration = Duration::from_secs(60);
const TEST_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "current_thread")]
async fn an_append_wakes_a_waiting_follower() {
    let store = InMemoryAsyncEventStore::new();
    store
        .save("s", &[ConformanceEvent::envelope(1, 1)], None)
        .await
        .expect("append");

    let follower = tokio::spawn({
        let store = store.clone();
        async move { store.wait_for_append(1, LONG_WAIT).await }
    });
    // On a current-thread runtime the spawned follower runs when this task
    // yields; it then parks waiting for position 2.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        !follower.is_finished(),
        "nothing was appended after position 1 yet"
    );

    let started = Instant::now();
    store
        .save("s", &[ConformanceEvent::envelope(1, 2)], None)
        .await
        .expect("append");
    tokio::time::timeout(TEST_TIMEOUT, follower)
        .await
        .expect("the append woke the follower before the test timeout")
        .expect("follower task")
        .expect("wait_for_append");
    assert!(started.elapsed() < LONG_WAIT);
}

#[tokio::test(flavor = "current_thread")]
async fn waiting_behind_the_head_returns_at_once() {
    let store = InMemoryAsyncEventStore::new();
    store
        .save("s", &[ConformanceEvent::envelope(1, 1)], None)
        .await
        .expect("append");
    tokio::time::timeout(TEST_TIMEOUT, store.wait_for_append(0, LONG_WAIT))
        .await
        .expect("position 1 is already past 0")
        .expect("wait_for_append");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_an_append_the_wait_ends_at_max_wait() {
    let store = InMemoryAsyncEventStore::new();
    let started = tokio::time::Instant::now();
    store
        .wait_for_append(0, Duration::from_secs(5))
        .await
        .expect("wait_for_append");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(5),
        "paused clock: exactly max_wait"
    );
}
