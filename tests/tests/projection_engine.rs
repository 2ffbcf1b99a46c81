//! The projection engine on the in-memory stores: catch-up then live,
//! restarts, failures, dead letters, concurrent writers, two runners,
//! rebuilds.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::projection::{
    InMemoryProjectionStateStore, OnFailure, ProjectionEngine, ProjectionError, ProjectionMode,
    ProjectionState, ProjectionStateStore, ServedReadModel, SwitchError,
};
use orchestrix::retry::RetryPolicy;
use orchestrix_tests::conformance::BlockingStore;
use orchestrix_tests::projection_scenarios::*;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "projection-test.InvoiceSent")]
struct InvoiceSent {
    order: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_then_live_on_the_async_store() {
    catch_up_then_live(
        Arc::new(InMemoryAsyncEventStore::new()),
        InMemoryProjectionStateStore::new(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_then_live_on_the_blocking_store() {
    // The blocking store cannot signal appends: the runner polls.
    catch_up_then_live(
        Arc::new(BlockingStore(InMemoryEventStore::new())),
        InMemoryProjectionStateStore::new(),
    )
    .await;
}

#[tokio::test]
async fn a_restart_resumes_at_the_checkpoint_without_reapplying() {
    restart_resumes_at_the_checkpoint_without_reapplying(
        Arc::new(InMemoryAsyncEventStore::new()),
        Arc::new(InMemoryProjectionStateStore::new()),
    )
    .await;
}

#[tokio::test]
async fn process_events_applies_each_event_once() {
    let store = InMemoryAsyncEventStore::new();
    store
        .save("o-1", &[placed("o-1", 3), placed("o-1", 4)], None)
        .await
        .expect("append");
    let seen = Shared::default();
    let engine = order_totals("totals", InMemoryProjectionStateStore::new(), &seen);
    engine.initialize().await.expect("initialize");
    let events = store.read_all(1, 10).await.expect("read");
    engine.process_events(&events).await.expect("first");
    let state = engine.process_events(&events).await.expect("again");
    assert_eq!(state.position, 2);
    assert_eq!(state.processed, 2);
    assert_eq!(
        seen.lock().expect("lock").totals["o-1"],
        7,
        "the second call applied nothing"
    );
}

/// A handler that fails on orders named "bad" while `failing` is set.
fn failing_engine(
    state_store: Arc<InMemoryProjectionStateStore>,
    seen: &Shared,
    failing: &Arc<AtomicBool>,
) -> ProjectionEngine {
    let mut engine = ProjectionEngine::new("fragile", state_store);
    let (seen, failing) = (Arc::clone(seen), Arc::clone(failing));
    engine.on::<OrderPlaced, _, _>(move |event, context| {
        let (seen, failing) = (Arc::clone(&seen), Arc::clone(&failing));
        async move {
            if event.message().order == "bad" && failing.load(Ordering::SeqCst) {
                return Err(format!(
                    "cannot total order `bad` (attempt {})",
                    context.attempt()
                ));
            }
            let mut seen = seen.lock().expect("lock");
            *seen
                .totals
                .entry(event.message().order.clone())
                .or_default() += event.message().total;
            *seen.applied.entry(context.position()).or_default() += 1;
            Ok(())
        }
    });
    engine
}

#[tokio::test]
async fn a_failure_stops_the_projection_with_the_checkpoint_before_the_failing_event() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    store
        .save("a", &[placed("a", 1), placed("a", 2)], None)
        .await
        .expect("append");
    store
        .save("bad", &[placed("bad", 50)], None)
        .await
        .expect("append");
    store
        .save("c", &[placed("c", 3)], None)
        .await
        .expect("append");
    let state_store = Arc::new(InMemoryProjectionStateStore::new());
    let (seen, failing) = (Shared::default(), Arc::new(AtomicBool::new(true)));

    let engine = failing_engine(Arc::clone(&state_store), &seen, &failing)
        .with_retry(RetryPolicy::fixed(Duration::from_millis(1), 2));
    let error = engine
        .run(&*store, std::future::pending())
        .await
        .expect_err("the handler fails on `bad`");
    match &error {
        ProjectionError::Handler {
            projection,
            position,
            event_type,
            attempts,
            ..
        } => {
            assert_eq!(
                (
                    projection.as_str(),
                    *position,
                    event_type.as_str(),
                    *attempts
                ),
                ("fragile", 3, OrderPlaced::NAME, 2)
            );
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains("cannot total order `bad` (attempt 2)"),
        "{error}"
    );
    let state = state_store
        .load("fragile")
        .await
        .expect("load")
        .expect("saved");
    assert_eq!(
        state.position, 2,
        "the checkpoint stays before the failing event"
    );
    assert!(!state.healthy);
    assert_eq!(state.failed, 1);
    assert!(
        state
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("position 3")),
        "{state:?}"
    );
    assert!(
        !seen.lock().expect("lock").applied.contains_key(&4),
        "nothing after it was applied"
    );

    // Fixed and restarted: it resumes at the failing event.
    failing.store(false, Ordering::SeqCst);
    let engine = Arc::new(failing_engine(Arc::clone(&state_store), &seen, &failing));
    let (stop, task) = spawn_run(Arc::clone(&engine), Arc::clone(&store));
    let state = wait_for_state(&engine, |s| s.position == 4).await;
    stop.send(()).expect("alive");
    task.await.expect("task").expect("clean stop");
    assert!(state.healthy);
    assert_eq!(
        seen.lock().expect("lock").applied,
        HashMap::from([(1, 1), (2, 1), (3, 1), (4, 1)])
    );
}

#[tokio::test]
async fn a_panicking_handler_is_a_failure_not_a_crash() {
    let store = InMemoryAsyncEventStore::new();
    store
        .save("a", &[placed("a", 1)], None)
        .await
        .expect("append");
    let mut engine = ProjectionEngine::new("panics", InMemoryProjectionStateStore::new());
    engine.on_sync::<OrderPlaced, _, _>(|_event, _context| -> Result<(), BoxError> {
        panic!("read model corrupted")
    });
    let error = engine
        .run(&store, std::future::pending())
        .await
        .expect_err("the handler panics");
    assert!(
        matches!(error, ProjectionError::Handler { position: 1, .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("read model corrupted"),
        "{error}"
    );
    assert!(!engine.state().healthy);
    assert_eq!(engine.state().position, 0);
}

#[tokio::test]
async fn failed_events_are_parked_then_replayed() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    store
        .save("a", &[placed("a", 1)], None)
        .await
        .expect("append");
    store
        .save("bad", &[placed("bad", 50)], None)
        .await
        .expect("append");
    store
        .save("c", &[placed("c", 3)], None)
        .await
        .expect("append");
    let state_store = Arc::new(InMemoryProjectionStateStore::new());
    let (seen, failing) = (Shared::default(), Arc::new(AtomicBool::new(true)));
    let engine = Arc::new(
        failing_engine(Arc::clone(&state_store), &seen, &failing)
            .with_retry(RetryPolicy::fixed(Duration::from_millis(1), 3))
            .with_on_failure(OnFailure::Park),
    );
    let (stop, task) = spawn_run(Arc::clone(&engine), Arc::clone(&store));
    let state = wait_for_state(&engine, |s| s.position == 3).await;
    stop.send(()).expect("alive");
    task.await.expect("task").expect("parking is not stopping");

    assert!(state.healthy, "the projection went on");
    assert_eq!((state.processed, state.failed), (2, 1));
    let parked = engine.dead_letters().await.expect("list");
    assert_eq!(parked.len(), 1);
    let letter = &parked[0];
    assert_eq!(
        (
            letter.projection.as_str(),
            letter.position,
            letter.event_type.as_str()
        ),
        ("fragile", 2, OrderPlaced::NAME)
    );
    assert_eq!(
        (letter.stream_id.as_str(), letter.version, letter.attempts),
        ("bad", 1, 3)
    );
    assert!(
        letter
            .error
            .contains("cannot total order `bad` (attempt 3)"),
        "{}",
        letter.error
    );
    assert!(!seen.lock().expect("lock").totals.contains_key("bad"));

    // Still failing: stays parked, with the attempts added up.
    let report = engine.replay_dead_letters(&*store).await.expect("replay");
    assert_eq!(
        (report.replayed.as_slice(), report.still_failing.as_slice()),
        (&[][..], &[2][..])
    );
    assert_eq!(engine.dead_letters().await.expect("list")[0].attempts, 6);

    failing.store(false, Ordering::SeqCst);
    let report = engine.replay_dead_letters(&*store).await.expect("replay");
    assert_eq!(report.replayed, [2]);
    assert!(engine.dead_letters().await.expect("list").is_empty());
    let expected = totals_in(&*store).await;
    assert_eq!(seen.lock().expect("lock").totals, expected);
    assert_eq!(engine.state().processed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_with_a_live_projection() {
    eight_concurrent_writers_with_a_live_projection_on(
        Arc::new(InMemoryAsyncEventStore::new()),
        InMemoryProjectionStateStore::new(),
        100,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_apply_every_event_once_and_the_second_takes_over() {
    let state_store = Arc::new(InMemoryProjectionStateStore::new());
    two_runners_apply_every_event_once(
        Arc::new(InMemoryAsyncEventStore::new()),
        Arc::clone(&state_store),
        state_store,
    )
    .await;
}

#[tokio::test]
async fn events_of_types_it_does_not_handle_do_not_stop_it() {
    let store = InMemoryAsyncEventStore::new();
    store
        .save(
            "o-1",
            &[
                placed("o-1", 2),
                Envelope::new(InvoiceSent {
                    order: "o-1".into(),
                })
                .into(),
            ],
            None,
        )
        .await
        .expect("append");
    store
        .save(
            "o-2",
            &[Envelope::new(InvoiceSent {
                order: "o-2".into(),
            })
            .into()],
            None,
        )
        .await
        .expect("append");
    let seen = Shared::default();
    let engine = order_totals("totals", InMemoryProjectionStateStore::new(), &seen);
    let state = engine.rebuild(&store).await.expect("runs through");
    assert_eq!(state.position, 3, "the checkpoint passes the other events");
    assert_eq!(state.processed, 1);
    assert_eq!(state.last_event_position, Some(1));
}

#[test]
fn the_engine_reads_only_the_event_types_it_handles_and_shows_them() {
    let seen = Shared::default();
    let engine = order_totals("totals", InMemoryProjectionStateStore::new(), &seen);
    let filter = engine.event_types();
    assert!(filter.matches("projection-test.OrderPlaced"));
    assert!(
        !filter.matches("projection-test.InvoiceSent"),
        "an unhandled type is not read"
    );
    assert_eq!(
        filter.event_types(),
        Some(&["projection-test.OrderPlaced".to_owned()][..])
    );

    let shown = format!("{engine:?}");
    assert!(shown.starts_with("ProjectionEngine"), "{shown}");
    assert!(shown.contains("\"totals\""), "the name: {shown}");
    assert!(
        shown.contains("projection-test.OrderPlaced"),
        "the handled types: {shown}"
    );
    assert!(shown.contains(engine.runner_id()), "the runner: {shown}");
}

#[tokio::test]
async fn a_rebuild_replays_into_a_reset_read_model_and_handlers_see_the_mode() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    store
        .save("o-1", &[placed("o-1", 2), placed("o-1", 3)], None)
        .await
        .expect("append");
    let seen = Shared::default();
    let engine = Arc::new(order_totals(
        "totals",
        InMemoryProjectionStateStore::new(),
        &seen,
    ));
    let events = store.read_all(1, 10).await.expect("read");
    engine.process_events(&events).await.expect("live");
    seen.lock().expect("lock").totals.insert("stale".into(), 1);

    let state = engine.rebuild(&*store).await.expect("rebuild");
    assert_eq!((state.position, state.processed), (2, 2));
    {
        let mut seen = seen.lock().expect("lock");
        assert_eq!(
            seen.totals,
            HashMap::from([("o-1".to_owned(), 5)]),
            "reset, then rebuilt"
        );
        assert_eq!(
            seen.modes,
            [
                ProjectionMode::Live,
                ProjectionMode::Live,
                ProjectionMode::Rebuild,
                ProjectionMode::Rebuild
            ]
        );
        seen.modes.clear();
    }
    let (stop, task) = spawn_run(Arc::clone(&engine), Arc::clone(&store));
    store
        .save("o-1", &[placed("o-1", 1)], None)
        .await
        .expect("append");
    wait_for_state(&engine, |s| s.position == 3).await;
    stop.send(()).expect("alive");
    task.await.expect("task").expect("clean stop");
    assert_eq!(seen.lock().expect("lock").modes, [ProjectionMode::Live]);
}

#[tokio::test]
async fn a_checkpoint_ahead_of_the_store_is_refused() {
    let store = InMemoryAsyncEventStore::new();
    store
        .save("o-1", &[placed("o-1", 2)], None)
        .await
        .expect("append");
    let state_store = Arc::new(InMemoryProjectionStateStore::new());
    let mut restored = ProjectionState::new("totals");
    restored.position = 40;
    state_store.save(&restored, "someone").await.expect("save");
    let engine = order_totals("totals", Arc::clone(&state_store), &Shared::default());
    let error = engine
        .run(&store, std::future::pending())
        .await
        .expect_err("ahead");
    assert!(
        matches!(&error, ProjectionError::CheckpointAhead { projection, checkpoint: 40 } if projection == "totals"),
        "{error:?}"
    );
    let state = state_store
        .load("totals")
        .await
        .expect("load")
        .expect("saved");
    assert!(!state.healthy);
    assert_eq!(state.position, 40, "nothing skipped or reset");
}

#[tokio::test]
async fn two_handlers_for_one_event_type_are_a_start_up_error() {
    let mut engine = ProjectionEngine::new("twice", InMemoryProjectionStateStore::new());
    engine.on_sync::<OrderPlaced, _, _>(|_event, _context| {});
    engine.on_sync::<OrderPlaced, _, _>(|_event, _context| {});
    let error = engine.initialize().await.expect_err("duplicate");
    assert!(
        matches!(&error, ProjectionError::DuplicateHandler { event_type, .. } if event_type == OrderPlaced::NAME),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_rebuild_switches_once_caught_up_and_loses_nothing_appended_meanwhile() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    for i in 0..10 {
        store
            .save(
                &format!("o-{i}"),
                &[placed(&format!("o-{}", i % 3), i)],
                None,
            )
            .await
            .expect("append");
    }
    let state_store = Arc::new(InMemoryProjectionStateStore::new());
    let (blue_seen, green_seen) = (Shared::default(), Shared::default());
    let blue = Arc::new(order_totals("totals", Arc::clone(&state_store), &blue_seen));
    let (stop_blue, blue_task) = spawn_run(Arc::clone(&blue), Arc::clone(&store));
    wait_for_state(&blue, |s| s.position == 10).await;
    let served = ServedReadModel::new("totals", Arc::clone(&blue_seen));

    // Version 2 builds under its own name while version 1 serves, and
    // events keep coming.
    let green = Arc::new(
        order_totals("totals@2", Arc::clone(&state_store), &green_seen).with_batch_size(4),
    );
    let (stop_green, green_task) = spawn_run(Arc::clone(&green), Arc::clone(&store));
    for i in 10..30 {
        store
            .save(
                &format!("o-{i}"),
                &[placed(&format!("o-{}", i % 3), i)],
                None,
            )
            .await
            .expect("append meanwhile");
        assert!(
            Arc::ptr_eq(&served.serving(), &blue_seen),
            "the old version serves until the switch"
        );
    }
    let head = served
        .switch_when_caught_up(&green, &*store, Arc::clone(&green_seen))
        .await
        .expect("the new version catches up");
    assert_eq!(head, 30);
    assert!(Arc::ptr_eq(&served.serving(), &green_seen));
    assert_eq!(&*served.serving_projection(), "totals@2");
    assert!(green.state().position >= 30);
    let expected = totals_in(&*store).await;
    assert_eq!(
        served.serving().lock().expect("lock").totals,
        expected,
        "at the switch, the new version has every event"
    );
    stop_blue.send(()).expect("blue alive");
    blue_task.await.expect("task").expect("clean stop");

    // After the switch, the new version keeps following.
    store
        .save("o-30", &[placed("o-0", 1000)], None)
        .await
        .expect("append after the switch");
    wait_for_state(&green, |s| s.position == 31).await;
    stop_green.send(()).expect("green alive");
    green_task.await.expect("task").expect("clean stop");
    let expected = totals_in(&*store).await;
    let green_seen = green_seen.lock().expect("lock");
    assert_eq!(green_seen.totals, expected);
    assert_eq!(green_seen.applied.len(), 31);
    assert!(green_seen.applied.values().all(|&n| n == 1));
}

#[tokio::test]
async fn a_switch_to_a_version_that_failed_keeps_the_old_one_serving() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    store
        .save("a", &[placed("a", 1)], None)
        .await
        .expect("append");
    store
        .save("bad", &[placed("bad", 50)], None)
        .await
        .expect("append");
    let (seen, failing) = (Shared::default(), Arc::new(AtomicBool::new(true)));
    let green = failing_engine(
        Arc::new(InMemoryProjectionStateStore::new()),
        &seen,
        &failing,
    );
    green
        .run(&*store, std::future::pending())
        .await
        .expect_err("the new version fails on `bad`");
    let served = ServedReadModel::new("totals", "v1");
    let error = served
        .switch_when_caught_up(&green, &*store, "v2")
        .await
        .expect_err("not caught up");
    assert!(
        matches!(
            &error,
            SwitchError::Unhealthy {
                position: 1,
                head: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(served.serving(), "v1");
}
