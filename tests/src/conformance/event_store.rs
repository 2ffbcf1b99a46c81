//! The event-store conformance suite: every [`AsyncEventStore`] (and, through
//! [`BlockingStore`](super::BlockingStore), every blocking
//! [`EventStore`](orchestrix::store::EventStore)) must pass these cases.
//!
//! # Running it for a new store
//!
//! In an integration test file of this package (`tests/tests/<name>.rs`),
//! call [`event_store_conformance!`](crate::event_store_conformance) with a
//! module name and an `async` block that builds a fresh store; it generates
//! one `#[tokio::test]` per case (multi-threaded runtime), so a failure
//! names the case:
//!
//! ```ignore
//! use orchestrix::store::InMemoryAsyncEventStore;
//!
//! orchestrix_tests::event_store_conformance!(in_memory_async, store = async {
//!     InMemoryAsyncEventStore::new()
//! });
//! ```
//!
//! A store that needs a server can make the block return an `Option`
//! (`None` = skip the case, e.g. when `DATABASE_URL` is unset; print the
//! skip notice in the block):
//!
//! ```ignore
//! orchestrix_tests::event_store_conformance!(postgres, optional_store = async {
//!     my_support::connect_or_skip().await // Option<PostgreSQLEventStore>
//! });
//! ```
//!
//! Each case writes only to streams with fresh unique ids
//! ([`unique_stream_id`]), so the cases can share one store (one database)
//! and run in parallel and repeatedly. They do not assume the global log
//! starts empty or that positions have no gaps; they do assume that a
//! committed event's position is visible to `read_all` once `save` returned.
//!
//! The cases are also plain `pub async fn`s taking an `Arc` of the store,
//! for callers that want to drive them by hand. Every case lists the rules
//! it checks.

use std::collections::BTreeSet;
use std::sync::Arc;

use orchestrix::error::ConcurrencyError;
use orchestrix::limits::stored_precision;
use orchestrix::message::{Envelope, Message, Metadata};
use orchestrix::store::{
    AsyncEventStore, EventTypeFilter, GlobalPage, RecordedEvent, Snapshot, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::Barrier;

use super::fixtures::{ConformanceEvent, OtherConformanceEvent, unique_stream_id};

/// The names of every case, in the order the macro generates them.
pub const CASES: &[&str] = &[
    "versions_start_at_one_and_events_round_trip",
    "unknown_stream_is_empty",
    "no_expected_version_appends_at_any_version",
    "expected_zero_requires_a_new_stream",
    "expected_n_requires_exactly_n",
    "failed_append_writes_nothing",
    "load_from_version",
    "load_range_between_versions",
    "read_all_is_in_global_order_with_positions_and_limit",
    "snapshots_latest_wins_per_stream",
    "an_older_snapshot_never_replaces_a_newer_one",
    "racing_writers_one_winner_per_version",
    "empty_append",
    "read_all_filtered_returns_matching_types_and_how_far_it_scanned",
    "stream_version_and_raw_reads_follow_the_stream",
    "replay_hands_out_what_load_range_loads",
    "recorded_at_follows_the_clock",
];

/// Generates one `#[tokio::test]` per conformance case for a store.
///
/// * `event_store_conformance!(name, store = async { ... })`: the block
///   builds the store (anything implementing `AsyncEventStore + 'static`);
/// * `event_store_conformance!(name, optional_store = async { ... })`: the
///   block gives an `Option` of the store; `None` skips the case.
///
/// See the [module docs](crate::conformance::event_store).
#[macro_export]
macro_rules! event_store_conformance {
    ($module:ident, store = $make:expr $(,)?) => {
        $crate::event_store_conformance!($module, optional_store = async { ::core::option::Option::Some($make.await) });
    };
    ($module:ident, optional_store = $make:expr $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $crate::event_store_conformance!(@cases $make;
                versions_start_at_one_and_events_round_trip,
                unknown_stream_is_empty,
                no_expected_version_appends_at_any_version,
                expected_zero_requires_a_new_stream,
                expected_n_requires_exactly_n,
                failed_append_writes_nothing,
                load_from_version,
                load_range_between_versions,
                read_all_is_in_global_order_with_positions_and_limit,
                snapshots_latest_wins_per_stream,
                an_older_snapshot_never_replaces_a_newer_one,
                racing_writers_one_winner_per_version,
                empty_append,
                read_all_filtered_returns_matching_types_and_how_far_it_scanned,
                stream_version_and_raw_reads_follow_the_stream,
                replay_hands_out_what_load_range_loads,
                recorded_at_follows_the_clock,
            );
        }
    };
    (@cases $make:expr; $($case:ident,)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(store) = $make.await else {
                    return;
                };
                $crate::conformance::event_store::$case(::std::sync::Arc::new(store)).await;
            }
        )*
    };
}

/// Versions start at 1 and have no gaps; `save` reports the new version and
/// one increasing position per event; `load` gives the events back in
/// order, with their stream, version, position, type name, metadata and a
/// payload that downcasts to the Rust type.
pub async fn versions_start_at_one_and_events_round_trip<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("round-trip");
    // The third event carries every optional attribute, to check they are kept.
    let cause = Metadata::new("orchestrix.conformance.Cause");
    let full_metadata = Metadata::new("orchestrix.conformance.Event")
        .with_subject(stream.clone())
        .with_source("urn:orchestrix:conformance")
        .with_dataschema("urn:orchestrix:conformance:event:1")
        .caused_by(&cause);
    let events = [
        ConformanceEvent::envelope(1, 1),
        ConformanceEvent::envelope(1, 2),
        Envelope::with_metadata(ConformanceEvent { writer: 1, seq: 3 }, full_metadata).into(),
    ];
    let outcome = store
        .save(&stream, &events, None)
        .await
        .expect("first append");
    assert_eq!(
        outcome.new_version, 3,
        "a new stream's first three events end at version 3"
    );
    assert_eq!(
        outcome.positions.len(),
        3,
        "one position per appended event"
    );
    assert_strictly_increasing(&outcome.positions);

    let loaded = store.load(&stream, 0).await.expect("load");
    assert_eq!(loaded.len(), 3);
    for (index, (recorded, saved)) in loaded.iter().zip(&events).enumerate() {
        assert_eq!(&*recorded.stream_id, stream.as_str());
        assert_eq!(
            recorded.version,
            index as u64 + 1,
            "versions start at 1 without gaps"
        );
        assert_eq!(
            recorded.position, outcome.positions[index],
            "load reports the position save gave"
        );
        assert_eq!(recorded.event_type(), "orchestrix.conformance.Event");
        assert_same_metadata(recorded.metadata(), saved.metadata());
        assert_eq!(
            recorded.downcast_ref::<ConformanceEvent>(),
            Some(&ConformanceEvent {
                writer: 1,
                seq: index as u32 + 1
            }),
            "the payload comes back as its Rust type"
        );
    }

    let next = store
        .save(&stream, &[ConformanceEvent::envelope(1, 4)], Some(3))
        .await
        .expect("second append");
    assert_eq!(next.new_version, 4);
    assert!(
        next.positions[0] > outcome.positions[2],
        "later appends get later positions"
    );
}

/// Loading a stream nobody wrote is empty, not an error; it has no snapshot.
pub async fn unknown_stream_is_empty<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("unknown");
    assert!(store.load(&stream, 0).await.expect("load").is_empty());
    assert!(
        store
            .load(&stream, 5)
            .await
            .expect("load from 5")
            .is_empty()
    );
    assert_eq!(
        store.load_snapshot(&stream).await.expect("load snapshot"),
        None
    );
}

/// `stream_version` is 0 for an unknown stream and the last version after
/// appends; `read_all_raw` gives the appended rows undecoded, with their
/// stream, versions, positions, type and JSON payload.
pub async fn stream_version_and_raw_reads_follow_the_stream<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("raw");
    assert_eq!(store.stream_version(&stream).await.expect("version"), 0);
    let events = [
        ConformanceEvent::envelope(7, 1),
        ConformanceEvent::envelope(7, 2),
        ConformanceEvent::envelope(7, 3),
    ];
    let outcome = store.save(&stream, &events, None).await.expect("append");
    assert_eq!(store.stream_version(&stream).await.expect("version"), 3);
    let (first, last) = (outcome.positions[0], outcome.positions[2]);
    let span = usize::try_from(last - first + 1).expect("a small span");
    let raw: Vec<_> = store
        .read_all_raw(first, span)
        .await
        .expect("raw read")
        .into_iter()
        .filter(|row| *row.stream_id == *stream)
        .collect();
    assert_eq!(raw.len(), 3, "{raw:?}");
    for (index, row) in raw.iter().enumerate() {
        assert_eq!(row.version, index as u64 + 1);
        assert_eq!(row.position, outcome.positions[index]);
        assert_eq!(row.event_type, "orchestrix.conformance.Event");
        let payload: serde_json::Value =
            serde_json::from_str(&row.payload).expect("the payload is JSON text");
        assert_eq!(payload["seq"], index + 1, "{payload}");
    }
}

/// `expected_version = None` appends whatever the stream's version.
pub async fn no_expected_version_appends_at_any_version<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("no-expectation");
    let first = store
        .save(&stream, &[ConformanceEvent::envelope(1, 1)], None)
        .await
        .expect("append to a new stream");
    assert_eq!(first.new_version, 1);
    let second = store
        .save(
            &stream,
            &[
                ConformanceEvent::envelope(1, 2),
                ConformanceEvent::envelope(1, 3),
            ],
            None,
        )
        .await
        .expect("append to an existing stream");
    assert_eq!(second.new_version, 3);
    assert_eq!(
        versions(&store.load(&stream, 0).await.expect("load")),
        [1, 2, 3]
    );
}

/// `Some(0)` demands a new stream; on an existing stream it is a
/// `ConcurrencyError` naming the stream, 0 and the actual version.
pub async fn expected_zero_requires_a_new_stream<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("expect-zero");
    let created = store
        .save(
            &stream,
            &[
                ConformanceEvent::envelope(1, 1),
                ConformanceEvent::envelope(1, 2),
            ],
            Some(0),
        )
        .await
        .expect("Some(0) creates a new stream");
    assert_eq!(created.new_version, 2);

    let again = store
        .save(&stream, &[ConformanceEvent::envelope(2, 1)], Some(0))
        .await;
    assert_eq!(
        expect_conflict(again),
        ConcurrencyError {
            aggregate_id: stream.clone(),
            expected: 0,
            actual: 2
        }
    );
}

/// `Some(n)` demands exactly version `n`: below, above, or on a missing
/// stream it is a `ConcurrencyError` with the expected and actual versions,
/// and nothing is written. The same for one event and for a batch (a
/// backend may append a batch with a statement of its own).
pub async fn expected_n_requires_exactly_n<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("expect-n");
    let mut refused = Vec::new();
    for size in [1, 2] {
        let events: Vec<_> = (1..=size)
            .map(|seq| ConformanceEvent::envelope(size, seq))
            .collect();
        let missing = store.save(&stream, &events, Some(3)).await;
        assert_eq!(
            expect_conflict(missing),
            ConcurrencyError {
                aggregate_id: stream.clone(),
                expected: 3,
                actual: 0
            },
            "{size} event(s) at 3 on a missing stream"
        );
        assert!(
            store.load(&stream, 0).await.expect("load").is_empty(),
            "a refused append of {size} event(s) wrote to a missing stream"
        );
        refused.extend(events);
    }

    let setup = store
        .save(
            &stream,
            &[
                ConformanceEvent::envelope(1, 1),
                ConformanceEvent::envelope(1, 2),
            ],
            None,
        )
        .await
        .expect("setup append");
    let at_two = store
        .save(&stream, &[ConformanceEvent::envelope(1, 3)], Some(2))
        .await
        .expect("Some(2) on a stream at 2");
    assert_eq!(at_two.new_version, 3);

    for wrong in [2, 4] {
        for size in [1, 3] {
            let events: Vec<_> = (1..=size)
                .map(|seq| ConformanceEvent::envelope(10 * wrong as u32 + size, seq))
                .collect();
            let result = store.save(&stream, &events, Some(wrong)).await;
            assert_eq!(
                expect_conflict(result),
                ConcurrencyError {
                    aggregate_id: stream.clone(),
                    expected: wrong,
                    actual: 3
                },
                "{size} event(s) at {wrong} on a stream at 3"
            );
            assert_eq!(
                versions(&store.load(&stream, 0).await.expect("load")),
                [1, 2, 3],
                "a refused append of {size} event(s) at {wrong} wrote to the stream"
            );
            refused.extend(events);
        }
    }

    let global = read_everything_from(&*store, setup.positions[0]).await;
    let refused_ids: BTreeSet<_> = refused.iter().map(|e| e.metadata().id).collect();
    assert!(
        global
            .iter()
            .all(|e| !refused_ids.contains(&e.metadata().id)),
        "a refused event reached the global log"
    );
    let ours: Vec<_> = global
        .iter()
        .filter(|e| *e.stream_id == *stream)
        .map(|e| e.version)
        .collect();
    assert_eq!(ours, [1, 2, 3]);
}

/// A refused append writes none of its events: not in the stream, not in
/// the global log.
pub async fn failed_append_writes_nothing<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("all-or-nothing");
    let kept = ConformanceEvent::envelope(1, 1);
    let first = store
        .save(&stream, std::slice::from_ref(&kept), Some(0))
        .await
        .expect("setup append");
    let refused = [
        ConformanceEvent::envelope(2, 1),
        ConformanceEvent::envelope(2, 2),
        ConformanceEvent::envelope(2, 3),
    ];
    expect_conflict(store.save(&stream, &refused, Some(0)).await);

    let loaded = store.load(&stream, 0).await.expect("load");
    assert_eq!(loaded.len(), 1, "the refused events are not in the stream");
    assert_eq!(loaded[0].metadata().id, kept.metadata().id);

    let accepted = store
        .save(&stream, &[ConformanceEvent::envelope(3, 1)], Some(1))
        .await
        .expect("the stream still takes appends at its real version");
    assert_eq!(
        accepted.new_version, 2,
        "the refused append used up no versions"
    );

    let global = read_everything_from(&*store, first.positions[0]).await;
    let refused_ids: BTreeSet<_> = refused.iter().map(|e| e.metadata().id).collect();
    assert!(
        global
            .iter()
            .all(|e| !refused_ids.contains(&e.metadata().id)),
        "a refused event reached the global log"
    );
    let ours: Vec<_> = global
        .iter()
        .filter(|e| *e.stream_id == *stream)
        .map(|e| e.version)
        .collect();
    assert_eq!(ours, [1, 2]);
}

/// `load(stream, from_version)` gives the events with version
/// `>= from_version`; 0 and 1 both mean "from the start"; past the end is
/// empty.
pub async fn load_from_version<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("from-version");
    let events: Vec<_> = (1..=5)
        .map(|seq| ConformanceEvent::envelope(1, seq))
        .collect();
    store
        .save(&stream, &events, Some(0))
        .await
        .expect("setup append");

    assert_eq!(
        versions(&store.load(&stream, 0).await.expect("load")),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        versions(&store.load(&stream, 1).await.expect("load")),
        [1, 2, 3, 4, 5]
    );
    let tail = store.load(&stream, 3).await.expect("load from 3");
    assert_eq!(versions(&tail), [3, 4, 5]);
    assert_eq!(
        tail.iter().map(seq_of).collect::<Vec<_>>(),
        [3, 4, 5],
        "the events at those versions, not others"
    );
    assert_eq!(
        versions(&store.load(&stream, 5).await.expect("load from 5")),
        [5]
    );
    assert!(
        store
            .load(&stream, 6)
            .await
            .expect("load from 6")
            .is_empty()
    );
}

/// `load_range(stream, from, to)` gives the events with
/// `from <= version <= to`, in order: bounds inclusive, `to` past the end
/// stops at the end, `from > to` and an unknown stream are empty.
pub async fn load_range_between_versions<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("range");
    let events: Vec<_> = (1..=5)
        .map(|seq| ConformanceEvent::envelope(1, seq))
        .collect();
    store
        .save(&stream, &events, Some(0))
        .await
        .expect("setup append");
    let range = |from: u64, to: u64| {
        let store = Arc::clone(&store);
        let stream = stream.clone();
        async move {
            store
                .load_range(&stream, from, to)
                .await
                .expect("load_range")
        }
    };

    let middle = range(2, 4).await;
    assert_eq!(versions(&middle), [2, 3, 4]);
    assert_eq!(
        middle.iter().map(seq_of).collect::<Vec<_>>(),
        [2, 3, 4],
        "the events at those versions, not others"
    );
    assert_eq!(
        versions(&range(0, 2).await),
        [1, 2],
        "0 means from the start"
    );
    assert_eq!(versions(&range(3, 3).await), [3], "both bounds inclusive");
    assert_eq!(versions(&range(4, 99).await), [4, 5], "stops at the end");
    assert_eq!(versions(&range(1, u64::MAX).await), [1, 2, 3, 4, 5]);
    assert!(range(4, 3).await.is_empty(), "from > to is empty");
    assert!(range(6, 9).await.is_empty(), "past the end is empty");
    assert!(
        store
            .load_range(&unique_stream_id("range-unknown"), 1, 5)
            .await
            .expect("load_range of an unknown stream")
            .is_empty()
    );
}

/// `replay(stream, from, to, apply)` hands `apply` the events `load_range`
/// loads (`load` for `to = u64::MAX`), in version order, each as its
/// version and message; it stops when `apply` breaks; an unknown stream
/// hands nothing, and an invalid stream id is the error `load` gives.
pub async fn replay_hands_out_what_load_range_loads<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("replay");
    let events: Vec<_> = (1..=5)
        .map(|seq| ConformanceEvent::envelope(1, seq))
        .collect();
    store
        .save(&stream, &events, Some(0))
        .await
        .expect("setup append");
    for (from, to) in [
        (1, u64::MAX),
        (0, 2),
        (2, 4),
        (3, 3),
        (4, 99),
        (4, 3),
        (6, 9),
    ] {
        let replayed = replayed(&*store, &stream, from, to, usize::MAX).await;
        let loaded = match to {
            u64::MAX => store.load(&stream, from).await,
            _ => store.load_range(&stream, from, to).await,
        }
        .expect("load");
        let loaded: Vec<(u64, String, u32)> = loaded
            .iter()
            .map(|event| (event.version, event.event_type().to_owned(), seq_of(event)))
            .collect();
        assert_eq!(replayed, loaded, "replay({from}, {to})");
    }
    assert_eq!(
        replayed(&*store, &stream, 1, u64::MAX, 2).await,
        [
            (1, ConformanceEvent::NAME.to_owned(), 1),
            (2, ConformanceEvent::NAME.to_owned(), 2)
        ],
        "a break stops the replay"
    );
    assert!(
        replayed(
            &*store,
            &unique_stream_id("replay-unknown"),
            1,
            u64::MAX,
            usize::MAX
        )
        .await
        .is_empty()
    );
    let mut called = false;
    let invalid = store
        .replay("", 1, u64::MAX, &mut |_| {
            called = true;
            std::ops::ControlFlow::Continue(())
        })
        .await
        .expect_err("an empty stream id");
    let load = store.load("", 1).await.expect_err("an empty stream id");
    assert_eq!(invalid.to_string(), load.to_string());
    assert!(!called);
}

/// What `replay` hands out, as (version, type, seq), breaking after
/// `stop_after` events.
async fn replayed<S: AsyncEventStore + ?Sized>(
    store: &S,
    stream: &str,
    from: u64,
    to: u64,
    stop_after: usize,
) -> Vec<(u64, String, u32)> {
    let mut seen = Vec::new();
    store
        .replay(stream, from, to, &mut |event| {
            let seq = event
                .downcast_ref::<ConformanceEvent>()
                .expect("a conformance event")
                .seq;
            seen.push((event.version, event.event_type().to_owned(), seq));
            match seen.len() < stop_after {
                true => std::ops::ControlFlow::Continue(()),
                false => std::ops::ControlFlow::Break(()),
            }
        })
        .await
        .expect("replay");
    seen
}

/// `read_all` gives every stream's events in global position order, with
/// the positions `save` reported; `limit` caps the batch and
/// `from_position` is inclusive.
pub async fn read_all_is_in_global_order_with_positions_and_limit<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let a = unique_stream_id("global-a");
    let b = unique_stream_id("global-b");
    let mut positions = Vec::new();
    for (stream, writer, seqs) in [
        (&a, 1, 1..=2),
        (&b, 2, 1..=1),
        (&a, 1, 3..=3),
        (&b, 2, 2..=3),
    ] {
        let events: Vec<_> = seqs
            .map(|seq| ConformanceEvent::envelope(writer, seq))
            .collect();
        let outcome = store.save(stream, &events, None).await.expect("append");
        positions.extend(outcome.positions);
    }
    assert_strictly_increasing(&positions);

    let global = read_everything_from(&*store, positions[0]).await;
    assert_strictly_increasing(&global.iter().map(|e| e.position).collect::<Vec<_>>());
    let ours: Vec<_> = global
        .iter()
        .filter(|e| *e.stream_id == *a || *e.stream_id == *b)
        .map(|e| (*e.stream_id == *a, e.version, e.position))
        .collect();
    assert_eq!(
        ours,
        [
            (true, 1, positions[0]),
            (true, 2, positions[1]),
            (false, 1, positions[2]),
            (true, 3, positions[3]),
            (false, 2, positions[4]),
            (false, 3, positions[5]),
        ],
        "commit order across streams, with the positions save reported"
    );

    let batch = store
        .read_all(positions[0], 2)
        .await
        .expect("read_all with limit");
    assert_eq!(batch.len(), 2, "limit caps the batch");
    assert_eq!(
        batch[0].position, positions[0],
        "from_position is inclusive"
    );
    assert!(batch[1].position > batch[0].position);

    let from_middle = store
        .read_all(positions[3], 1)
        .await
        .expect("read_all from the middle");
    assert_eq!(from_middle.len(), 1);
    assert_eq!(from_middle[0].position, positions[3]);
    assert_eq!(
        (&*from_middle[0].stream_id, from_middle[0].version),
        (a.as_str(), 3)
    );

    assert!(
        store
            .read_all(positions[0], 0)
            .await
            .expect("limit 0")
            .is_empty()
    );
}

/// A stream keeps its latest snapshot; snapshots of other streams are
/// separate.
pub async fn snapshots_latest_wins_per_stream<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let a = unique_stream_id("snapshot-a");
    let b = unique_stream_id("snapshot-b");
    let snapshot = |stream: &str, version: u64| Snapshot {
        aggregate_id: stream.to_owned(),
        aggregate_type: "Conformance".to_owned(),
        version,
        state: serde_json::json!({ "version": version, "items": [1, 2, 3] }),
        // Whole seconds: every backend keeps those exactly.
        taken_at: time::OffsetDateTime::from_unix_timestamp(1_700_000_000 + version as i64)
            .expect("a valid timestamp"),
    };

    store
        .save_snapshot(snapshot(&a, 2))
        .await
        .expect("save snapshot a@2");
    assert_eq!(
        store.load_snapshot(&a).await.expect("load a"),
        Some(snapshot(&a, 2))
    );
    store
        .save_snapshot(snapshot(&a, 5))
        .await
        .expect("save snapshot a@5");
    store
        .save_snapshot(snapshot(&b, 1))
        .await
        .expect("save snapshot b@1");

    assert_eq!(
        store.load_snapshot(&a).await.expect("load a"),
        Some(snapshot(&a, 5)),
        "the latest wins"
    );
    assert_eq!(
        store.load_snapshot(&b).await.expect("load b"),
        Some(snapshot(&b, 1)),
        "per stream"
    );
}

/// A snapshot with a lower version than the kept one is ignored (a slow
/// writer finishing late must not roll the snapshot back); one at the same
/// version replaces it.
pub async fn an_older_snapshot_never_replaces_a_newer_one<S: AsyncEventStore + 'static>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("snapshot-order");
    let snapshot = |version: u64, label: &str| Snapshot {
        aggregate_id: stream.clone(),
        aggregate_type: "Conformance".to_owned(),
        version,
        state: serde_json::json!({ "version": version, "label": label }),
        taken_at: time::OffsetDateTime::from_unix_timestamp(1_700_000_000 + version as i64)
            .expect("a valid timestamp"),
    };

    store
        .save_snapshot(snapshot(7, "newer"))
        .await
        .expect("save snapshot @7");
    store
        .save_snapshot(snapshot(3, "older"))
        .await
        .expect("saving an older snapshot is not an error");
    assert_eq!(
        store.load_snapshot(&stream).await.expect("load"),
        Some(snapshot(7, "newer")),
        "the older snapshot must not replace the newer one"
    );

    store
        .save_snapshot(snapshot(7, "rewritten"))
        .await
        .expect("save snapshot @7 again");
    assert_eq!(
        store.load_snapshot(&stream).await.expect("load"),
        Some(snapshot(7, "rewritten")),
        "a snapshot at the same version replaces the kept one"
    );
}

/// Eight tasks race to append to one stream at the same expected version:
/// exactly one wins each version, the losers get a `ConcurrencyError`, and
/// after every writer retried to success the stream holds every event
/// exactly once at versions `1..=n` without gaps.
pub async fn racing_writers_one_winner_per_version<S: AsyncEventStore + 'static>(store: Arc<S>) {
    const WRITERS: u32 = 8;
    const EVENTS_PER_WRITER: u32 = 5;
    let stream = Arc::new(unique_stream_id("race"));

    // Round 1: all eight create the stream at once; exactly one may.
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (store, stream, barrier) = (
            Arc::clone(&store),
            Arc::clone(&stream),
            Arc::clone(&barrier),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .save(&stream, &[ConformanceEvent::envelope(writer, 0)], Some(0))
                .await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("writer task") {
            Ok(outcome) => {
                winners += 1;
                assert_eq!(outcome.new_version, 1);
            }
            Err(StoreError::Concurrency(conflict)) => {
                assert_eq!((conflict.expected, conflict.actual), (0, 1), "{conflict}");
            }
            Err(other) => panic!("a racing append failed with a non-conflict error: {other}"),
        }
    }
    assert_eq!(winners, 1, "exactly one writer may create the stream");

    // Round 2: every writer appends its events one at a time, each at the
    // version it just read, retrying on conflict.
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (store, stream, barrier) = (
            Arc::clone(&store),
            Arc::clone(&stream),
            Arc::clone(&barrier),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut won_versions = Vec::new();
            let mut conflicts = 0_u32;
            for seq in 1..=EVENTS_PER_WRITER {
                loop {
                    let version = store.load(&stream, 0).await.expect("load").len() as u64;
                    match store
                        .save(
                            &stream,
                            &[ConformanceEvent::envelope(writer, seq)],
                            Some(version),
                        )
                        .await
                    {
                        Ok(outcome) => {
                            assert_eq!(outcome.new_version, version + 1);
                            won_versions.push(outcome.new_version);
                            break;
                        }
                        Err(StoreError::Concurrency(conflict)) => {
                            assert!(
                                conflict.actual > version,
                                "a conflict reports a newer version: {conflict}"
                            );
                            conflicts += 1;
                            tokio::task::yield_now().await;
                        }
                        Err(other) => {
                            panic!("a racing append failed with a non-conflict error: {other}")
                        }
                    }
                }
            }
            (won_versions, conflicts)
        }));
    }
    let mut all_won = Vec::new();
    for task in tasks {
        let (won, _conflicts) = task.await.expect("writer task");
        all_won.extend(won);
    }
    all_won.sort_unstable();
    let expected_versions: Vec<u64> = (2..=u64::from(1 + WRITERS * EVENTS_PER_WRITER)).collect();
    assert_eq!(
        all_won, expected_versions,
        "each version has exactly one winner"
    );

    let loaded = store.load(&stream, 0).await.expect("final load");
    assert_eq!(
        versions(&loaded),
        (1..=u64::from(1 + WRITERS * EVENTS_PER_WRITER)).collect::<Vec<_>>(),
        "versions without gaps"
    );
    let mut seen = BTreeSet::new();
    for event in &loaded[1..] {
        let payload = event
            .downcast_ref::<ConformanceEvent>()
            .expect("a conformance event");
        assert!(
            seen.insert((payload.writer, payload.seq)),
            "duplicated event {payload:?}"
        );
    }
    assert_eq!(
        seen.len() as u32,
        WRITERS * EVENTS_PER_WRITER,
        "no event lost"
    );
    for writer in 0..WRITERS {
        let seqs: Vec<u32> = loaded[1..]
            .iter()
            .filter_map(|e| e.downcast_ref::<ConformanceEvent>())
            .filter(|p| p.writer == writer)
            .map(|p| p.seq)
            .collect();
        assert_eq!(
            seqs,
            (1..=EVENTS_PER_WRITER).collect::<Vec<_>>(),
            "writer {writer}'s events in its order"
        );
    }
}

/// An empty append writes nothing and reports the current version with no
/// positions; its expected version is still checked.
pub async fn empty_append<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("empty");
    let on_missing = store
        .save(&stream, &[], None)
        .await
        .expect("empty append, new stream");
    assert_eq!(on_missing.new_version, 0);
    assert!(on_missing.positions.is_empty());
    assert!(
        store.load(&stream, 0).await.expect("load").is_empty(),
        "no stream appeared"
    );

    let created = store
        .save(
            &stream,
            &[
                ConformanceEvent::envelope(1, 1),
                ConformanceEvent::envelope(1, 2),
            ],
            Some(0),
        )
        .await
        .expect("an empty append did not create the stream");
    assert_eq!(created.new_version, 2);

    let on_existing = store
        .save(&stream, &[], Some(2))
        .await
        .expect("empty append at the right version");
    assert_eq!(on_existing.new_version, 2);
    assert!(on_existing.positions.is_empty());

    let mismatch = store.save(&stream, &[], Some(1)).await;
    assert_eq!(
        expect_conflict(mismatch),
        ConcurrencyError {
            aggregate_id: stream.clone(),
            expected: 1,
            actual: 2
        }
    );
    assert_eq!(
        versions(&store.load(&stream, 0).await.expect("load")),
        [1, 2]
    );
}

/// `read_all_filtered` returns only events of the named types, in position
/// order, at most `limit` of them, with `scanned_through` saying how far it
/// looked: a follower continuing at `scanned_through + 1` sees every
/// matching event exactly once and skips the others; nothing readable
/// yet gives `from_position - 1`.
pub async fn read_all_filtered_returns_matching_types_and_how_far_it_scanned<
    S: AsyncEventStore + 'static,
>(
    store: Arc<S>,
) {
    let stream = unique_stream_id("filtered");
    let outcome = store
        .save(
            &stream,
            &[
                ConformanceEvent::envelope(1, 1),
                OtherConformanceEvent::envelope(2),
                ConformanceEvent::envelope(1, 3),
                OtherConformanceEvent::envelope(4),
            ],
            None,
        )
        .await
        .expect("append");
    let [first, other_a, _, other_b] = outcome.positions[..] else {
        panic!("four positions expected, got {:?}", outcome.positions);
    };
    let last = outcome.positions[3];
    let filter = EventTypeFilter::only([OtherConformanceEvent::NAME]);

    let check_page = |page: &GlobalPage, from: u64, limit: usize| {
        assert!(page.events.len() <= limit, "at most `limit` events");
        assert!(
            page.scanned_through + 1 >= from,
            "scanned_through >= from - 1"
        );
        for event in &page.events {
            assert_eq!(
                event.event_type(),
                OtherConformanceEvent::NAME,
                "only matching types"
            );
            assert!(from <= event.position && event.position <= page.scanned_through);
            assert!(
                event.downcast_ref::<OtherConformanceEvent>().is_some(),
                "decoded"
            );
        }
        assert_strictly_increasing(&page.events.iter().map(|e| e.position).collect::<Vec<_>>());
    };

    // A follower with a small limit, from our first event past our last.
    let mut ours = Vec::new();
    let mut next = first;
    while next <= last {
        let page = store
            .read_all_filtered(next, 1, &filter)
            .await
            .expect("read_all_filtered");
        check_page(&page, next, 1);
        assert!(
            page.scanned_through >= next,
            "progress while events are readable"
        );
        ours.extend(
            page.events
                .iter()
                .filter(|e| *e.stream_id == *stream)
                .map(|e| (e.position, e.version)),
        );
        next = page.scanned_through + 1;
    }
    assert_eq!(
        ours,
        [(other_a, 2), (other_b, 4)],
        "every matching event exactly once"
    );

    let page = store
        .read_all_filtered(first, 1000, &filter)
        .await
        .expect("read_all_filtered, large limit");
    check_page(&page, first, 1000);
    let in_stream: Vec<_> = page
        .events
        .iter()
        .filter(|e| *e.stream_id == *stream)
        .map(|e| e.position)
        .collect();
    assert_eq!(in_stream, [other_a, other_b]);
    assert!(page.scanned_through >= last);

    let all = store
        .read_all_filtered(first, 1000, &EventTypeFilter::all())
        .await
        .expect("read_all_filtered, all types");
    let all_in_stream: Vec<_> = all
        .events
        .iter()
        .filter(|e| *e.stream_id == *stream)
        .map(|e| e.version)
        .collect();
    assert_eq!(all_in_stream, [1, 2, 3, 4], "`all` lets every type through");

    let empty = store
        .read_all_filtered(first, 0, &filter)
        .await
        .expect("limit 0");
    assert!(empty.events.is_empty());
    assert_eq!(empty.scanned_through, first - 1, "limit 0 scans nothing");

    let beyond = last + 1_000_000_000;
    let unreadable = store
        .read_all_filtered(beyond, 10, &filter)
        .await
        .expect("read beyond the head");
    assert!(unreadable.events.is_empty());
    assert_eq!(
        unreadable.scanned_through,
        beyond - 1,
        "nothing readable: from - 1"
    );
}

/// `recorded_at` is the clock's reading when the store accepted the event:
/// each of two events saved in two saves was recorded between a reading of
/// the clock taken before the first save and one taken after the second,
/// and the second not before the first. Compared at the stored precision
/// (whole microseconds), with the reading before cut down to it, as the
/// stores cut theirs (a reading's nanoseconds would otherwise put it after
/// an event recorded in the same microsecond). The stores read the host's
/// clock (PostgreSQL: its server's `now()`, on the same host here).
pub async fn recorded_at_follows_the_clock<S: AsyncEventStore + 'static>(store: Arc<S>) {
    let stream = unique_stream_id("recorded-at");
    let before = stored_precision(OffsetDateTime::now_utc());
    store
        .save(&stream, &[ConformanceEvent::envelope(1, 1)], Some(0))
        .await
        .expect("first save");
    store
        .save(&stream, &[ConformanceEvent::envelope(1, 2)], Some(1))
        .await
        .expect("second save");
    let after = stored_precision(OffsetDateTime::now_utc());

    let loaded = store.load(&stream, 0).await.expect("load");
    assert_eq!(versions(&loaded), vec![1, 2]);
    let (first, second) = (loaded[0].recorded_at, loaded[1].recorded_at);
    assert!(
        before <= first,
        "first recorded at {first}, before the save began ({before})"
    );
    assert!(
        first <= second,
        "second recorded at {second}, before the first ({first})"
    );
    assert!(
        second <= after,
        "second recorded at {second}, after the save returned ({after})"
    );
}

fn expect_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> ConcurrencyError {
    match result {
        Err(StoreError::Concurrency(conflict)) => conflict,
        other => panic!("expected a ConcurrencyError, got {other:?}"),
    }
}

/// Metadata comes back as saved; the time may lose precision below a
/// microsecond (what SQL timestamps keep).
fn assert_same_metadata(recorded: &Metadata, saved: &Metadata) {
    let drift = (recorded.time - saved.time).abs();
    assert!(
        drift < time::Duration::microseconds(1),
        "metadata time is kept to the microsecond: saved {}, loaded {}",
        saved.time,
        recorded.time
    );
    let without_time = |m: &Metadata| Metadata {
        time: time::OffsetDateTime::UNIX_EPOCH,
        ..m.clone()
    };
    assert_eq!(
        without_time(recorded),
        without_time(saved),
        "metadata is kept as saved"
    );
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

fn seq_of(event: &RecordedEvent) -> u32 {
    event
        .downcast_ref::<ConformanceEvent>()
        .expect("a conformance event")
        .seq
}

fn assert_strictly_increasing(positions: &[u64]) {
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "positions must strictly increase: {positions:?}"
    );
}

/// Everything from `from_position` to the end, in batches.
async fn read_everything_from<S: AsyncEventStore + ?Sized>(
    store: &S,
    from_position: u64,
) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    let mut next = from_position;
    loop {
        let batch = store.read_all(next, 500).await.expect("read_all");
        let Some(last) = batch.last() else {
            return all;
        };
        next = last.position + 1;
        all.extend(batch);
    }
}
