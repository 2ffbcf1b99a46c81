//! The projection runner's loop: rebuilds that span many pages, a shutdown
//! that arrives during catch-up, recovery of an unhealthy projection, and
//! how often the runner renews its lease.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::projection::{
    DeadLetter, InMemoryProjectionStateStore, LeaseOutcome, ProjectionEngine, ProjectionState,
    ProjectionStateStore, ProjectionStoreError,
};
use orchestrix_tests::projection_scenarios::*;
use tokio::sync::oneshot;

async fn store_with_orders(count: u64) -> Arc<InMemoryAsyncEventStore> {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    for order in 1..=count {
        let id = format!("o-{order}");
        store
            .save(&id, &[placed(&id, order)], None)
            .await
            .expect("append");
    }
    store
}

#[tokio::test]
async fn a_rebuild_reads_every_page_not_only_the_first() {
    let store = store_with_orders(5).await;
    let seen = Shared::default();
    let engine =
        order_totals("paged", InMemoryProjectionStateStore::new(), &seen).with_batch_size(1);
    let state = engine.rebuild(&*store).await.expect("rebuilds");
    assert_eq!(state.position, 5, "{state:?}");
    assert_eq!(state.processed, 5);
    assert_eq!(seen.lock().expect("lock").applied.len(), 5);
}

#[tokio::test]
async fn a_shutdown_during_catch_up_stops_after_the_current_page() {
    let store = store_with_orders(20).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let stop = Mutex::new(Some(stop));
    let mut engine =
        ProjectionEngine::new("stoppable", InMemoryProjectionStateStore::new()).with_batch_size(1);
    engine.on_sync::<OrderPlaced, _, _>(move |_event, context| {
        if context.position() == 3
            && let Some(stop) = stop.lock().expect("lock").take()
        {
            let _ = stop.send(());
        }
    });
    let state = engine
        .run(&*store, async {
            let _ = stopped.await;
        })
        .await
        .expect("a clean stop");
    assert_eq!(
        state.position, 3,
        "the runner stops after the page during which shutdown came, not at the head"
    );
}

#[tokio::test]
async fn a_run_marks_an_unhealthy_projection_healthy_again() {
    let state_store = Arc::new(InMemoryProjectionStateStore::new());
    let mut unhealthy = ProjectionState::new("recovering");
    unhealthy.healthy = false;
    unhealthy.last_error = Some("the store could not be read".into());
    state_store
        .save(&unhealthy, "an earlier runner")
        .await
        .expect("save");

    let store = Arc::new(InMemoryAsyncEventStore::new());
    let seen = Shared::default();
    let engine = Arc::new(order_totals("recovering", Arc::clone(&state_store), &seen));
    let (stop, task) = spawn_run(Arc::clone(&engine), store);
    // Nothing to apply: only the start of the run can say it is healthy.
    let saved = tokio::time::timeout(WAIT, async {
        loop {
            let saved = state_store
                .load("recovering")
                .await
                .expect("load")
                .expect("saved");
            if saved.healthy {
                return saved;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the run marks the projection healthy in its store");
    stop.send(()).expect("alive");
    let state = task.await.expect("task").expect("clean stop");
    assert!(state.healthy, "{state:?}");
    assert_eq!(saved.position, 0, "nothing was applied: {saved:?}");
}

#[tokio::test]
async fn a_caught_up_projection_restarts_at_the_head() {
    let store = store_with_orders(2).await;
    let state_store = Arc::new(InMemoryProjectionStateStore::new());
    let seen = Shared::default();
    let engine = order_totals("at-head", Arc::clone(&state_store), &seen);
    assert_eq!(engine.rebuild(&*store).await.expect("rebuilds").position, 2);

    // Its checkpoint is the store's last position: a restart is not a
    // checkpoint ahead of the store. (The check comes before the runner
    // looks at its shutdown signal, so an immediate one is enough.)
    let engine = order_totals("at-head", Arc::clone(&state_store), &seen);
    let state = engine
        .run(&*store, std::future::ready(()))
        .await
        .expect("a checkpoint at the head is not ahead of the store");
    assert_eq!(state.position, 2);
    assert!(state.healthy, "{state:?}");
    assert_eq!(seen.lock().expect("lock").applied.len(), 2);
}

/// An in-memory projection state store that counts lease renewals.
#[derive(Debug, Default)]
struct CountingRenewals {
    inner: InMemoryProjectionStateStore,
    renewals: AtomicUsize,
}

#[orchestrix::async_trait]
impl ProjectionStateStore for CountingRenewals {
    async fn initialize(&self) -> Result<(), ProjectionStoreError> {
        self.inner.initialize().await
    }
    async fn load(
        &self,
        projection: &str,
    ) -> Result<Option<ProjectionState>, ProjectionStoreError> {
        self.inner.load(projection).await
    }
    async fn save(&self, state: &ProjectionState, owner: &str) -> Result<(), ProjectionStoreError> {
        self.inner.save(state, owner).await
    }
    async fn acquire_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, ProjectionStoreError> {
        self.inner.acquire_lease(projection, owner, ttl).await
    }
    async fn renew_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), ProjectionStoreError> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        self.inner.renew_lease(projection, owner, ttl).await
    }
    async fn release_lease(
        &self,
        projection: &str,
        owner: &str,
    ) -> Result<(), ProjectionStoreError> {
        self.inner.release_lease(projection, owner).await
    }
    async fn park(&self, letter: &DeadLetter) -> Result<(), ProjectionStoreError> {
        self.inner.park(letter).await
    }
    async fn dead_letters(
        &self,
        projection: &str,
    ) -> Result<Vec<DeadLetter>, ProjectionStoreError> {
        self.inner.dead_letters(projection).await
    }
    async fn remove_dead_letter(
        &self,
        projection: &str,
        position: u64,
    ) -> Result<bool, ProjectionStoreError> {
        self.inner.remove_dead_letter(projection, position).await
    }
}

#[tokio::test]
async fn a_catch_up_shorter_than_a_third_of_the_lease_renews_nothing() {
    let store = store_with_orders(50).await;
    let state_store = Arc::new(CountingRenewals::default());
    let seen = Shared::default();
    // The default lease lasts 30 s: renewed every 10 s, so never here.
    let engine = order_totals("quick", Arc::clone(&state_store), &seen).with_batch_size(1);
    let state = engine.rebuild(&*store).await.expect("rebuilds");
    assert_eq!(state.position, 50);
    assert_eq!(
        state_store.renewals.load(Ordering::SeqCst),
        0,
        "50 pages read well within the lease renew it zero times, not once per page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_runner_keeps_its_lease_past_its_ttl() {
    const TTL: Duration = Duration::from_millis(1500);
    let state_store = Arc::new(InMemoryProjectionStateStore::new());
    let seen = Shared::default();
    let engine =
        Arc::new(order_totals("held", Arc::clone(&state_store), &seen).with_lease_ttl(TTL));
    let store = store_with_orders(1).await;
    let (stop, task) = spawn_run(Arc::clone(&engine), store);
    // The runner holds the lease once it has applied the first event.
    wait_for_state(&engine, |state| state.position == 1).await;
    let runner = engine.runner_id().to_owned();
    let started = tokio::time::Instant::now();
    // For three TTLs, an intruder never finds the lease free: the runner
    // renewed it (every third of the TTL) before it ran out.
    while started.elapsed() < TTL * 3 {
        let outcome = state_store
            .acquire_lease("held", "intruder", TTL)
            .await
            .expect("acquire");
        match outcome {
            LeaseOutcome::Held { owner, .. } => assert_eq!(owner, runner),
            other => panic!(
                "the lease was free after {:?}: {other:?}",
                started.elapsed()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(()).expect("alive");
    task.await.expect("task").expect("clean stop");
}
