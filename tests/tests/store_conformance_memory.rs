//! The event-store conformance suite against both in-memory stores.

use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};
use orchestrix_tests::conformance::BlockingStore;

orchestrix_tests::event_store_conformance!(
    in_memory_async,
    store = async { InMemoryAsyncEventStore::new() }
);

orchestrix_tests::event_store_conformance!(
    in_memory_blocking,
    store = async { BlockingStore(InMemoryEventStore::new()) }
);

/// A follower of the in-memory store waits for an append (up to its
/// `max_wait`) instead of returning at once and reading again in a loop.
#[tokio::test(start_paused = true)]
async fn a_follower_of_the_in_memory_store_waits_for_an_append() {
    use std::sync::Arc;
    use std::time::Duration;

    use orchestrix::prelude::*;
    use orchestrix::store::AsyncEventStore;
    use orchestrix_tests::conformance::ConformanceEvent;

    let store = Arc::new(InMemoryAsyncEventStore::new());
    let started = tokio::time::Instant::now();
    store
        .wait_for_append(0, Duration::from_secs(5))
        .await
        .expect("wait");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(5),
        "nothing appended"
    );

    let waiter = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.wait_for_append(0, Duration::from_secs(3600)).await })
    };
    tokio::task::yield_now().await;
    let started = tokio::time::Instant::now();
    store
        .save("follow-1", &[ConformanceEvent::envelope(1, 1)], None)
        .await
        .expect("append");
    waiter.await.expect("task").expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "woken by the append"
    );
}
