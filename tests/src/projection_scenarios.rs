//! Projection scenarios shared by the in-memory, PostgreSQL and SQLite tests: a
//! read model of order totals, helpers that wait on the engine's state (not
//! on sleeps), and scenarios generic over the event store and the
//! projection state store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::projection::{
    LeaseOutcome, ProjectionEngine, ProjectionError, ProjectionMode, ProjectionState,
    ProjectionStateStore,
};
use tokio::sync::{Barrier, oneshot};

/// The event the scenarios project.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "projection-test.OrderPlaced")]
pub struct OrderPlaced {
    /// The order.
    pub order: String,
    /// Its total.
    pub total: u64,
}

/// How long a scenario waits for a projection to get somewhere.
pub const WAIT: Duration = Duration::from_secs(10);

/// An `OrderPlaced`, type-erased.
pub fn placed(order: &str, total: u64) -> AnyEnvelope {
    Envelope::new(OrderPlaced {
        order: order.to_owned(),
        total,
    })
    .into()
}

/// What the test read model saw: the total per order and how many times
/// each global position was applied.
#[derive(Debug, Default)]
pub struct Seen {
    /// Total per order.
    pub totals: HashMap<String, u64>,
    /// How many times each global position was applied.
    pub applied: HashMap<u64, u32>,
    /// The mode of every application, in order.
    pub modes: Vec<ProjectionMode>,
}

/// The read model, shared with the handlers.
pub type Shared = Arc<Mutex<Seen>>;

/// A projection named `name` totalling orders into `seen`.
pub fn order_totals(
    name: &str,
    state_store: impl ProjectionStateStore + 'static,
    seen: &Shared,
) -> ProjectionEngine {
    let mut engine = ProjectionEngine::new(name, state_store);
    let seen_by_handler = Arc::clone(seen);
    engine.on_sync::<OrderPlaced, _, _>(move |event, context| {
        let mut seen = seen_by_handler.lock().expect("lock");
        *seen.totals.entry(event.order.clone()).or_default() += event.total;
        *seen.applied.entry(context.position()).or_default() += 1;
        seen.modes.push(context.mode());
    });
    let seen_by_reset = Arc::clone(seen);
    engine.on_reset(move || {
        let seen = Arc::clone(&seen_by_reset);
        async move {
            let mut seen = seen.lock().expect("lock");
            seen.totals.clear();
            seen.applied.clear();
        }
    });
    engine
}

/// Waits (on the engine's state channel, not a sleep) until `done` holds.
pub async fn wait_for_state(
    engine: &ProjectionEngine,
    done: impl Fn(&ProjectionState) -> bool,
) -> ProjectionState {
    let mut states = engine.watch_state();
    tokio::time::timeout(WAIT, states.wait_for(|state| done(state)))
        .await
        .expect("the projection got there in time")
        .expect("the engine is alive")
        .clone()
}

/// The store's last position.
pub async fn head<S: AsyncEventStore + ?Sized>(store: &S) -> u64 {
    let mut position = 0;
    loop {
        let batch = store.read_all(position + 1, 1000).await.expect("read_all");
        match batch.last() {
            Some(last) => position = last.position,
            None => return position,
        }
    }
}

/// The totals per order, counted from the store by hand.
pub async fn totals_in<S: AsyncEventStore + ?Sized>(store: &S) -> HashMap<String, u64> {
    let mut totals = HashMap::new();
    for event in store.read_all(1, usize::MAX).await.expect("read_all") {
        if let Some(placed) = event.downcast_ref::<OrderPlaced>() {
            *totals.entry(placed.order.clone()).or_default() += placed.total;
        }
    }
    totals
}

/// Runs `engine` on `store` in a task until the returned sender fires.
pub fn spawn_run<S: AsyncEventStore + 'static>(
    engine: Arc<ProjectionEngine>,
    store: Arc<S>,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<ProjectionState, ProjectionError>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        engine
            .run(&*store, async {
                let _ = stopped.await;
            })
            .await
    });
    (stop, task)
}

/// Events before the runner started are caught up, then appends are
/// followed live; the totals equal the sum over the store.
pub async fn catch_up_then_live<S: AsyncEventStore + 'static>(
    store: Arc<S>,
    state_store: impl ProjectionStateStore + 'static,
) {
    store
        .save("o-1", &[placed("o-1", 10), placed("o-1", 5)], None)
        .await
        .expect("append");
    store
        .save("o-2", &[placed("o-2", 7)], None)
        .await
        .expect("append");
    let seen = Shared::default();
    let engine = Arc::new(order_totals("totals", state_store, &seen));
    let (stop, task) = spawn_run(Arc::clone(&engine), Arc::clone(&store));

    wait_for_state(&engine, |s| s.position == 3).await;
    let expected = totals_in(&*store).await;
    assert_eq!(seen.lock().expect("lock").totals, expected, "caught up");

    // Live: appended after the runner caught up.
    store
        .save("o-2", &[placed("o-2", 1)], None)
        .await
        .expect("append");
    store
        .save("o-3", &[placed("o-3", 100)], None)
        .await
        .expect("append");
    let state = wait_for_state(&engine, |s| s.position == 5).await;
    let expected = totals_in(&*store).await;
    assert_eq!(seen.lock().expect("lock").totals, expected, "followed live");
    assert_eq!(state.processed, 5);
    assert_eq!(state.lag(), 0);
    assert!(state.healthy);
    assert_eq!(state.last_event_position, Some(5));

    stop.send(()).expect("runner alive");
    let last = task.await.expect("task").expect("a clean shutdown");
    assert_eq!(last.position, 5);
}

/// Two runners of one projection (each with its own handle on the state
/// store, as two processes have): the one holding the lease applies, the
/// other waits; when the holder dies the other takes over. Every event is
/// applied once.
pub async fn two_runners_apply_every_event_once<S, A, B>(
    store: Arc<S>,
    state_store: A,
    other_state_store: B,
) where
    S: AsyncEventStore + 'static,
    A: ProjectionStateStore + Clone + 'static,
    B: ProjectionStateStore + 'static,
{
    let seen = Shared::default();
    let ttl = Duration::from_millis(300);
    let first = Arc::new(order_totals("totals", state_store.clone(), &seen).with_lease_ttl(ttl));
    let second = Arc::new(order_totals("totals", other_state_store, &seen).with_lease_ttl(ttl));
    let (stop_first, first_task) = spawn_run(Arc::clone(&first), Arc::clone(&store));
    let (stop_second, second_task) = spawn_run(Arc::clone(&second), Arc::clone(&store));

    for i in 0..50 {
        store
            .save(&format!("o-{i}"), &[placed("all", 1)], None)
            .await
            .expect("append");
        tokio::task::yield_now().await;
    }
    // Whichever holds the lease catches up; the other waits.
    tokio::time::timeout(WAIT, async {
        while state_store
            .load("totals")
            .await
            .expect("load")
            .map_or(0, |s| s.position)
            < 50
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("caught up");
    let holder_id = match state_store
        .acquire_lease("totals", "probe", ttl)
        .await
        .expect("probe the lease")
    {
        LeaseOutcome::Held { owner, .. } => owner,
        other => panic!("a runner holds the lease, got {other:?}"),
    };
    let (holder, holder_task, waiter, stop_waiter, waiter_task) = if first.runner_id() == holder_id
    {
        (first, first_task, second, stop_second, second_task)
    } else {
        (second, second_task, first, stop_first, first_task)
    };
    assert_ne!(holder.runner_id(), waiter.runner_id());
    assert_eq!(
        seen.lock().expect("lock").applied.len(),
        50,
        "only the holder applied, each event once"
    );

    // The holder dies (its task is dropped while it waits for appends): its
    // lease lapses and the waiter takes over.
    holder_task.abort();
    drop(holder);
    for i in 50..60 {
        store
            .save(&format!("o-{i}"), &[placed("all", 1)], None)
            .await
            .expect("append");
    }
    wait_for_state(&waiter, |s| s.position == 60).await;
    stop_waiter.send(()).expect("alive");
    waiter_task.await.expect("task").expect("clean stop");

    let seen = seen.lock().expect("lock");
    assert_eq!(seen.applied.len(), 60);
    assert!(
        seen.applied.values().all(|&n| n == 1),
        "every event applied once: {:?}",
        seen.applied
    );
    assert_eq!(seen.totals["all"], 60);
}

/// A runner stopped and started again (a new engine on the same state
/// store, as after a restart) resumes at its checkpoint: events appended
/// while it was stopped are applied, the earlier ones are not applied again.
pub async fn restart_resumes_at_the_checkpoint_without_reapplying<S, P>(
    store: Arc<S>,
    state_store: P,
) where
    S: AsyncEventStore + 'static,
    P: ProjectionStateStore + Clone + 'static,
{
    let seen = Shared::default();
    store
        .save("o-1", &[placed("o-1", 1), placed("o-1", 2)], None)
        .await
        .expect("append");

    let first = Arc::new(order_totals("totals", state_store.clone(), &seen));
    let (stop, task) = spawn_run(Arc::clone(&first), Arc::clone(&store));
    wait_for_state(&first, |s| s.position == 2).await;
    stop.send(()).expect("alive");
    task.await.expect("task").expect("clean stop");

    store
        .save("o-1", &[placed("o-1", 4)], None)
        .await
        .expect("append while stopped");
    let second = Arc::new(order_totals("totals", state_store, &seen));
    assert_eq!(
        second.initialize().await.expect("initialize").position,
        2,
        "the checkpoint survived"
    );
    let (stop, task) = spawn_run(Arc::clone(&second), Arc::clone(&store));
    let state = wait_for_state(&second, |s| s.position == 3).await;
    stop.send(()).expect("alive");
    task.await.expect("task").expect("clean stop");

    let seen = seen.lock().expect("lock");
    assert_eq!(
        seen.applied,
        HashMap::from([(1, 1), (2, 1), (3, 1)]),
        "each event applied once"
    );
    assert_eq!(seen.totals["o-1"], 7);
    assert_eq!(state.processed, 3);
}

/// Eight writers append `per_writer` events each, all at once (they start
/// together at a barrier), while a projection follows live: every event is
/// applied once and the totals equal the sum over the store.
pub async fn eight_concurrent_writers_with_a_live_projection_on<S: AsyncEventStore + 'static>(
    store: Arc<S>,
    state_store: impl ProjectionStateStore + 'static,
    per_writer: u64,
) {
    let seen = Shared::default();
    let engine = Arc::new(order_totals("totals", state_store, &seen).with_batch_size(16));
    let (stop, task) = spawn_run(Arc::clone(&engine), Arc::clone(&store));
    wait_for_state(&engine, |s| s.healthy).await;

    let barrier = Arc::new(Barrier::new(8));
    let writers: Vec<_> = (0..8u64)
        .map(|writer| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                for seq in 0..per_writer {
                    let order = format!("o-{}", seq % 10);
                    store
                        .save(
                            &format!("w-{writer}-{seq}"),
                            &[placed(&order, writer * 1000 + seq)],
                            None,
                        )
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let head = head(&*store).await;
    assert_eq!(head, 8 * per_writer);
    let state = wait_for_state(&engine, |s| s.position == head).await;
    stop.send(()).expect("alive");
    task.await.expect("task").expect("clean stop");

    let expected = totals_in(&*store).await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.totals, expected, "totals equal the sum over the store");
    assert_eq!(u64::try_from(seen.applied.len()).expect("fits"), head);
    assert!(
        seen.applied.values().all(|&n| n == 1),
        "each event applied once"
    );
    assert_eq!(state.processed, head);
}
