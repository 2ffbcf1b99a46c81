//! Saga semantics on the in-memory state store: order, compensation,
//! failure, retries, timeouts, persistence after every transition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::retry::RetryPolicy;
use orchestrix::saga::{
    CreateOutcome, LeaseOutcome, PermanentFailure, SagaStoreError, StepBuilder,
};

static JOURNAL: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());

fn record(key: &str, entry: String) {
    JOURNAL
        .lock()
        .expect("journal")
        .entry(key.to_owned())
        .or_default()
        .push(entry);
}

fn journal(key: &str) -> Vec<String> {
    JOURNAL
        .lock()
        .expect("journal")
        .get(key)
        .cloned()
        .unwrap_or_default()
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Order {
    key: String,
    fail_step: Option<String>,
    fail_compensation: Option<String>,
}

impl Order {
    fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            ..Self::default()
        }
    }
}

/// A step that records "do <name>" and fails if the order says so; its
/// compensation records "undo <name> <output>".
fn builder(name: &'static str) -> StepBuilder<Order, String> {
    SagaStep::builder(
        name,
        move |order: Arc<Order>, _context: StepContext| async move {
            record(&order.key, format!("do {name}"));
            if order.fail_step.as_deref() == Some(name) {
                return Err(format!("{name} refused"));
            }
            Ok(format!("{name}-out"))
        },
    )
    .compensate(
        move |order: Arc<Order>, output: Option<String>, _context: StepContext| async move {
            record(
                &order.key,
                format!("undo {name} {}", output.as_deref().unwrap_or("-")),
            );
            if order.fail_compensation.as_deref() == Some(name) {
                return Err(format!("undo {name} refused"));
            }
            Ok::<(), String>(())
        },
    )
}

fn step(name: &'static str) -> SagaStep<Order> {
    builder(name).build().expect("valid step")
}

fn saga(names: &[&'static str]) -> Saga<Order> {
    Saga::new(
        "test-order",
        names.iter().map(|n| step(n)).collect(),
        Arc::new(InMemorySagaStateStore::new()),
    )
    .expect("a valid saga")
}

fn statuses(state: &SagaState) -> Vec<StepStatus> {
    state.steps.iter().map(|s| s.status).collect()
}

#[tokio::test]
async fn all_steps_succeed_in_order() {
    let saga = saga(&["a", "b", "c"]);
    saga.initialize().await.expect("initialize");
    let state = saga.execute(Order::new("all-succeed")).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Completed);
    assert_eq!(journal("all-succeed"), ["do a", "do b", "do c"]);
    assert_eq!(statuses(&state), [StepStatus::Completed; 3]);
    for step in &state.steps {
        assert_eq!(step.attempts, 1);
        assert_eq!(
            step.output,
            Some(serde_json::json!(format!("{}-out", step.name)))
        );
        assert!(step.started_at.is_some() && step.finished_at.is_some());
        assert_eq!(step.error, None);
    }
    let stored = saga
        .state_store()
        .load(&state.saga_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.status, SagaStatus::Completed);
    assert_eq!(stored.lease, None, "the lease is given up at the end");
}

#[tokio::test]
async fn failure_at_step_k_compensates_the_earlier_steps_in_reverse() {
    let saga = saga(&["s1", "s2", "s3", "s4", "s5"]);
    let order = Order {
        fail_step: Some("s4".into()),
        ..Order::new("fail-at-4")
    };
    let state = saga.execute(order).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(
        journal("fail-at-4"),
        [
            "do s1",
            "do s2",
            "do s3",
            "do s4",
            "undo s3 s3-out",
            "undo s2 s2-out",
            "undo s1 s1-out"
        ]
    );
    use StepStatus::*;
    assert_eq!(
        statuses(&state),
        [Compensated, Compensated, Compensated, Failed, Pending]
    );
    assert_eq!(state.steps[3].error.as_deref(), Some("s4 refused"));
    assert!(
        state
            .error
            .as_deref()
            .is_some_and(|e| e.contains("s4") && e.contains("s4 refused"))
    );
    assert_eq!(state.compensation_error, None);
    assert!(state.steps[0].compensated_at.is_some());
}

#[tokio::test]
async fn failure_at_the_first_step_compensates_nothing() {
    let saga = saga(&["s1", "s2"]);
    let order = Order {
        fail_step: Some("s1".into()),
        ..Order::new("fail-at-1")
    };
    let state = saga.execute(order).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(journal("fail-at-1"), ["do s1"]);
    assert_eq!(statuses(&state), [StepStatus::Failed, StepStatus::Pending]);
}

#[tokio::test]
async fn a_failing_compensation_fails_the_saga_and_keeps_both_errors() {
    let saga = saga(&["s1", "s2", "s3"]);
    let order = Order {
        fail_step: Some("s3".into()),
        fail_compensation: Some("s2".into()),
        ..Order::new("compensation-fails")
    };
    let state = saga.execute(order).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Failed);
    assert!(
        state
            .error
            .as_deref()
            .is_some_and(|e| e.contains("s3 refused")),
        "{:?}",
        state.error
    );
    assert!(
        state
            .compensation_error
            .as_deref()
            .is_some_and(|e| e.contains("s2") && e.contains("undo s2 refused")),
        "{:?}",
        state.compensation_error
    );
    assert_eq!(
        state.steps[1].compensation_error.as_deref(),
        Some("undo s2 refused")
    );
    assert_eq!(state.steps[2].error.as_deref(), Some("s3 refused"));
    use StepStatus::*;
    assert_eq!(statuses(&state), [Completed, CompensationFailed, Failed]);
    // Compensation stops at the failure: s1 is left for a person.
    assert_eq!(
        journal("compensation-fails"),
        ["do s1", "do s2", "do s3", "undo s2 s2-out"]
    );
}

static FLAKY: Mutex<BTreeMap<String, u32>> = Mutex::new(BTreeMap::new());

/// Fails until it has been called `order.key`'s number of times... keyed by the order.
async fn flaky(order: &Order, context: &StepContext) -> Result<u32, StepFailure> {
    let calls = {
        let mut flaky = FLAKY.lock().expect("flaky");
        let calls = flaky.entry(order.key.clone()).or_default();
        *calls += 1;
        *calls
    };
    assert_eq!(calls, context.attempt(), "the context counts attempts");
    if calls < 3 {
        Err(format!("attempt {calls} failed").into())
    } else {
        Ok(calls)
    }
}

#[tokio::test(start_paused = true)]
async fn retries_count_attempts() {
    let store: Arc<dyn SagaStateStore> = Arc::new(InMemorySagaStateStore::new());
    let retried = SagaStep::builder("flaky", flaky)
        .retry(RetryPolicy::exponential(Duration::from_millis(100), 5))
        .build()
        .expect("step");
    let saga = Saga::new("retry", vec![retried], Arc::clone(&store)).expect("a valid saga");
    let state = saga
        .execute(Order::new("retry-enough"))
        .await
        .expect("runs");
    assert_eq!(state.status, SagaStatus::Completed);
    assert_eq!(state.steps[0].attempts, 3);
    assert_eq!(state.steps[0].output, Some(serde_json::json!(3)));

    let too_few = SagaStep::builder("flaky", flaky)
        .retry(RetryPolicy::fixed(Duration::from_millis(100), 2))
        .build()
        .expect("step");
    let saga = Saga::new("retry", vec![too_few], store).expect("a valid saga");
    let state = saga
        .execute(Order::new("retry-too-few"))
        .await
        .expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(state.steps[0].attempts, 2);
    assert_eq!(state.steps[0].status, StepStatus::Failed);
    assert_eq!(state.steps[0].error.as_deref(), Some("attempt 2 failed"));
}

async fn slow(order: &Order) -> Result<(), StepFailure> {
    record(&order.key, "slow started".into());
    tokio::time::sleep(Duration::from_secs(3600)).await;
    record(&order.key, "slow finished".into());
    Ok(())
}

async fn undo_slow(order: &Order, output: Option<()>) -> Result<(), StepFailure> {
    record(&order.key, format!("undo slow {output:?}"));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_timeout_fails_the_step_and_its_compensation_runs() {
    let timed = SagaStep::builder("slow", slow)
        .compensate(undo_slow)
        .timeout(Duration::from_millis(500))
        .build()
        .expect("step");
    let saga = Saga::new(
        "timeout",
        vec![step("first"), timed],
        Arc::new(InMemorySagaStateStore::new()),
    )
    .expect("a valid saga");
    let state = saga.execute(Order::new("timeout")).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(state.steps[1].status, StepStatus::Compensated);
    assert!(state.steps[1].outcome_unknown);
    assert_eq!(
        state.steps[1].error.as_deref(),
        Some("timed out after 500 ms")
    );
    assert_eq!(
        journal("timeout"),
        [
            "do first",
            "slow started",
            "undo slow None",
            "undo first first-out"
        ]
    );
}

fn sync_step(order: &Order) -> Result<u8, StepFailure> {
    record(&order.key, "sync".into());
    Ok(1)
}

fn sync_step_with_context(order: &Order, context: &StepContext) -> Result<String, StepFailure> {
    record(
        &order.key,
        format!("sync-ctx {}", context.idempotency_key()),
    );
    Ok(context.idempotency_key())
}

async fn async_step_with_context(order: &Order, context: &StepContext) -> Result<(), StepFailure> {
    record(
        &order.key,
        format!("async-ctx {} {}", context.step_name(), context.attempt()),
    );
    Err("stop here".into())
}

fn undo_sync(order: &Order, output: Option<u8>) -> Result<(), StepFailure> {
    record(&order.key, format!("undo sync {output:?}"));
    Ok(())
}

async fn undo_with_context(
    order: &Order,
    output: Option<String>,
    context: &StepContext,
) -> Result<(), StepFailure> {
    record(
        &order.key,
        format!(
            "undo ctx {output:?} {} {:?}",
            context.idempotency_key(),
            context.phase()
        ),
    );
    Ok(())
}

#[tokio::test]
async fn sync_and_async_fns_with_and_without_context_are_steps() {
    let steps = vec![
        SagaStep::builder("sync", sync_step)
            .compensate(undo_sync)
            .build()
            .expect("step"),
        SagaStep::builder("sync-ctx", sync_step_with_context)
            .compensate(undo_with_context)
            .build()
            .expect("step"),
        SagaStep::builder("async-ctx", async_step_with_context)
            .build()
            .expect("step"),
    ];
    let saga =
        Saga::new("forms", steps, Arc::new(InMemorySagaStateStore::new())).expect("a valid saga");
    let state = saga
        .execute_with_id("forms-1", Order::new("forms"))
        .await
        .expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(
        journal("forms"),
        [
            "sync",
            "sync-ctx forms-1/sync-ctx",
            "async-ctx async-ctx 1",
            "undo ctx Some(\"forms-1/sync-ctx\") forms-1/sync-ctx/compensate Compensate",
            "undo sync Some(1)",
        ]
    );
}

fn panics(_order: &Order) -> Result<(), StepFailure> {
    panic!("boom in step")
}

#[tokio::test]
async fn a_panicking_step_fails_like_an_error() {
    let steps = vec![
        step("before"),
        SagaStep::builder("panics", panics).build().expect("step"),
    ];
    let saga =
        Saga::new("panic", steps, Arc::new(InMemorySagaStateStore::new())).expect("a valid saga");
    let state = saga.execute(Order::new("panic")).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(
        state.steps[1].error.as_deref(),
        Some("panicked: boom in step")
    );
    assert_eq!(journal("panic"), ["do before", "undo before before-out"]);
}

#[tokio::test]
async fn bad_definitions_are_refused() {
    let Err(error) = Saga::new(
        "test-order",
        vec![step("same"), step("same")],
        Arc::new(InMemorySagaStateStore::new()),
    ) else {
        panic!("Saga::new must refuse two steps named `same`");
    };
    assert!(
        matches!(error, SagaError::DuplicateStepName { ref step, .. } if step == "same"),
        "{error}"
    );
    assert!(error.to_string().contains("test-order"));
    assert!(builder("").build().is_err(), "an empty name is refused");
    assert!(
        builder("x").timeout(Duration::ZERO).build().is_err(),
        "a zero timeout is refused"
    );
}

/// A store that records the saga and step statuses of every write.
#[derive(Debug, Default)]
struct RecordingStore {
    inner: InMemorySagaStateStore,
    writes: Mutex<Vec<(SagaStatus, Vec<StepStatus>)>>,
    /// Lease renewals asked for.
    renewals: AtomicUsize,
    /// Makes every renewal fail as if the database were unreachable.
    renewals_fail: AtomicBool,
    /// How often the store was asked to prepare itself.
    initialized: AtomicUsize,
    /// Makes `load` answer with what another process read just before the
    /// saga finished: the stored state, still running.
    loads_stale: AtomicBool,
}

#[orchestrix::__private::async_trait::async_trait]
impl SagaStateStore for RecordingStore {
    async fn initialize(&self) -> Result<(), SagaStoreError> {
        self.initialized.fetch_add(1, Ordering::SeqCst);
        self.inner.initialize().await
    }
    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        self.writes
            .lock()
            .expect("writes")
            .push((state.status, statuses(state)));
        self.inner.create(state, owner, ttl).await
    }
    async fn load(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError> {
        let mut loaded = self.inner.load(saga_id).await?;
        if self.loads_stale.load(Ordering::SeqCst)
            && let Some(state) = &mut loaded
        {
            state.status = SagaStatus::Running;
        }
        Ok(loaded)
    }
    async fn acquire_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, SagaStoreError> {
        self.inner.acquire_lease(saga_id, owner, ttl).await
    }
    async fn save(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.writes
            .lock()
            .expect("writes")
            .push((state.status, statuses(state)));
        self.inner.save(state, owner, ttl).await
    }
    async fn renew_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        if self.renewals_fail.load(Ordering::SeqCst) {
            return Err(SagaStoreError::Unavailable {
                operation: "renew a lease",
                target: "test".into(),
                source: "connection refused".into(),
            });
        }
        self.inner.renew_lease(saga_id, owner, ttl).await
    }
    async fn release_lease(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError> {
        self.inner.release_lease(saga_id, owner).await
    }
    async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError> {
        self.inner.unfinished().await
    }
}

#[tokio::test]
async fn the_state_is_persisted_after_every_transition() {
    let store = Arc::new(RecordingStore::default());
    let saga =
        Saga::new("persist", vec![step("a"), step("b")], store.clone()).expect("a valid saga");
    let order = Order {
        fail_step: Some("b".into()),
        ..Order::new("persist")
    };
    saga.execute(order).await.expect("runs");
    use SagaStatus::{Compensated as SC, Compensating as SCing, Running as R};
    use StepStatus::*;
    let writes = store.writes.lock().expect("writes").clone();
    assert_eq!(
        writes,
        [
            (R, vec![Pending, Pending]),
            (R, vec![Running, Pending]),
            (R, vec![Completed, Pending]),
            (R, vec![Completed, Running]),
            (SCing, vec![Completed, Failed]),
            (SCing, vec![StepStatus::Compensating, Failed]),
            (SCing, vec![StepStatus::Compensated, Failed]),
            (SC, vec![StepStatus::Compensated, Failed]),
        ]
    );
}

#[tokio::test]
async fn a_saga_shows_its_definition_and_prepares_its_store() {
    let store = Arc::new(RecordingStore::default());
    let saga = Saga::new(
        "shown",
        vec![step("reserve"), step("charge")],
        store.clone(),
    )
    .expect("a valid saga")
    .with_owner("worker-7");
    let names: Vec<&str> = saga.steps().iter().map(|step| step.name()).collect();
    assert_eq!(names, ["reserve", "charge"]);
    let shown = format!("{saga:?}");
    for part in [
        "Saga",
        "shown",
        "reserve",
        "charge",
        "worker-7",
        "lease_ttl",
    ] {
        assert!(shown.contains(part), "`{part}` missing from {shown}");
    }
    assert_eq!(store.initialized.load(Ordering::SeqCst), 0);
    saga.initialize().await.expect("initialize");
    assert_eq!(
        store.initialized.load(Ordering::SeqCst),
        1,
        "initialize prepares the state store"
    );
}

#[tokio::test]
async fn a_saga_found_finished_once_its_lease_is_taken_is_returned_without_the_lease() {
    // Another process finished the saga between this resumer's read and
    // its taking of the lease: the finished state is returned as is, and
    // the lease just taken is given back.
    let store = Arc::new(RecordingStore::default());
    let saga = Saga::new("finished", vec![step("a")], store.clone()).expect("a valid saga");
    let done = saga
        .execute_with_id("f-1", Order::new("finished-elsewhere"))
        .await
        .expect("runs");
    assert_eq!(done.status, SagaStatus::Completed);
    store.loads_stale.store(true, Ordering::SeqCst);
    let resumed = saga.resume("f-1").await.expect("resumes");
    assert_eq!(resumed.status, SagaStatus::Completed);
    assert_eq!(resumed.lease, None, "the returned state holds no lease");
    assert_eq!(journal("finished-elsewhere"), ["do a"], "nothing ran again");
    let stored = store
        .inner
        .load("f-1")
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.lease, None, "the lease taken to look is released");
}

#[tokio::test]
async fn a_saga_held_by_another_owner_is_busy_and_names_that_owners_run() {
    let store: Arc<dyn SagaStateStore> = Arc::new(InMemorySagaStateStore::new());
    let hanging = SagaStep::builder("hang", |_: Arc<Order>, _: StepContext| async {
        std::future::pending::<()>().await;
        Ok::<(), StepFailure>(())
    })
    .build()
    .expect("step");
    let first = Saga::new("held", vec![hanging], Arc::clone(&store))
        .expect("a valid saga")
        .with_owner("first");
    let run = tokio::spawn(async move { first.execute_with_id("h-1", Order::new("held")).await });
    let holder = loop {
        let stored = store.load("h-1").await.expect("load");
        if let Some(lease) = stored.and_then(|state| state.lease) {
            break lease.owner;
        }
        tokio::task::yield_now().await;
    };
    assert!(
        holder.starts_with("first#") && holder.len() > "first#".len(),
        "a run's lease names its owner and the run: {holder}"
    );
    let second = Saga::new("held", vec![step("hang")], Arc::clone(&store))
        .expect("a valid saga")
        .with_owner("second");
    let error = second.resume("h-1").await.expect_err("the lease is held");
    assert!(
        matches!(error, SagaError::Busy { ref owner, .. } if *owner == holder),
        "{error}"
    );
    run.abort();
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test]
async fn a_saga_runs_on_a_spawned_task() {
    // `execute` and `resume` futures are `Send`: an event handler can spawn them.
    let saga = Arc::new(saga(&["spawned"]));
    let running = Arc::clone(&saga);
    let state = tokio::spawn(assert_send(async move {
        running.execute(Order::new("spawned")).await
    }))
    .await
    .expect("task")
    .expect("runs");
    assert_eq!(state.status, SagaStatus::Completed);
    let resumed = tokio::spawn(assert_send(
        async move { saga.resume(&state.saga_id).await },
    ))
    .await
    .expect("task")
    .expect("resumes");
    assert_eq!(
        resumed.status,
        SagaStatus::Completed,
        "a finished saga is returned as is"
    );
    assert_eq!(journal("spawned"), ["do spawned"]);
}

/// Where the step of `a_blocking_sync_step_times_out_and_is_compensated`
/// is: whether it has started, and whether it may return.
struct Gate {
    started: bool,
    open: bool,
}

/// The step blocks its thread until the test has seen the saga end (the
/// gate opens), so it cannot finish before its timeout fires, however late
/// the threads are scheduled; its compensation waits until it has started,
/// so the journal's order does not depend on when the blocking pool runs
/// it.
static BLOCKING_STEP: (Mutex<Gate>, Condvar) = (
    Mutex::new(Gate {
        started: false,
        open: false,
    }),
    Condvar::new(),
);

/// The bound of the waits on [`BLOCKING_STEP`]: it only turns a run that
/// never starts the step, or that waits for it to return (the bugs the
/// test is for), into a failed assertion instead of a hang.
const GATE_BOUND: Duration = Duration::from_secs(60);

/// Opens [`BLOCKING_STEP`]'s gate when dropped (after a failed assertion
/// too), so the blocked thread ends and the runtime can shut down.
struct OpensTheGate;

impl Drop for OpensTheGate {
    fn drop(&mut self) {
        let (gate, changed) = &BLOCKING_STEP;
        gate.lock().unwrap_or_else(PoisonError::into_inner).open = true;
        changed.notify_all();
    }
}

fn blocks(order: &Order) -> Result<(), StepFailure> {
    record(&order.key, "blocks".into());
    let (gate, changed) = &BLOCKING_STEP;
    let mut state = gate.lock().unwrap_or_else(PoisonError::into_inner);
    state.started = true;
    changed.notify_all();
    drop(
        changed
            .wait_timeout_while(state, GATE_BOUND, |state| !state.open)
            .unwrap_or_else(PoisonError::into_inner),
    );
    Ok(())
}

/// Async, and done at its first poll (it blocks the runtime's thread
/// until the step has started, which the blocking pool does on a thread of
/// its own): the step's 20 ms timeout, which bounds its compensation too,
/// cannot cut it however late the threads are scheduled.
async fn undo_blocks(order: &Order, output: Option<()>) -> Result<(), StepFailure> {
    let (gate, changed) = &BLOCKING_STEP;
    drop(
        changed
            .wait_timeout_while(
                gate.lock().unwrap_or_else(PoisonError::into_inner),
                GATE_BOUND,
                |state| !state.started,
            )
            .unwrap_or_else(PoisonError::into_inner),
    );
    record(&order.key, format!("undo blocks {output:?}"));
    Ok(())
}

/// Real time on purpose (a blocked thread does not see a paused clock, and
/// a paused clock does not advance while a blocking task runs); the step
/// blocks until the saga has ended, so its timeout always fires first.
#[tokio::test]
async fn a_blocking_sync_step_times_out_and_is_compensated() {
    let _opens = OpensTheGate;
    let steps = vec![
        SagaStep::builder("blocks", blocks)
            .compensate(undo_blocks)
            .timeout(Duration::from_millis(20))
            .build()
            .expect("step"),
    ];
    let saga = Saga::new("blocking", steps, Arc::new(InMemorySagaStateStore::new()))
        .expect("a valid saga");
    let state = saga
        .execute_with_id("blocking-1", Order::new("blocking"))
        .await
        .expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(state.steps[0].status, StepStatus::Compensated);
    assert!(state.steps[0].outcome_unknown);
    assert_eq!(journal("blocking"), ["blocks", "undo blocks None"]);
}

#[tokio::test(start_paused = true)]
async fn the_lease_is_renewed_while_a_retry_waits() {
    let store = Arc::new(RecordingStore::default());
    let failing = builder("a")
        .retry(RetryPolicy::fixed(Duration::from_secs(10), 2))
        .build()
        .expect("step");
    let saga = Saga::new("backoff", vec![failing], store.clone())
        .expect("a valid saga")
        .with_lease_ttl(Duration::from_secs(3));
    let order = Order {
        fail_step: Some("a".into()),
        ..Order::new("backoff")
    };
    let state = saga.execute(order).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(state.steps[0].attempts, 2);
    // The attempts themselves finish at once: every renewal happened while
    // waiting out the 10 s delay under a 3 s lease.
    assert!(store.renewals.load(Ordering::SeqCst) >= 3);
}

#[tokio::test(start_paused = true)]
async fn a_saga_stops_when_its_lease_cannot_be_renewed_in_time() {
    let store = Arc::new(RecordingStore::default());
    store.renewals_fail.store(true, Ordering::SeqCst);
    let hangs = SagaStep::builder("hangs", |_: Arc<Order>, _: StepContext| async {
        std::future::pending::<Result<(), StepFailure>>().await
    })
    .build()
    .expect("step");
    let saga = Saga::new("renewal", vec![hangs], store.clone())
        .expect("a valid saga")
        .with_lease_ttl(Duration::from_secs(3));
    let run = tokio::time::timeout(
        Duration::from_secs(3600),
        saga.execute_with_id("renewal-1", Order::new("renewal")),
    )
    .await
    .expect("the saga stops instead of running on without a lease");
    let error = run.expect_err("the lease could not be kept");
    assert!(
        matches!(
            error,
            SagaError::Store(SagaStoreError::LeaseNotRenewed { ref saga_id, .. }) if saga_id == "renewal-1"
        ),
        "{error}"
    );
    // Due after 1 s (a third of the TTL), then retried every 250 ms until
    // the lease less its default 1 s safety margin runs out at 2 s.
    assert_eq!(store.renewals.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_closure_panicking_before_its_future_fails_the_step() {
    let panics_early = SagaStep::builder("panics-early", |order: Arc<Order>, _: StepContext| {
        if order.fail_step.as_deref() == Some("panics-early") {
            panic!("no future for you");
        }
        std::future::ready(Ok::<(), StepFailure>(()))
    })
    .build()
    .expect("step");
    let saga = Saga::new(
        "panics-early",
        vec![step("a"), panics_early],
        Arc::new(InMemorySagaStateStore::new()),
    )
    .expect("a valid saga");
    let order = Order {
        fail_step: Some("panics-early".into()),
        ..Order::new("panics-early")
    };
    let state = saga.execute(order).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(
        statuses(&state),
        [StepStatus::Compensated, StepStatus::Failed]
    );
    let error = state.steps[1].error.as_deref().unwrap_or_default();
    assert!(error.contains("no future for you"), "{error}");
    assert_eq!(journal("panics-early"), ["do a", "undo a a-out"]);
}

#[derive(Debug, thiserror::Error)]
#[error("the payment step failed")]
struct PaymentFailed(#[source] PermanentFailure);

/// A step that always fails, as `kind` says: permanently, permanently
/// under a wrapping error of its own, or transiently.
fn always_fails(kind: &'static str) -> SagaStep<Order> {
    SagaStep::builder("charge", move |_: Arc<Order>, _: StepContext| async move {
        let error: StepFailure = match kind {
            "permanent" => PermanentFailure::new("card declined").into(),
            "wrapped" => PaymentFailed(PermanentFailure::new("card declined")).into(),
            _ => "gateway timed out".into(),
        };
        Err::<(), StepFailure>(error)
    })
    .retry(RetryPolicy::fixed(Duration::from_secs(1), 4))
    .build()
    .expect("step")
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_not_retried_and_a_transient_one_is() {
    for (kind, attempts, error) in [
        ("permanent", 1, "card declined"),
        ("wrapped", 1, "the payment step failed: card declined"),
        ("transient", 4, "gateway timed out"),
    ] {
        let saga = Saga::new(
            "permanent",
            vec![step("a"), always_fails(kind)],
            Arc::new(InMemorySagaStateStore::new()),
        )
        .expect("a valid saga");
        let state = saga
            .execute(Order::new(&format!("permanent-{kind}")))
            .await
            .expect("runs");
        assert_eq!(state.status, SagaStatus::Compensated, "{kind}");
        assert_eq!(state.steps[1].attempts, attempts, "{kind}");
        assert_eq!(state.steps[1].error.as_deref(), Some(error), "{kind}");
        assert_eq!(state.steps[0].status, StepStatus::Compensated, "{kind}");
    }
}

/// A compensation that fails `failures` times (permanently if asked), and
/// records the attempt number its context gives it.
fn compensated_by_flaky_undo(key: &'static str, failures: u32, permanent: bool) -> SagaStep<Order> {
    SagaStep::builder("reserve", |_: Arc<Order>, _: StepContext| async {
        Ok::<u32, StepFailure>(7)
    })
    .compensate(
        move |_: Arc<Order>, output: Option<u32>, context: StepContext| async move {
            record(
                key,
                format!("undo {output:?} attempt {}", context.attempt()),
            );
            assert!(context.is_compensation());
            if context.attempt() <= failures {
                let error: StepFailure = if permanent {
                    PermanentFailure::new("stock system refused").into()
                } else {
                    "stock system busy".into()
                };
                return Err(error);
            }
            Ok(())
        },
    )
    .retry(RetryPolicy::fixed(Duration::from_secs(1), 3))
    .build()
    .expect("step")
}

#[tokio::test(start_paused = true)]
async fn compensation_attempts_are_counted_and_given_to_the_compensation() {
    let saga = Saga::new(
        "undo-retries",
        vec![
            compensated_by_flaky_undo("undo-retries", 2, false),
            always_fails("permanent"),
        ],
        Arc::new(InMemorySagaStateStore::new()),
    )
    .expect("a valid saga");
    let state = saga
        .execute(Order::new("undo-retries"))
        .await
        .expect("runs");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(state.steps[0].compensation_attempts, 3);
    assert_eq!(state.steps[0].attempts, 1);
    assert_eq!(
        state.steps[0].compensation_error, None,
        "cleared on success"
    );
    assert_eq!(
        journal("undo-retries"),
        [
            "undo Some(7) attempt 1",
            "undo Some(7) attempt 2",
            "undo Some(7) attempt 3"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanently_failing_compensation_is_not_retried() {
    let saga = Saga::new(
        "undo-refused",
        vec![
            compensated_by_flaky_undo("undo-refused", 5, true),
            always_fails("permanent"),
        ],
        Arc::new(InMemorySagaStateStore::new()),
    )
    .expect("a valid saga");
    let state = saga
        .execute(Order::new("undo-refused"))
        .await
        .expect("runs");
    assert_eq!(state.status, SagaStatus::Failed);
    assert_eq!(state.steps[0].status, StepStatus::CompensationFailed);
    assert_eq!(state.steps[0].compensation_attempts, 1);
    assert_eq!(
        state.steps[0].compensation_error.as_deref(),
        Some("stock system refused")
    );
    assert_eq!(journal("undo-refused"), ["undo Some(7) attempt 1"]);
}

#[derive(Debug, thiserror::Error)]
#[error("could not reach the warehouse")]
struct Unreachable(#[source] std::io::Error);

#[tokio::test]
async fn a_step_error_is_stored_with_its_cause_chain() {
    let step = SagaStep::builder("ship", |_: Arc<Order>, _: StepContext| async {
        Err::<(), Unreachable>(Unreachable(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        )))
    })
    .build()
    .expect("step");
    let saga = Saga::new("chain", vec![step], Arc::new(InMemorySagaStateStore::new()))
        .expect("a valid saga");
    let state = saga.execute(Order::new("chain")).await.expect("runs");
    assert_eq!(
        state.steps[0].error.as_deref(),
        Some("could not reach the warehouse: connection refused")
    );
    assert_eq!(
        state.error.as_deref(),
        Some("step `ship` failed: could not reach the warehouse: connection refused")
    );
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Reading {
    celsius: f64,
}

fn measuring_saga(output: f64) -> Saga<Reading> {
    let measure =
        SagaStep::builder(
            "measure",
            move |_reading: Arc<Reading>, _context: StepContext| async move {
                Ok::<f64, String>(output)
            },
        )
        .build()
        .expect("valid step");
    Saga::new(
        "test-reading",
        vec![measure],
        Arc::new(InMemorySagaStateStore::new()),
    )
    .expect("a valid saga")
}

#[tokio::test]
async fn non_finite_floats_in_saga_data_are_refused_before_anything_is_stored() {
    let saga = measuring_saga(1.0);
    saga.initialize().await.expect("initialize");
    let error = saga
        .execute_with_id("nan-data", Reading { celsius: f64::NAN })
        .await
        .expect_err("NaN data would be stored as null");
    assert!(
        matches!(&error, SagaError::Data { saga_id, direction: "serialize from", .. } if saga_id == "nan-data"),
        "{error:?}"
    );
    assert_eq!(
        saga.state_store().load("nan-data").await.expect("load"),
        None
    );
    let state = saga
        .execute_with_id("finite-data", Reading { celsius: 21.5 })
        .await
        .expect("finite data runs");
    assert_eq!(state.status, SagaStatus::Completed);
    assert_eq!(state.steps[0].output, Some(serde_json::json!(1.0)));
}

#[tokio::test]
async fn a_non_finite_step_output_fails_the_step_instead_of_storing_null() {
    let saga = measuring_saga(f64::INFINITY);
    saga.initialize().await.expect("initialize");
    let state = saga
        .execute_with_id("nan-output", Reading { celsius: 1.0 })
        .await
        .expect("the saga runs to an end");
    assert_ne!(state.status, SagaStatus::Completed, "{state:?}");
    let step = &state.steps[0];
    assert_eq!(step.output, None, "{step:?}");
    assert!(
        step.error
            .as_deref()
            .is_some_and(|error| error.contains("NaN or infinite")),
        "{step:?}"
    );
}
