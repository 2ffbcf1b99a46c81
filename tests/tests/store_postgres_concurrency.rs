//! PostgreSQLEventStore under concurrent writers: one winner per version,
//! and a global stream that no follower ever skips ahead in.
//! Needs `DATABASE_URL` (skipped with a notice without it).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use orchestrix::prelude::*;
use orchestrix::store::EventTypeFilter;
use orchestrix_tests::postgres::TestStore;
use tokio::sync::Barrier;

#[derive(Event, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[event(name = "pg-test.Written")]
struct Written {
    writer: u32,
    seq: u32,
}

fn written(writer: u32, seq: u32) -> AnyEnvelope {
    Envelope::new(Written { writer, seq }).into()
}

const RACERS: u32 = 16;

/// 16 tasks append to one stream with the same expected version, released
/// together, round after round: per version exactly one wins, the other 15
/// get a `ConcurrencyError` naming the stream, the expected and the actual
/// version, and the stream holds exactly the winners' events.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_racers_one_winner_per_version_nothing_lost() {
    let Some(test) = TestStore::new("sixteen_racers_one_winner_per_version_nothing_lost", 8).await
    else {
        return;
    };
    race_rounds(&test).await;
    test.cleanup().await;
}

/// The race proper: in each round all 16 tasks append with the same
/// expected version at once.
async fn race_rounds(test: &TestStore) {
    const ROUNDS: u64 = 20;
    let store = Arc::new(test.store.clone());
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(RACERS as usize));
        let tasks: Vec<_> = (0..RACERS)
            .map(|writer| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                tokio::spawn(async move {
                    barrier.wait().await;
                    let result = store
                        .save("rounds", &[written(writer, round as u32)], Some(round))
                        .await;
                    (writer, result)
                })
            })
            .collect();
        let mut round_winners = Vec::new();
        for task in tasks {
            let (writer, result) = task.await.expect("task");
            match result {
                Ok(outcome) => {
                    assert_eq!(outcome.new_version, round + 1);
                    round_winners.push(writer);
                }
                Err(StoreError::Concurrency(conflict)) => {
                    assert_eq!(
                        conflict,
                        ConcurrencyError {
                            aggregate_id: "rounds".into(),
                            expected: round,
                            actual: round + 1
                        }
                    );
                }
                Err(other) => panic!("round {round} writer {writer}: unexpected error {other}"),
            }
        }
        assert_eq!(
            round_winners.len(),
            1,
            "round {round}: exactly one winner, got {round_winners:?}"
        );
        winners.push(round_winners[0]);
    }
    let stored = store.load("rounds", 1).await.expect("load");
    assert_eq!(
        stored.len() as u64,
        ROUNDS,
        "one event per version, none lost, none extra"
    );
    for (index, (event, winner)) in stored.iter().zip(&winners).enumerate() {
        assert_eq!(event.version, index as u64 + 1);
        assert_eq!(
            event.downcast_ref::<Written>(),
            Some(&Written {
                writer: *winner,
                seq: index as u32
            }),
            "version {} holds the winner's event",
            index + 1
        );
    }
}

/// 16 tasks append to one stream until each has written all its events,
/// each expecting the version it last saw: every conflict is a
/// `ConcurrencyError` and, retried, nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_retrying_writers_lose_nothing() {
    let Some(test) = TestStore::new("sixteen_retrying_writers_lose_nothing", 8).await else {
        return;
    };
    const EVENTS_PER_WRITER: u32 = 10;
    let store = Arc::new(test.store.clone());
    let start = Arc::new(Barrier::new(RACERS as usize));
    let tasks: Vec<_> = (0..RACERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                let mut expected = 0;
                let mut conflicts = 0_u32;
                for seq in 0..EVENTS_PER_WRITER {
                    loop {
                        match store
                            .save("shared", &[written(writer, seq)], Some(expected))
                            .await
                        {
                            Ok(outcome) => {
                                expected = outcome.new_version;
                                break;
                            }
                            Err(StoreError::Concurrency(conflict)) => {
                                assert!(conflict.actual > expected, "{conflict}");
                                expected = conflict.actual;
                                conflicts += 1;
                            }
                            Err(other) => panic!("writer {writer}: unexpected error {other}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.expect("task");
    }
    let stored = store.load("shared", 1).await.expect("load");
    let total = (RACERS * EVENTS_PER_WRITER) as usize;
    assert_eq!(stored.len(), total);
    let versions: Vec<u64> = stored.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=total as u64).collect::<Vec<_>>());
    let distinct: HashSet<Written> = stored
        .iter()
        .filter_map(|e| e.downcast_ref::<Written>().cloned())
        .collect();
    assert_eq!(distinct.len(), total, "every event exactly once");
    // All 16 start at expected version 0 at once: one wins, the other 15
    // conflict at least once.
    assert!(
        conflicts >= RACERS - 1,
        "{conflicts} conflicts, expected at least {}",
        RACERS - 1
    );
    test.cleanup().await;
}

/// Several writers append (single events and batches, to their own streams
/// and to a shared one, racing for its versions) while a reader follows
/// `read_all` from its checkpoint, always continuing after the last
/// position it saw. The reader must see every written event exactly once,
/// in increasing position order: an event committed late at a position
/// below one already returned would never be seen (positions may have gaps:
/// an append that loses a race burns the positions it drew).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_of_the_global_stream_never_skips_an_event() {
    let Some(test) =
        TestStore::new("a_follower_of_the_global_stream_never_skips_an_event", 10).await
    else {
        return;
    };
    const WRITERS: u32 = 6;
    const APPENDS: u32 = 60;
    let store = Arc::new(test.store.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut written_count = 0_u64;
                for append in 0..APPENDS {
                    let batch = 1 + (append % 3);
                    let events: Vec<_> = (0..batch)
                        .map(|i| written(writer, append * 3 + i))
                        .collect();
                    let stream = if append % 2 == 0 {
                        format!("own-{writer}")
                    } else {
                        "shared".to_owned()
                    };
                    store.save(&stream, &events, None).await.expect("append");
                    written_count += u64::from(batch);
                }
                written_count
            })
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut next = 1_u64;
            loop {
                // Read the flag before reading: once the writers are done
                // and a read comes back empty, everything has been seen.
                let writers_done = done.load(Ordering::SeqCst);
                let batch = store.read_all(next, 7).await.expect("read_all");
                if batch.is_empty() {
                    if writers_done {
                        break;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                for event in batch {
                    assert!(
                        event.position >= next,
                        "the follower went back from {next} to {}",
                        event.position
                    );
                    next = event.position + 1;
                    seen.push(event);
                }
            }
            seen
        })
    };

    let mut total = 0;
    for writer in writers {
        total += writer.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    let ids: HashSet<_> = seen.iter().map(|e| e.metadata().id).collect();
    assert_eq!(ids.len(), seen.len(), "no event twice");
    let stored = store
        .read_all(1, usize::MAX)
        .await
        .expect("read everything");
    assert_eq!(stored.len() as u64, total, "every append stored");
    let stored_ids: HashSet<_> = stored.iter().map(|e| e.metadata().id).collect();
    assert_eq!(
        ids, stored_ids,
        "the follower saw every stored event: it skipped none"
    );
    test.cleanup().await;
}

/// The interleaving a follower must survive, forced by hand: append A takes
/// position 1 and stays uncommitted, append B takes position 2 and
/// commits. A follower reading now must not get position 2 without 1: it
/// waits for A, then gets both, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_waits_for_an_earlier_position_that_commits_late() {
    let Some(test) = TestStore::new(
        "a_follower_waits_for_an_earlier_position_that_commits_late",
        4,
    )
    .await
    else {
        return;
    };
    let admin = orchestrix_tests::postgres::pool(
        &orchestrix_tests::postgres::database_url("admin").expect("set"),
        1,
    )
    .await;
    let mut slow = test.pool().begin().await.expect("begin");
    let slow_append = test
        .store
        .save_in_transaction(&mut slow, "slow", &[written(0, 0)], None)
        .await
        .expect("slow append, not committed yet");
    assert_eq!(slow_append.positions, vec![1]);

    let fast = test
        .store
        .save("fast", &[written(1, 0)], None)
        .await
        .expect("fast append commits");
    assert_eq!(fast.positions, vec![2]);

    let follower = {
        let store = test.store.clone();
        tokio::spawn(async move { store.read_all(1, 10).await })
    };
    // The follower is blocked: its backend waits for the slow append's
    // in-flight lock (an advisory lock of this database not granted).
    let waiting_sql = format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND NOT l.granted AND a.query LIKE '%\"{}\".global_horizon%'",
        test.schema
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(waiting_sql.clone()))
            .fetch_one(&admin)
            .await
            .expect("pg_locks");
        if waiting > 0 {
            break;
        }
        assert!(
            !follower.is_finished(),
            "the follower must not return while position 1 is still in flight: {:?}",
            follower.await
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the follower never waited for the in-flight append"
        );
        tokio::task::yield_now().await;
    }
    assert!(!follower.is_finished(), "blocked, so not finished");
    slow.commit().await.expect("the slow append commits");
    let seen = follower.await.expect("task").expect("read_all");
    let positions: Vec<u64> = seen.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2]);
    assert_eq!(&*seen[0].stream_id, "slow");
    assert_eq!(&*seen[1].stream_id, "fast");
    test.cleanup().await;
}

/// The in-flight registration's key must not exceed the first position the
/// append draws: a reader waits only for keys up to its horizon, and a
/// page (plain or type-filtered) reports having looked through that
/// horizon, so a key one too high lets a follower move past a position
/// that commits later. Pinned on both paths of the key: on a fresh store
/// (the sequence not called yet, `pg_sequence_last_value` NULL: the
/// in-flight append draws position 1) and after one committed append (the
/// in-flight append draws position 2). Seen failing on the key's mutants
/// `coalesce(.., 1) + 1` (the fresh store: key 2) and `coalesce(.., 0) + 2`
/// (both cases: key one too high): the reads return at once, reporting
/// that they looked through the in-flight position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_read_waits_for_the_first_position_of_an_append_in_flight() {
    let Some(test) = TestStore::new(
        "a_page_read_waits_for_the_first_position_of_an_append_in_flight",
        6,
    )
    .await
    else {
        return;
    };
    let admin = orchestrix_tests::postgres::pool(
        &orchestrix_tests::postgres::database_url("admin").expect("set"),
        1,
    )
    .await;
    // A fresh store: the first append ever is in flight at position 1.
    read_pages_while_in_flight(&test, &admin, 1).await;
    // Position 1 is committed now: the next append is in flight at 2.
    read_pages_while_in_flight(&test, &admin, 2).await;
    test.cleanup().await;
}

/// Appends one event in a transaction left open (it must draw `position`),
/// reads pages from `position` on (every type, and only the event's type)
/// meanwhile, then commits. A read that returns while the append is in
/// flight must not report having looked through `position`; once the
/// append commits, each page holds it.
async fn read_pages_while_in_flight(test: &TestStore, admin: &sqlx::PgPool, position: u64) {
    let mut in_flight = test.pool().begin().await.expect("begin");
    let append = test
        .store
        .save_in_transaction(
            &mut in_flight,
            "in-flight",
            &[written(0, position as u32)],
            None,
        )
        .await
        .expect("append, not committed yet");
    assert_eq!(append.positions, vec![position]);

    let filters = [
        EventTypeFilter::all(),
        EventTypeFilter::only(["pg-test.Written"]),
    ];
    let mut readers: Vec<_> = filters
        .iter()
        .cloned()
        .map(|filter| {
            let store = test.store.clone();
            Some(tokio::spawn(async move {
                store.read_all_filtered(position, 10, &filter).await
            }))
        })
        .collect();
    // Wait until every reader still running is blocked on the in-flight
    // lock (its backend waits for an advisory lock of this database).
    let waiting_sql = format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND NOT l.granted AND a.query LIKE '%\"{}\".global_horizon%'",
        test.schema
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        for (reader, filter) in readers.iter_mut().zip(&filters) {
            if reader.as_ref().is_some_and(|task| task.is_finished()) {
                let task = reader.take().expect("finished");
                let page = task.await.expect("task").expect("read");
                assert!(
                    page.events.is_empty() && page.scanned_through < position,
                    "a read ({filter:?}) returned while position {position} was in flight \
                     and reports having looked through it: {page:?}"
                );
            }
        }
        let running = readers.iter().flatten().count();
        let waiting: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(waiting_sql.clone()))
            .fetch_one(admin)
            .await
            .expect("pg_locks");
        if usize::try_from(waiting).expect("count") >= running {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{running} readers running, {waiting} waiting for the in-flight append"
        );
        tokio::task::yield_now().await;
    }
    in_flight.commit().await.expect("the append commits");
    for (reader, filter) in readers.into_iter().zip(&filters) {
        let Some(task) = reader else { continue };
        let page = task.await.expect("task").expect("read");
        let positions: Vec<u64> = page.events.iter().map(|e| e.position).collect();
        assert_eq!(positions, vec![position], "{filter:?}: {page:?}");
        assert_eq!(page.scanned_through, position, "{filter:?}");
    }
}
