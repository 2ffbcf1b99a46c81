//! The lease promise: a run stops its step before its lease can run out,
//! whatever its renewals do (answer slowly, hang, fail late), so a second
//! resumer that takes the saga over once the lease expired never runs it
//! at the same time as the first.
//!
//! The stop tests run on tokio's paused clock (deterministic instants); the
//! takeover tests run in real time on both saga stores (in memory and
//! PostgreSQL, whose lease expiry is on the database's clock) and check the
//! steps' own records.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::saga::{CreateOutcome, LeaseOutcome, PostgreSQLSagaStateStore, SagaStoreError};
use orchestrix_tests::postgres::{database_url, pool, unique_schema};
use tokio::time::Instant;

/// What a renewal of [`Renewals`] does.
#[derive(Clone, Copy, Debug)]
enum Renewal {
    /// Answers (from the inner store) after this long.
    Slow(Duration),
    /// Never answers.
    Hangs,
    /// Fails after this long.
    FailsAfter(Duration),
    /// Answers at once that another owner holds the lease.
    Lost,
}

/// A store whose lease renewals behave as [`Renewal`] says; the rest is
/// the inner store's.
#[derive(Debug)]
struct Renewals {
    inner: Arc<dyn SagaStateStore>,
    renewal: Renewal,
    asked: AtomicUsize,
    /// How long the process stalls (the paused clock jumps) right after
    /// the store confirmed the save that marks the first step running for
    /// its first attempt, before the run gets to start that step.
    stall_before_first_step: Option<Duration>,
}

impl Renewals {
    fn new(inner: Arc<dyn SagaStateStore>, renewal: Renewal) -> Arc<Self> {
        Arc::new(Self {
            inner,
            renewal,
            asked: AtomicUsize::new(0),
            stall_before_first_step: None,
        })
    }

    fn stalling(inner: Arc<dyn SagaStateStore>, renewal: Renewal, stall: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner,
            renewal,
            asked: AtomicUsize::new(0),
            stall_before_first_step: Some(stall),
        })
    }
}

#[orchestrix::__private::async_trait::async_trait]
impl SagaStateStore for Renewals {
    async fn initialize(&self) -> Result<(), SagaStoreError> {
        self.inner.initialize().await
    }
    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        self.inner.create(state, owner, ttl).await
    }
    async fn load(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError> {
        self.inner.load(saga_id).await
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
        self.inner.save(state, owner, ttl).await?;
        let first_step_starts = state
            .steps
            .first()
            .is_some_and(|step| step.status == StepStatus::Running && step.attempts == 1);
        if let (Some(stall), true) = (self.stall_before_first_step, first_step_starts) {
            // The store has answered; the process then does not run for
            // `stall` (descheduled, a long blocking call, a paused VM).
            tokio::time::advance(stall).await;
        }
        Ok(())
    }
    async fn renew_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        match self.renewal {
            Renewal::Slow(delay) => tokio::time::sleep(delay).await,
            Renewal::Hangs => std::future::pending::<()>().await,
            Renewal::FailsAfter(delay) => {
                tokio::time::sleep(delay).await;
                return Err(SagaStoreError::Unavailable {
                    operation: "renew a lease",
                    target: "test".into(),
                    source: "connection reset".into(),
                });
            }
            Renewal::Lost => {
                return Err(SagaStoreError::LeaseLost {
                    saga_id: saga_id.to_owned(),
                    owner: "another process".to_owned(),
                });
            }
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

#[derive(Debug, Serialize, Deserialize)]
struct Job;

/// What the steps record about themselves: when each attempt started and
/// ended (completed, or its future dropped), and whether one ever started
/// while another was still running.
#[derive(Debug, Default)]
struct Probe {
    running: AtomicUsize,
    overlaps: AtomicUsize,
    spans: Mutex<Vec<(u32, Instant, Option<Instant>)>>,
}

impl Probe {
    fn started(self: &Arc<Self>, attempt: u32) -> Running {
        if self.running.fetch_add(1, Ordering::SeqCst) > 0 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let mut spans = self.spans.lock().expect("spans");
        spans.push((attempt, Instant::now(), None));
        Running {
            probe: Arc::clone(self),
            index: spans.len() - 1,
        }
    }

    fn spans(&self) -> Vec<(u32, Instant, Option<Instant>)> {
        self.spans.lock().expect("spans").clone()
    }
}

/// Marks an attempt as ended when dropped: when it returns, or when the
/// executor stops it.
struct Running {
    probe: Arc<Probe>,
    index: usize,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.probe.running.fetch_sub(1, Ordering::SeqCst);
        self.probe.spans.lock().expect("spans")[self.index].2 = Some(Instant::now());
    }
}

/// A saga of one step that hangs on its first attempt and finishes at once
/// on every later one.
fn hangs_first_time(probe: &Arc<Probe>, store: Arc<dyn SagaStateStore>) -> Saga<Job> {
    let probe = Arc::clone(probe);
    let step = SagaStep::builder("work", move |_: Arc<Job>, context: StepContext| {
        let probe = Arc::clone(&probe);
        async move {
            let _running = probe.started(context.attempt());
            if context.attempt() == 1 {
                std::future::pending::<()>().await;
            }
            Ok::<u32, StepFailure>(context.attempt())
        }
    })
    .build()
    .expect("step");
    Saga::new("lease", vec![step], store).expect("a valid saga")
}

const TTL: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_millis(500);

/// Runs a saga whose step hangs under renewals that behave as `renewal`
/// (paused clock), and checks that the run stopped the step at or before
/// `t + TTL - MARGIN`, `t` being when the step's lease was last confirmed
/// (the save right before the step: the clock is paused, so the step
/// starts at that instant).
async fn stops_before_expiry(renewal: Renewal) -> Arc<Renewals> {
    let inner = Arc::new(InMemorySagaStateStore::new());
    let store = Renewals::new(inner.clone(), renewal);
    let probe = Arc::new(Probe::default());
    let saga = hangs_first_time(&probe, store.clone())
        .with_lease_ttl(TTL)
        .with_lease_safety_margin(MARGIN);
    let run = tokio::time::timeout(Duration::from_secs(3600), saga.execute_with_id("s-1", Job))
        .await
        .expect("the run stops instead of working on without a confirmed lease");
    let error = run.expect_err("the lease could not be confirmed");
    assert!(
        matches!(
            error,
            SagaError::Store(SagaStoreError::LeaseNotRenewed { ref saga_id, .. }) if saga_id == "s-1"
        ),
        "{error}"
    );
    let spans = probe.spans();
    assert_eq!(spans.len(), 1, "{spans:?}");
    let (_, started, ended) = spans[0];
    let ended = ended.expect("the step was stopped");
    assert!(
        ended <= started + (TTL - MARGIN),
        "stopped {:?} after the lease was confirmed; it must stop by {:?}",
        ended - started,
        TTL - MARGIN
    );
    assert!(
        ended - started >= TTL / 3,
        "the first renewal was due after a third of the TTL: {:?}",
        ended - started
    );
    let stored = inner.load("s-1").await.expect("load").expect("stored");
    assert_eq!(
        stored.steps[0].status,
        StepStatus::Running,
        "the step's outcome is unknown, as after a crash"
    );
    assert_eq!(
        stored
            .lease
            .map(|lease| lease.owner.starts_with(saga.owner())),
        Some(true),
        "the lease is left to expire: the store may not answer"
    );
    store
}

#[tokio::test(start_paused = true)]
async fn a_slow_renewal_is_cut_off_before_the_lease_runs_out() {
    stops_before_expiry(Renewal::Slow(Duration::from_millis(2500))).await;
}

#[tokio::test(start_paused = true)]
async fn a_hanging_renewal_is_cut_off_before_the_lease_runs_out() {
    stops_before_expiry(Renewal::Hangs).await;
}

#[tokio::test(start_paused = true)]
async fn a_renewal_failing_late_stops_the_step_before_the_lease_runs_out() {
    stops_before_expiry(Renewal::FailsAfter(Duration::from_millis(2500))).await;
}

#[tokio::test(start_paused = true)]
async fn renewals_failing_at_once_are_retried_until_the_deadline() {
    let store = stops_before_expiry(Renewal::FailsAfter(Duration::ZERO)).await;
    // Due at TTL/3 = 1 s, then every TTL/12 = 250 ms until 2.5 s.
    assert_eq!(store.asked.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn a_slow_renewal_answering_in_time_keeps_the_saga_going() {
    let store = Renewals::new(
        Arc::new(InMemorySagaStateStore::new()),
        Renewal::Slow(Duration::from_millis(1200)),
    );
    let step = SagaStep::builder("long", |_: Arc<Job>, _: StepContext| async {
        tokio::time::sleep(Duration::from_secs(20)).await;
        Ok::<(), StepFailure>(())
    })
    .build()
    .expect("step");
    let saga = Saga::new("lease-slow", vec![step], store.clone())
        .expect("a valid saga")
        .with_lease_ttl(TTL)
        .with_lease_safety_margin(MARGIN);
    let state = saga.execute(Job).await.expect("runs");
    assert_eq!(state.status, SagaStatus::Completed);
    assert!(store.asked.load(Ordering::SeqCst) >= 8);
}

/// A saga of one step that is done at its first poll.
fn done_at_once(probe: &Arc<Probe>, store: Arc<dyn SagaStateStore>) -> Saga<Job> {
    let probe = Arc::clone(probe);
    let step = SagaStep::builder("work", move |_: Arc<Job>, context: StepContext| {
        let _running = probe.started(context.attempt());
        async move { Ok::<u32, StepFailure>(context.attempt()) }
    })
    .build()
    .expect("step");
    Saga::new("lease-stall", vec![step], store)
        .expect("a valid saga")
        .with_lease_ttl(TTL)
        .with_lease_safety_margin(MARGIN)
}

/// Runs [`done_at_once`] on a store that stalls the process for `stall`
/// after confirming the save that starts the step; returns the run's
/// error, the step's records and the inner store.
async fn run_stalling(
    renewal: Renewal,
    stall: Duration,
) -> (SagaError, Arc<Probe>, Arc<InMemorySagaStateStore>) {
    let inner = Arc::new(InMemorySagaStateStore::new());
    let store = Renewals::stalling(inner.clone(), renewal, stall);
    let probe = Arc::new(Probe::default());
    let saga = done_at_once(&probe, store);
    let error = saga
        .execute_with_id("s-1", Job)
        .await
        .expect_err("the run may not start the step");
    (error, probe, inner)
}

#[tokio::test(start_paused = true)]
async fn a_step_is_not_started_once_the_deadline_has_passed() {
    // The save before the step confirmed the lease until `TTL - MARGIN`
    // after it was sent; the process then stalled past that: even a step
    // that would be done at its first poll must not run.
    for stall in [TTL - MARGIN, TTL] {
        let (error, probe, inner) = run_stalling(Renewal::Slow(Duration::ZERO), stall).await;
        assert!(
            matches!(
                error,
                SagaError::Store(SagaStoreError::LeaseNotRenewed { ref saga_id, .. }) if saga_id == "s-1"
            ),
            "stall {stall:?}: {error}"
        );
        assert_eq!(probe.spans(), vec![], "stall {stall:?}: the step ran");
        let stored = inner.load("s-1").await.expect("load").expect("stored");
        assert_eq!(stored.steps[0].status, StepStatus::Running);
    }
}

#[tokio::test(start_paused = true)]
async fn a_renewal_due_before_a_step_comes_first_and_a_lost_lease_stops_the_run() {
    // A third of the TTL after the save, a renewal is due: the run renews
    // before it starts the step, learns the lease is lost, and stops.
    for stall in [TTL / 3, TTL / 2] {
        let (error, probe, _) = run_stalling(Renewal::Lost, stall).await;
        assert!(
            matches!(
                error,
                SagaError::Store(SagaStoreError::LeaseLost { ref saga_id, .. }) if saga_id == "s-1"
            ),
            "stall {stall:?}: {error}"
        );
        assert_eq!(probe.spans(), vec![], "stall {stall:?}: the step ran");
    }
}

#[tokio::test(start_paused = true)]
async fn a_step_done_at_once_runs_when_no_renewal_is_due() {
    // The counterpart of the two tests above: a stall shorter than a third
    // of the TTL leaves the lease confirmed, so the step runs (and the
    // renewal that would have said "lost" is never asked for).
    let inner = Arc::new(InMemorySagaStateStore::new());
    let store = Renewals::stalling(inner, Renewal::Lost, TTL / 3 - Duration::from_millis(1));
    let probe = Arc::new(Probe::default());
    let state = done_at_once(&probe, store.clone())
        .execute_with_id("s-1", Job)
        .await
        .expect("the lease is confirmed");
    assert_eq!(state.status, SagaStatus::Completed);
    assert_eq!(probe.spans().len(), 1);
    assert_eq!(store.asked.load(Ordering::SeqCst), 0);
}

const TAKEOVER_TTL: Duration = Duration::from_millis(1500);

/// What the first run's renewals do in the takeover tests: answer after
/// the lease ran out, never answer, fail after the deadline.
const TAKEOVER_RENEWALS: [Renewal; 3] = [
    Renewal::Slow(TAKEOVER_TTL),
    Renewal::Hangs,
    Renewal::FailsAfter(Duration::from_millis(600)),
];

/// A first run whose renewals behave as `renewal`, and a second resumer
/// (another `Saga` value, as another process) polling until it can take
/// the saga over: the step's attempts never overlap, by their own records.
async fn a_takeover_after_expiry_never_overlaps(
    store: Arc<dyn SagaStateStore>,
    saga_id: &str,
    renewal: Renewal,
) {
    let ttl = TAKEOVER_TTL;
    let margin = Duration::from_millis(750);
    let probe = Arc::new(Probe::default());
    let first = hangs_first_time(&probe, Renewals::new(Arc::clone(&store), renewal))
        .with_owner("first")
        .with_lease_ttl(ttl)
        .with_lease_safety_margin(margin);
    let second = hangs_first_time(&probe, Arc::clone(&store))
        .with_owner("second")
        .with_lease_ttl(ttl);
    let first_run = {
        let saga_id = saga_id.to_owned();
        tokio::spawn(async move { first.execute_with_id(saga_id, Job).await })
    };
    while probe.spans().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let taken_over = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match second.resume(saga_id).await {
                Err(SagaError::Busy { .. }) => tokio::time::sleep(Duration::from_millis(5)).await,
                other => break other,
            }
        }
    })
    .await
    .expect("the lease expires")
    .expect("the second resumer runs the saga");
    assert_eq!(taken_over.status, SagaStatus::Completed);
    assert_eq!(taken_over.steps[0].attempts, 2);
    let first_error = first_run
        .await
        .expect("task")
        .expect_err("the first run could not keep its lease");
    assert!(
        matches!(
            first_error,
            SagaError::Store(SagaStoreError::LeaseNotRenewed { .. })
        ),
        "{first_error}"
    );
    assert_eq!(
        probe.overlaps.load(Ordering::SeqCst),
        0,
        "{:?}",
        probe.spans()
    );
    let spans = probe.spans();
    let [(1, _, Some(first_ended)), (2, second_started, Some(_))] = spans[..] else {
        panic!("one stopped attempt, then one complete one: {spans:?}");
    };
    assert!(first_ended <= second_started, "{spans:?}");
}

#[tokio::test]
async fn in_memory_takeover_after_expiry_never_overlaps() {
    let store: Arc<dyn SagaStateStore> = Arc::new(InMemorySagaStateStore::new());
    let takeovers = TAKEOVER_RENEWALS
        .into_iter()
        .enumerate()
        .map(|(n, renewal)| {
            let store = Arc::clone(&store);
            async move {
                let saga_id = format!("take-{n}");
                a_takeover_after_expiry_never_overlaps(store, &saga_id, renewal).await;
            }
        });
    futures::future::join_all(takeovers).await;
}

#[tokio::test]
async fn postgres_takeover_after_expiry_never_overlaps() {
    let Some(url) = database_url("postgres_takeover_after_expiry_never_overlaps") else {
        return;
    };
    let schema = unique_schema("lease");
    let store = PostgreSQLSagaStateStore::from_pool_with_schema(pool(&url, 4).await, &schema)
        .expect("valid schema");
    store.initialize().await.expect("the saga schema migrates");
    let takeovers = TAKEOVER_RENEWALS
        .into_iter()
        .enumerate()
        .map(|(n, renewal)| {
            let store: Arc<dyn SagaStateStore> = Arc::new(store.clone());
            async move {
                let saga_id = format!("take-{n}");
                a_takeover_after_expiry_never_overlaps(store, &saga_id, renewal).await;
            }
        });
    futures::future::join_all(takeovers).await;
    let statement = format!("DROP SCHEMA IF EXISTS {} CASCADE", store.schema().quoted());
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(store.pool())
        .await
        .expect("the schema drops");
}
