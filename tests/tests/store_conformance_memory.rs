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

/// The in-memory store keeps metadata compactly and builds it back: every
/// read (a stream, a range, the global stream, a filtered page) gives
/// metadata equal to what was saved, to the offset of its time, whether it
/// was compact (the defaults, the stream's id as subject, a cause, another
/// source) or kept whole (another type, subject or schema); and the message
/// is the very `Arc` that was saved.
#[test]
fn every_read_gives_back_the_saved_metadata_and_message() {
    use orchestrix::message::Metadata;
    use orchestrix::prelude::*;
    use orchestrix::store::{EventStore, EventTypeFilter};
    use orchestrix_tests::conformance::ConformanceEvent;

    let store = InMemoryEventStore::new();
    let cause = Metadata::new("PlaceOrder");
    let event = |seq: u32, metadata: Metadata| -> AnyEnvelope {
        Envelope::with_metadata(ConformanceEvent { writer: 1, seq }, metadata).into()
    };
    let fresh = || Metadata::new("orchestrix.conformance.Event");
    let saved = vec![
        event(1, fresh()),
        event(2, fresh().with_subject("order-7").caused_by(&cause)),
        event(
            3,
            Metadata {
                time: fresh().time.to_offset(time::macros::offset!(-3:00)),
                datacontenttype: None,
                ..fresh()
            },
        ),
        event(4, fresh().with_source("urn:elsewhere").caused_by(&cause)),
        event(5, fresh().with_subject("order-8")),
        event(6, fresh().with_dataschema("urn:schema:1")),
        // A type other than the message's name: only an envelope built from
        // its parts says so (`Envelope::with_metadata` sets the name).
        AnyEnvelope::from_parts(
            std::sync::Arc::new(ConformanceEvent { writer: 1, seq: 7 }),
            std::sync::Arc::new(Metadata::new("orchestrix.conformance.Former")),
        ),
        event(8, fresh().with_source("urn:elsewhere")),
    ];
    store
        .save("other", &[event(0, fresh())], None)
        .expect("save");
    // Saved one by one and in a batch: both paths keep the same way.
    store.save("order-7", &saved[..2], Some(0)).expect("save");
    store.save("order-7", &saved[2..], Some(2)).expect("save");

    let filter = EventTypeFilter::only(["orchestrix.conformance.Event"]);
    let reads = [
        store.load("order-7", 0).expect("load"),
        store.load_range("order-7", 1, 8).expect("range"),
        store.read_all(2, 100).expect("read_all"),
        store
            .read_all_filtered(2, 100, &filter)
            .expect("filtered")
            .events,
    ];
    for read in reads {
        assert_eq!(read.len(), saved.len());
        for (index, (recorded, saved)) in read.iter().zip(&saved).enumerate() {
            assert_eq!(recorded.metadata(), saved.metadata(), "event {index}");
            assert_eq!(
                recorded.metadata().time.offset(),
                saved.metadata().time.offset()
            );
            assert!(
                std::sync::Arc::ptr_eq(recorded.envelope.message_arc(), saved.message_arc()),
                "event {index}: the saved message itself"
            );
            assert_eq!(recorded.version, index as u64 + 1);
            assert_eq!(recorded.position, index as u64 + 2);
            assert_eq!(&*recorded.stream_id, "order-7");
        }
    }
}

/// Saves made while no follower waits do not publish the head, so a
/// follower that starts waiting later must still see them: it returns at
/// once for a position already appended, and waits for the next one.
#[tokio::test(start_paused = true)]
async fn a_follower_sees_appends_made_while_nobody_waited() {
    use std::sync::Arc;
    use std::time::Duration;

    use orchestrix::store::AsyncEventStore;
    use orchestrix_tests::conformance::ConformanceEvent;

    let store = Arc::new(InMemoryAsyncEventStore::new());
    for seq in 1..=3 {
        store
            .save("quiet-1", &[ConformanceEvent::envelope(1, seq)], None)
            .await
            .expect("append");
    }
    let started = tokio::time::Instant::now();
    for after in 0..3 {
        store
            .wait_for_append(after, Duration::from_secs(3600))
            .await
            .expect("wait");
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "already appended");

    store
        .wait_for_append(3, Duration::from_secs(5))
        .await
        .expect("wait");
    assert_eq!(started.elapsed(), Duration::from_secs(5), "nothing newer");

    // Another quiet append, then a follower waiting past it: woken by the
    // append after, not before.
    store
        .save("quiet-1", &[ConformanceEvent::envelope(1, 4)], None)
        .await
        .expect("append");
    let waiter = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.wait_for_append(4, Duration::from_secs(3600)).await })
    };
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "position 4 is not past 4");
    let started = tokio::time::Instant::now();
    store
        .save("quiet-2", &[ConformanceEvent::envelope(2, 1)], None)
        .await
        .expect("append");
    waiter.await.expect("task").expect("wait");
    assert_eq!(started.elapsed(), Duration::ZERO, "woken by the append");
}

/// Followers waiting for positions while writers on other threads save
/// (one event per save, released together with the followers once each
/// follower found its position missing) all return,
/// each seeing its position in the log: no append slips between a
/// follower's look at the head and its subscription. The timeout only
/// bounds a failure; nothing here is timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_waiting_while_writers_save_on_other_threads_all_return() {
    use std::sync::Arc;
    use std::time::Duration;

    use orchestrix::store::AsyncEventStore;
    use orchestrix_tests::conformance::ConformanceEvent;
    use tokio::sync::Barrier;

    const WRITERS: u32 = 4;
    const SAVES: u32 = 250;
    const FOLLOWERS: u64 = 8;
    let last = u64::from(WRITERS * SAVES);

    let store = Arc::new(InMemoryAsyncEventStore::new());
    let start = Arc::new(Barrier::new((WRITERS as usize) + (FOLLOWERS as usize)));
    let mut followers = Vec::new();
    for follower in 1..=FOLLOWERS {
        // Positions spread over the run, the last one among them.
        let wanted = last * follower / FOLLOWERS;
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        followers.push(tokio::spawn(async move {
            // Every follower has found its position missing before any
            // writer starts: the saves overlap its wait.
            let before = store.read_all(wanted, 1).await.expect("read").len();
            start.wait().await;
            assert_eq!(before, 0, "nothing written yet");
            store
                .wait_for_append(wanted - 1, Duration::from_secs(3600))
                .await
                .expect("wait");
            store.read_all(wanted, 1).await.expect("read").len()
        }));
    }
    let mut writers = Vec::new();
    for writer in 1..=WRITERS {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        writers.push(tokio::spawn(async move {
            start.wait().await;
            for seq in 1..=SAVES {
                store
                    .save(
                        &format!("racing-{writer}"),
                        &[ConformanceEvent::envelope(writer, seq)],
                        None,
                    )
                    .await
                    .expect("append");
            }
        }));
    }
    let all = async {
        for writer in writers {
            writer.await.expect("writer");
        }
        let mut seen = Vec::new();
        for follower in followers {
            seen.push(follower.await.expect("follower"));
        }
        seen
    };
    let seen = tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("every follower returned");
    assert_eq!(seen, vec![1; FOLLOWERS as usize], "each saw its position");
    assert_eq!(
        store.read_all(1, usize::MAX).await.expect("read").len() as u64,
        last
    );
}
