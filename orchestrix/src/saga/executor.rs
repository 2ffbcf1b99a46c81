//! [`Saga`]: runs steps in order, compensates in reverse on failure, and
//! persists its state after every transition.

use std::any::Any;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::change::SagaChange;
use super::error::{SagaError, SagaStoreError};
use super::failure::PermanentFailure;
use super::lease::{DEFAULT_LEASE_SAFETY_MARGIN, RunLease};
use super::state::{SagaState, SagaStatus, StepState, StepStatus};
use super::step::{ActionFn, CompensationFn, SagaStep, StepContext};
use super::store::{CreateOutcome, LeaseOutcome, SagaStateStore};
use crate::error::BoxError;
use crate::limits::SecondCache;

/// How long a lease lasts unless renewed; see [`Saga::with_lease_ttl`].
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// A saga: ordered steps over data `D`, each with an optional compensation,
/// its state kept in a [`SagaStateStore`].
///
/// * steps run in order; when one fails (after its retries), every
///   completed step is compensated in reverse order and the saga ends
///   [`Compensated`](SagaStatus::Compensated) — or
///   [`Failed`](SagaStatus::Failed) if a compensation fails too (both
///   errors are kept; compensation stops there, for a person to look at);
/// * the state is written after every transition, under a lease, so a saga
///   interrupted by a crash is resumed ([`Saga::resume`],
///   [`recover_sagas`](super::recover_sagas)) without re-running completed
///   steps; the interrupted step runs again (at-least-once);
/// * [`execute_with_id`](Self::execute_with_id) twice with one id runs one
///   saga. On one `Saga` value, a second run (execute or resume) of an id
///   that is running waits for the first and then returns the finished
///   state; from another value (another process) it fails with
///   [`SagaError::Busy`] while the first holds the lease.
///
/// A step failing is not an error of `execute`: it returns the final
/// [`SagaState`], whose status says how it ended. Errors are for the store
/// and for misuse.
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::prelude::*;
///
/// #[derive(Serialize, Deserialize)]
/// struct Order { id: String }
///
/// async fn reserve(order: &Order) -> Result<u32, StepFailure> { Ok(7) }
/// async fn release(order: &Order, reserved: Option<u32>) -> Result<(), StepFailure> { Ok(()) }
/// fn charge(order: &Order) -> Result<(), StepFailure> { Err("card declined".into()) }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let saga = Saga::new(
///     "order-fulfillment",
///     vec![
///         SagaStep::builder("reserve", reserve).compensate(release).build()?,
///         SagaStep::builder("charge", charge).build()?,
///     ],
///     Arc::new(InMemorySagaStateStore::new()),
/// )?;
/// saga.initialize().await?;
/// let state = saga.execute(Order { id: "ORD-001".into() }).await?;
/// assert_eq!(state.status, SagaStatus::Compensated);
/// assert_eq!(state.steps[0].status, StepStatus::Compensated);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Saga<D> {
    /// Shared with every attempt's [`StepContext`].
    saga_type: Arc<str>,
    steps: Vec<SagaStep<D>>,
    store: Arc<dyn SagaStateStore>,
    owner: String,
    lease_ttl: Duration,
    lease_margin: Duration,
    runs: Arc<Mutex<LiveRuns>>,
}

/// The saga ids this value is running, each with a lock its run holds.
type LiveRuns = HashMap<String, Arc<tokio::sync::Mutex<()>>>;

/// A run's claim on a saga id within one [`Saga`] value: held for the whole
/// run, given back on drop (also when the run's future is dropped).
struct RunClaim {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    runs: Arc<Mutex<LiveRuns>>,
    saga_id: String,
}

impl Drop for RunClaim {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut runs = lock(&self.runs);
        // One lookup (the id is not needed after this): the entry goes
        // when no other run of this value holds or waits for its lock.
        if let Entry::Occupied(entry) = runs.entry(std::mem::take(&mut self.saga_id))
            && Arc::strong_count(entry.get()) == 1
        {
            entry.remove();
        }
    }
}

/// Locks `mutex`, also after a holder panicked: every holder leaves the
/// data whole (the live runs, and the tests' records).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<D> fmt::Debug for Saga<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saga")
            .field("saga_type", &self.saga_type)
            .field("steps", &self.steps)
            .field("owner", &self.owner)
            .field("lease_ttl", &self.lease_ttl)
            .field("lease_margin", &self.lease_margin)
            .finish()
    }
}

/// What every attempt of one run shares: its saga's id, and its clock
/// (which reuses the second of its last reading: a run's transitions come
/// many to a second).
struct RunIds {
    saga_id: Arc<str>,
    clock: SecondCache,
}

/// The clocks as read once for one transition: its write is sent as of
/// `asked` (the lease counts as confirmed from then) and dated `at` (the
/// step's time, the state's `updated_at`, and what an in-memory store
/// computes the lease expiry from).
#[derive(Clone, Copy)]
struct Reading {
    asked: tokio::time::Instant,
    at: OffsetDateTime,
}

impl RunIds {
    /// Reads the clocks for a transition: the monotonic one first, then
    /// the wall clock. Two different clocks cannot be compared; the order
    /// only keeps the wall reading, which an in-memory store computes the
    /// expiry from, no sooner after `asked` than the store's own reading
    /// was on main. What covers the difference between the two clocks
    /// (and the rounding of the expiry) is the lease's safety margin, as
    /// before.
    fn read(&mut self) -> Reading {
        self.read_since(None)
    }

    /// [`read`](Self::read), but with `asked` the monotonic reading
    /// `earlier` when there is one: a write counted as sent then only
    /// confirms the lease as of then (an earlier deadline, never a later
    /// one; earlier by as long as has passed since `earlier`), and its
    /// wall-clock reading is taken now.
    fn read_since(&mut self, earlier: Option<tokio::time::Instant>) -> Reading {
        let asked = earlier.unwrap_or_else(tokio::time::Instant::now);
        Reading {
            asked,
            at: self.clock.now(),
        }
    }
}

enum Attempt {
    Succeeded(serde_json::Value),
    /// The error text, and whether the failure is permanent (not retried).
    Failed(String, bool),
    TimedOut(String),
}

/// What a try runs: a step's action or its compensation.
enum Work<'a, D> {
    Action(&'a ActionFn<D>),
    Compensation(&'a CompensationFn<D>),
}

impl<D> Clone for Work<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Work<'_, D> {}

/// Records an attempt's outcome in the step's state; the error text if it
/// failed.
fn record<D>(
    entry: &mut StepState,
    work: &Work<'_, D>,
    attempt: Attempt,
    now: OffsetDateTime,
) -> Option<String> {
    match work {
        Work::Action(_) => {
            entry.finished_at = Some(now);
            let (status, error) = match attempt {
                Attempt::Succeeded(output) => {
                    entry.status = StepStatus::Completed;
                    entry.output = Some(output);
                    entry.error = None;
                    return None;
                }
                Attempt::Failed(error, _) => (StepStatus::Failed, error),
                Attempt::TimedOut(error) => {
                    entry.outcome_unknown = true;
                    (StepStatus::TimedOut, error)
                }
            };
            entry.status = status;
            entry.error = Some(error.clone());
            Some(error)
        }
        Work::Compensation(_) => match attempt {
            Attempt::Succeeded(_) => {
                entry.status = StepStatus::Compensated;
                entry.compensation_error = None;
                entry.compensated_at = Some(now);
                None
            }
            Attempt::Failed(error, _) | Attempt::TimedOut(error) => {
                entry.compensation_error = Some(error.clone());
                Some(error)
            }
        },
    }
}

impl<D> Saga<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A saga of type `saga_type` (the name recovery finds it by) with
    /// `steps`, keeping its state in `state_store`.
    ///
    /// Refused with [`SagaError::DuplicateStepName`] when two steps share a
    /// name (names key the stored state and the idempotency keys), or
    /// [`SagaError::EmptyStepName`].
    pub fn new(
        saga_type: impl Into<String>,
        steps: Vec<SagaStep<D>>,
        state_store: Arc<dyn SagaStateStore>,
    ) -> Result<Self, SagaError> {
        let saga = Self {
            saga_type: Arc::from(saga_type.into()),
            steps,
            store: state_store,
            owner: uuid::Uuid::new_v4().to_string(),
            lease_ttl: DEFAULT_LEASE_TTL,
            lease_margin: DEFAULT_LEASE_SAFETY_MARGIN,
            runs: Arc::default(),
        };
        saga.validate()?;
        Ok(saga)
    }

    /// Sets the lease owner id (default: a random id per `Saga` value).
    ///
    /// Each run leases its saga as `"<owner>#<random run id>"`, so two runs
    /// never share a lease. A lease under this owner whose run this value
    /// is not running any more (its future was dropped) is taken over at
    /// once instead of waiting for it to expire; so give every `Saga` value
    /// its own owner id — two values with one owner id could take each
    /// other's sagas over.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Sets how long a lease lasts without renewal (default
    /// [`DEFAULT_LEASE_TTL`]), between 1 ms and
    /// [`MAX_LEASE_TTL`](super::MAX_LEASE_TTL) (a value outside is moved to
    /// the nearer bound). A crashed process's sagas can be taken over once
    /// it expires; a running step renews it every third of it.
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = super::store::clamp_ttl(ttl).max(Duration::from_millis(1));
        self
    }

    /// Sets the lease's safety margin (default
    /// [`DEFAULT_LEASE_SAFETY_MARGIN`](super::DEFAULT_LEASE_SAFETY_MARGIN);
    /// at most half the TTL: a larger margin counts as half the TTL).
    ///
    /// A run counts its lease as valid until `t + ttl - margin`, where `t`
    /// is when it sent the last write the store confirmed; every renewal
    /// (and state save) gets only the time left until then, and a run that
    /// could not confirm its lease by then stops its step and fails with
    /// [`SagaStoreError::LeaseNotRenewed`](super::SagaStoreError::LeaseNotRenewed)
    /// (the step's outcome is unknown, as after a crash). The margin must
    /// cover how much faster the store's clock may run than this process's
    /// over one TTL, and how late this process may be to stop the step
    /// (timer and scheduling delays), so that another resumer, which can
    /// take the saga over once the store sees the lease expire, never runs
    /// it at the same time.
    pub fn with_lease_safety_margin(mut self, margin: Duration) -> Self {
        self.lease_margin = margin;
        self
    }

    /// The saga type.
    pub fn saga_type(&self) -> &str {
        &self.saga_type
    }

    /// The lease owner id of this value; its runs' leases are
    /// `"<owner>#<run id>"`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[SagaStep<D>] {
        &self.steps
    }

    /// The state store.
    pub fn state_store(&self) -> &Arc<dyn SagaStateStore> {
        &self.store
    }

    /// Checks the definition (step names non-empty and unique) and prepares
    /// the state store.
    pub async fn initialize(&self) -> Result<(), SagaError> {
        self.validate()?;
        self.store.initialize().await?;
        Ok(())
    }

    fn validate(&self) -> Result<(), SagaError> {
        let mut seen = HashSet::new();
        for (index, step) in self.steps.iter().enumerate() {
            if step.name.trim().is_empty() {
                return Err(SagaError::EmptyStepName {
                    saga_type: self.saga_type.to_string(),
                    index,
                });
            }
            if !seen.insert(&*step.name) {
                return Err(SagaError::DuplicateStepName {
                    saga_type: self.saga_type.to_string(),
                    step: step.name.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Runs a new saga over `data` under a fresh id (a UUIDv7).
    pub async fn execute(&self, data: D) -> Result<SagaState, SagaError> {
        self.execute_with_id(uuid_text(&[], uuid::Uuid::now_v7()), data)
            .await
    }

    /// Runs the saga `saga_id` over `data`. If that saga exists already,
    /// nothing new starts: a finished saga's state is returned, an
    /// unfinished one is resumed (`data` is ignored for both).
    pub async fn execute_with_id(
        &self,
        saga_id: impl Into<String>,
        data: D,
    ) -> Result<SagaState, SagaError> {
        // The definition was validated by `new` and cannot change since.
        let saga_id = saga_id.into();
        let json = crate::limits::to_json_value(&data).map_err(|source| SagaError::Data {
            saga_id: saga_id.clone(),
            direction: "serialize from",
            data_type: std::any::type_name::<D>(),
            source,
        })?;
        let state = SagaState::new(
            &saga_id,
            &*self.saga_type,
            json,
            self.steps.iter().map(|s| &*s.name),
        );
        let _claim = self.claim(&saga_id).await;
        let token = self.run_token();
        let asked = tokio::time::Instant::now();
        match self
            .store
            .create_owned(state, &token, self.lease_ttl)
            .await?
        {
            CreateOutcome::Created(state) => {
                let lease = self.run_lease(&saga_id, token, asked);
                self.drive(state, Arc::new(data), &lease).await
            }
            CreateOutcome::Existing(existing) => {
                self.check_matches(&existing)?;
                if existing.status.is_finished() {
                    Ok(existing)
                } else {
                    self.resume_claimed(&saga_id, token).await
                }
            }
        }
    }

    /// Waits until no other run of this value works on `saga_id`, then
    /// claims it for the caller's run.
    async fn claim(&self, saga_id: &str) -> RunClaim {
        let lock = Arc::clone(lock(&self.runs).entry(saga_id.to_owned()).or_default());
        let guard = lock.lock_owned().await;
        RunClaim {
            guard: Some(guard),
            runs: Arc::clone(&self.runs),
            saga_id: saga_id.to_owned(),
        }
    }

    /// A lease token of its own for one run.
    fn run_token(&self) -> String {
        uuid_text(&[&self.owner, "#"], uuid::Uuid::new_v4())
    }

    /// The lease of the run `token`, confirmed by a write sent at `asked`.
    fn run_lease(&self, saga_id: &str, token: String, asked: tokio::time::Instant) -> RunLease {
        RunLease::new(
            Arc::clone(&self.store),
            saga_id,
            token,
            self.lease_ttl,
            self.lease_margin,
            asked,
        )
    }

    /// Takes the lease of `saga_id` for the run `token`. A lease held by
    /// an earlier run of this value is stale (the caller holds the claim,
    /// so that run is gone: its future was dropped) and is taken over.
    async fn acquire(&self, saga_id: &str, token: &str) -> Result<SagaState, SagaError> {
        let mut outcome = self
            .store
            .acquire_lease(saga_id, token, self.lease_ttl)
            .await?;
        if let LeaseOutcome::Held { owner, .. } = &outcome
            && owner
                .strip_prefix(self.owner.as_str())
                .is_some_and(|rest| rest.starts_with('#'))
        {
            self.store.release_lease(saga_id, owner).await?;
            outcome = self
                .store
                .acquire_lease(saga_id, token, self.lease_ttl)
                .await?;
        }
        match outcome {
            LeaseOutcome::Acquired(state) => Ok(state),
            LeaseOutcome::Held { owner, expires_at } => Err(SagaError::Busy {
                saga_id: saga_id.to_owned(),
                owner,
                expires_at,
            }),
            LeaseOutcome::NotFound => Err(SagaError::UnknownSaga {
                saga_id: saga_id.to_owned(),
            }),
        }
    }

    /// Continues the stored saga `saga_id` where it stopped: completed steps
    /// are not run again, an interrupted step runs again, an interrupted
    /// compensation continues. A finished saga's state is returned as is.
    ///
    /// The interrupted step (or compensation) gets its full retry budget
    /// again: `max_attempts` counts the tries of one run, not of the saga's
    /// life, so a saga that keeps crashing mid-step retries it without end
    /// (its `attempts` count in the state shows it).
    /// Fails with [`SagaError::Busy`] while another owner's lease is valid;
    /// while this value runs the saga, waits for that run and returns the
    /// state it left.
    pub async fn resume(&self, saga_id: &str) -> Result<SagaState, SagaError> {
        let _claim = self.claim(saga_id).await;
        // A finished saga is returned as stored, without taking its lease.
        if let Some(stored) = self.store.load(saga_id).await?
            && stored.status.is_finished()
        {
            self.check_matches(&stored)?;
            return Ok(stored);
        }
        self.resume_claimed(saga_id, self.run_token()).await
    }

    async fn resume_claimed(&self, saga_id: &str, token: String) -> Result<SagaState, SagaError> {
        let asked = tokio::time::Instant::now();
        let state = self.acquire(saga_id, &token).await?;
        if let Err(error) = self.check_matches(&state) {
            self.release(saga_id, &token).await;
            return Err(error);
        }
        if state.status.is_finished() {
            self.release(saga_id, &token).await;
            return Ok(SagaState {
                lease: None,
                ..state
            });
        }
        let data = match serde_json::from_value::<D>(state.data.clone()) {
            Ok(data) => data,
            Err(source) => {
                self.release(saga_id, &token).await;
                return Err(SagaError::Data {
                    saga_id: saga_id.to_owned(),
                    direction: "deserialize into",
                    data_type: std::any::type_name::<D>(),
                    source,
                });
            }
        };
        let lease = self.run_lease(saga_id, token, asked);
        self.drive(state, Arc::new(data), &lease).await
    }

    fn check_matches(&self, state: &SagaState) -> Result<(), SagaError> {
        if *state.saga_type != *self.saga_type {
            return Err(SagaError::SagaTypeMismatch {
                saga_id: state.saga_id.clone(),
                stored: state.saga_type.clone(),
                expected: self.saga_type.to_string(),
            });
        }
        let defined: Vec<String> = self.steps.iter().map(|s| s.name.to_string()).collect();
        if state.step_names() != defined {
            return Err(SagaError::DefinitionChanged {
                saga_id: state.saga_id.clone(),
                stored: state.step_names(),
                defined,
            });
        }
        Ok(())
    }

    /// Gives the run's lease back: at once when the store can (no future
    /// made), else through the store's `release_lease`.
    async fn release(&self, saga_id: &str, token: &str) {
        let outcome = match self.store.release_lease_at_once(saga_id, token) {
            Some(outcome) => outcome,
            None => self.store.release_lease(saga_id, token).await,
        };
        if let Err(error) = outcome {
            tracing::warn!(saga_id, %error, "could not release the saga's lease; it expires on its own");
        }
    }

    /// Runs forward and/or compensates until the saga is finished, then
    /// gives the lease up (unless it was lost or could not be confirmed: then
    /// it is not this run's to give, or the store does not answer).
    async fn drive(
        &self,
        mut state: SagaState,
        data: Arc<D>,
        lease: &RunLease,
    ) -> Result<SagaState, SagaError> {
        let mut run = RunIds {
            saga_id: Arc::clone(lease.saga_id()),
            clock: SecondCache::default(),
        };
        let result = self.run(&mut state, &data, lease, &mut run).await;
        match &result {
            Err(SagaError::Store(
                SagaStoreError::LeaseLost { .. } | SagaStoreError::LeaseNotRenewed { .. },
            )) => {}
            _ => self.release(lease.saga_id(), lease.token()).await,
        }
        result.map(|()| {
            state.lease = None;
            state
        })
    }

    async fn run(
        &self,
        state: &mut SagaState,
        data: &Arc<D>,
        lease: &RunLease,
        run: &mut RunIds,
    ) -> Result<(), SagaError> {
        if state.status == SagaStatus::Running {
            self.run_forward(state, data, lease, run).await?;
        }
        if state.status == SagaStatus::Compensating {
            self.compensate(state, data, lease, run).await?;
        }
        Ok(())
    }

    async fn run_forward(
        &self,
        state: &mut SagaState,
        data: &Arc<D>,
        lease: &RunLease,
        run: &mut RunIds,
    ) -> Result<(), SagaError> {
        for (index, step) in self.steps.iter().enumerate() {
            if state.steps[index].status == StepStatus::Completed {
                continue;
            }
            let work = Work::Action(&*step.action);
            if let Some(error) = self
                .with_retries(state, data, lease, run, index, work)
                .await?
            {
                state.status = SagaStatus::Compensating;
                state.error = Some(format!("step `{}` failed: {error}", step.name));
                self.persist(state, lease, Some(index), run.read()).await?;
                return Ok(());
            }
        }
        state.status = SagaStatus::Completed;
        self.persist(state, lease, None, run.read()).await?;
        Ok(())
    }

    async fn compensate(
        &self,
        state: &mut SagaState,
        data: &Arc<D>,
        lease: &RunLease,
        run: &mut RunIds,
    ) -> Result<(), SagaError> {
        for (index, step) in self.steps.iter().enumerate().rev() {
            let Some(compensation) = &step.compensation else {
                continue;
            };
            let entry = &state.steps[index];
            let needed = match entry.status {
                StepStatus::Completed
                | StepStatus::Compensating
                | StepStatus::CompensationFailed => true,
                StepStatus::Failed | StepStatus::TimedOut | StepStatus::Running => {
                    entry.outcome_unknown
                }
                StepStatus::Pending | StepStatus::Compensated => false,
            };
            if !needed {
                continue;
            }
            let work = Work::Compensation(&**compensation);
            if let Some(error) = self
                .with_retries(state, data, lease, run, index, work)
                .await?
            {
                state.steps[index].status = StepStatus::CompensationFailed;
                state.status = SagaStatus::Failed;
                state.compensation_error = Some(format!(
                    "compensation of step `{}` failed: {error}",
                    step.name
                ));
                self.persist(state, lease, Some(index), run.read()).await?;
                return Ok(());
            }
        }
        state.status = SagaStatus::Compensated;
        self.persist(state, lease, None, run.read()).await?;
        Ok(())
    }

    /// Runs the action or the compensation of step `index` under its retry
    /// policy: each try marks the step and persists, runs one attempt,
    /// records the outcome, and then stops (success, a [`PermanentFailure`],
    /// or no try left) or persists and waits (keeping the lease) before the
    /// next try. Returns the last error when the
    /// tries are used up, `None` on success (persisted).
    ///
    /// The tries are counted per call, so a resumed saga gets a fresh retry
    /// budget for the step it was interrupted in; the step's `attempts`
    /// (and `compensation_attempts`) count every attempt ever made.
    async fn with_retries(
        &self,
        state: &mut SagaState,
        data: &Arc<D>,
        lease: &RunLease,
        run: &mut RunIds,
        index: usize,
        work: Work<'_, D>,
    ) -> Result<Option<String>, SagaError> {
        let step = &self.steps[index];
        let mut tries = 0;
        loop {
            tries += 1;
            let reading = run.read();
            let started = reading.at;
            let entry = &mut state.steps[index];
            let attempt = match work {
                Work::Action(action) => {
                    if entry.status == StepStatus::Running {
                        // Found running: the last attempt was interrupted,
                        // and may have had effects.
                        entry.outcome_unknown = true;
                    }
                    entry.status = StepStatus::Running;
                    entry.attempts += 1;
                    entry.started_at = Some(started);
                    entry.finished_at = None;
                    let context = StepContext::shared(
                        &run.saga_id,
                        &self.saga_type,
                        &step.name,
                        entry.attempts,
                    );
                    let sent = self.persist(state, lease, Some(index), reading).await?;
                    self.attempt(lease, sent, step.timeout, || {
                        action(Arc::clone(data), context)
                    })
                    .await?
                }
                Work::Compensation(compensation) => {
                    entry.status = StepStatus::Compensating;
                    entry.compensation_attempts += 1;
                    let context = StepContext::shared(
                        &run.saga_id,
                        &self.saga_type,
                        &step.name,
                        entry.attempts,
                    )
                    .for_compensation(entry.compensation_attempts);
                    let output = entry.output.clone();
                    let sent = self.persist(state, lease, Some(index), reading).await?;
                    self.attempt(lease, sent, step.timeout, || {
                        compensation(Arc::clone(data), output, context)
                            .map(|r| r.map(|()| serde_json::Value::Null))
                    })
                    .await?
                }
            };
            let (attempt, done_at_once) = attempt;
            let permanent = matches!(attempt, Attempt::Failed(_, true));
            let retried = !matches!(attempt, Attempt::Succeeded(_))
                && !permanent
                && step.retry.allows_another(tries);
            // An attempt done at its first poll after a write done at once
            // awaited nothing: the monotonic reading from before that write
            // is reused for the write that records the attempt, so the
            // lease counts as confirmed as of before the attempt (earlier
            // by as long as the attempt ran, which a step that blocks
            // without awaiting makes long). Not before a retry: its delay
            // is waited out from that confirmation, and would find the
            // deadline passed after a long blocking attempt. After an
            // awaited attempt, or before a retry, the clock is read again.
            let ended = run.read_since(done_at_once.filter(|_| !retried));
            let Some(error) = record(&mut state.steps[index], &work, attempt, ended.at) else {
                self.persist(state, lease, Some(index), ended).await?;
                return Ok(None);
            };
            if permanent || !step.retry.allows_another(tries) {
                // Saved by the caller, with the saga's new status.
                return Ok(Some(error));
            }
            self.persist(state, lease, Some(index), ended).await?;
            self.wait_keeping_lease(lease, step.retry.delay_after(tries))
                .await?;
        }
    }

    /// Runs one attempt under the timeout, renewing the lease meanwhile and
    /// turning a panic into a failure — also a panic of `start` itself (a
    /// closure that panics before it returns its future). When the lease is
    /// lost or cannot be confirmed before its deadline, the attempt is
    /// stopped (its future dropped) and the error returned.
    ///
    /// `sent` is when the write before it was sent, if that write was done
    /// at once (see [`persist`](Self::persist)); else the clock is read.
    /// Besides the outcome, returns `sent` if the attempt was done at its
    /// first poll, nothing awaited since that write; `None` if the attempt
    /// or the write before it was awaited.
    async fn attempt<F>(
        &self,
        lease: &RunLease,
        sent: Option<tokio::time::Instant>,
        timeout: Option<Duration>,
        start: impl FnOnce() -> F + Send,
    ) -> Result<(Attempt, Option<tokio::time::Instant>), SagaError>
    where
        F: Future<Output = Result<serde_json::Value, BoxError>> + Send,
    {
        let guarded = AssertUnwindSafe(async move { start().await }).catch_unwind();
        let timed = async {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, guarded).await.ok(),
                None => Some(guarded.await),
            }
        };
        // An attempt that is done at its first poll (a no-op step, an
        // in-memory action) needs no lease keeper: while the keeper would
        // only start waiting, polling the attempt first gives the outcome
        // the biased select below would, without arming (and cancelling)
        // the keeper's timer, which costs a cross-thread wake-up of the
        // timer driver per step.
        let mut timed = std::pin::pin!(timed);
        let now = sent.unwrap_or_else(tokio::time::Instant::now);
        let first = if lease.keeping_would_wait(now) {
            futures::poll!(timed.as_mut())
        } else {
            std::task::Poll::Pending
        };
        let (outcome, done_at_once) = match first {
            // Only an instant from a write done at once is handed on: a
            // store whose writes are awaited gets the clock read after the
            // attempt, so its next write has the whole time to its deadline.
            std::task::Poll::Ready(outcome) => (outcome, sent),
            std::task::Poll::Pending => tokio::select! {
                biased;
                lost = lease.keep() => return Err(lost.into()),
                outcome = timed => (outcome, None),
            },
        };
        let attempt = match outcome {
            None => Attempt::TimedOut(format!(
                "timed out after {} ms",
                timeout.map_or(0, |limit| limit.as_millis())
            )),
            Some(Ok(Ok(output))) => Attempt::Succeeded(output),
            Some(Ok(Err(error))) => {
                Attempt::Failed(error_text(&*error), PermanentFailure::is_in(&*error))
            }
            Some(Err(panic)) => {
                Attempt::Failed(format!("panicked: {}", panic_text(&*panic)), false)
            }
        };
        Ok((attempt, done_at_once))
    }

    /// Waits out a retry delay while keeping the lease, so a delay longer
    /// than the lease's TTL does not hand the saga to another process.
    async fn wait_keeping_lease(&self, lease: &RunLease, delay: Duration) -> Result<(), SagaError> {
        tokio::select! {
            biased;
            lost = lease.keep() => Err(lost.into()),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// Saves `state` as written at `reading`: its own fields and step
    /// `step` changed since the last save (or since it was read), nothing
    /// else. Returns the instant the write was sent if the store wrote it
    /// at once (nothing awaited since), `None` if it was awaited.
    async fn persist(
        &self,
        state: &mut SagaState,
        lease: &RunLease,
        step: Option<usize>,
        reading: Reading,
    ) -> Result<Option<tokio::time::Instant>, SagaError> {
        state.updated_at = reading.at;
        let change = match step {
            Some(index) => SagaChange::of_step(state, index),
            None => SagaChange::of_saga(state),
        }
        .read_at(reading.at);
        // The awaited write's future is made only when the store cannot
        // write at once.
        match lease.save_at_once(change, reading.asked) {
            Some(outcome) => {
                outcome?;
                Ok(Some(reading.asked))
            }
            None => {
                lease.save_awaited(change, reading.asked).await?;
                Ok(None)
            }
        }
    }
}

/// The `prefix` texts followed by `id` in its hyphenated lower-case form
/// (what `to_string` gives), written without the formatting machinery,
/// which costs more than making the id.
fn uuid_text(prefix: &[&str], id: uuid::Uuid) -> String {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = id.hyphenated().encode_lower(&mut buffer);
    let length = prefix.iter().map(|part| part.len()).sum::<usize>() + id.len();
    let mut text = String::with_capacity(length);
    for part in prefix {
        text.push_str(part);
    }
    text.push_str(id);
    text
}

/// The error and its sources, joined with ": ".
fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string panic payload")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::saga::InMemorySagaStateStore;

    /// How many attempts started, how many run now, and how often one
    /// started while another ran.
    #[derive(Debug, Default)]
    struct Attempts {
        started: AtomicUsize,
        running: AtomicUsize,
        overlaps: AtomicUsize,
    }

    /// Counts an attempt as running until dropped (also when its future is).
    struct Running(Arc<Attempts>);

    impl Drop for Running {
        fn drop(&mut self) {
            self.0.running.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A saga of one step that takes 10 ms (paused clock), counted.
    fn counted(attempts: &Arc<Attempts>) -> Saga<()> {
        let attempts = Arc::clone(attempts);
        let step = SagaStep::builder("work", move |_: Arc<()>, _: StepContext| {
            let attempts = Arc::clone(&attempts);
            async move {
                if attempts.running.fetch_add(1, Ordering::SeqCst) > 0 {
                    attempts.overlaps.fetch_add(1, Ordering::SeqCst);
                }
                attempts.started.fetch_add(1, Ordering::SeqCst);
                let _running = Running(attempts);
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok::<(), BoxError>(())
            }
        })
        .build()
        .expect("step");
        Saga::new(
            "claims",
            vec![step],
            Arc::new(InMemorySagaStateStore::new()),
        )
        .expect("a valid saga")
    }

    /// A saga of `steps` on `store`.
    fn saga_on(name: &str, steps: Vec<SagaStep<()>>, store: Arc<dyn SagaStateStore>) -> Saga<()> {
        Saga::new(name, steps, store).expect("a valid saga")
    }

    /// A step that succeeds at once.
    fn quick_step() -> SagaStep<()> {
        SagaStep::builder("quick", |_: Arc<()>, _: StepContext| async {
            Ok::<(), BoxError>(())
        })
        .build()
        .expect("step")
    }

    /// An in-memory store that records, after every state write, the
    /// state's `updated_at` and the lease's expiry it keeps; with
    /// `at_once` off it writes only through the awaited `save_change`,
    /// of which the one after `slow_write.0` writes takes `slow_write.1`.
    #[derive(Debug)]
    struct Watched {
        inner: InMemorySagaStateStore,
        at_once: bool,
        slow_write: (usize, Duration),
        writes: Mutex<Vec<(OffsetDateTime, OffsetDateTime)>>,
        renewals: AtomicUsize,
    }

    impl Watched {
        fn new(at_once: bool, slow_write: (usize, Duration)) -> Self {
            Self {
                inner: InMemorySagaStateStore::new(),
                at_once,
                slow_write,
                writes: Mutex::default(),
                renewals: AtomicUsize::new(0),
            }
        }

        fn note(&self, outcome: Result<(), SagaStoreError>) -> Result<(), SagaStoreError> {
            if outcome.is_ok() {
                let state = self.inner.states().pop().expect("one saga");
                let lease = state.lease.expect("leased while running");
                lock(&self.writes).push((state.updated_at, lease.expires_at));
            }
            outcome
        }
    }

    #[async_trait::async_trait]
    impl SagaStateStore for Watched {
        async fn initialize(&self) -> Result<(), SagaStoreError> {
            Ok(())
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
            self.inner.save(state, owner, ttl).await
        }

        async fn save_change(
            &self,
            change: SagaChange<'_>,
            owner: &str,
            ttl: Duration,
        ) -> Result<(), SagaStoreError> {
            let (slow, takes) = self.slow_write;
            if lock(&self.writes).len() == slow {
                tokio::time::sleep(takes).await;
            }
            let outcome = self.inner.save_change(change, owner, ttl).await;
            self.note(outcome)
        }

        fn save_change_at_once(
            &self,
            change: SagaChange<'_>,
            owner: &str,
            ttl: Duration,
        ) -> Option<Result<(), SagaStoreError>> {
            if !self.at_once {
                return None;
            }
            let outcome = self.inner.save_change_at_once(change, owner, ttl)?;
            Some(self.note(outcome))
        }

        async fn renew_lease(
            &self,
            saga_id: &str,
            owner: &str,
            ttl: Duration,
        ) -> Result<(), SagaStoreError> {
            self.renewals.fetch_add(1, Ordering::SeqCst);
            self.inner.renew_lease(saga_id, owner, ttl).await
        }

        async fn release_lease(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError> {
            self.inner.release_lease(saga_id, owner).await
        }

        async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError> {
            self.inner.unfinished().await
        }
    }

    /// A transition reads the wall clock once: the step's time, the
    /// state's `updated_at` and the expiry the in-memory store sets are
    /// that one reading (plus the TTL), and the reading is the write's
    /// own, not one taken before the step ran: the lease of a write after
    /// a slow step runs from that write.
    #[tokio::test]
    async fn one_reading_dates_a_transition_and_its_lease() {
        let store = Arc::new(Watched::new(true, (0, Duration::ZERO)));
        let slow = SagaStep::builder("slow", |_: Arc<()>, _: StepContext| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<(), BoxError>(())
        })
        .build()
        .expect("step");
        let quick = quick_step();
        let saga = saga_on("dated", vec![slow, quick], Arc::clone(&store) as _);
        let state = saga.execute(()).await.expect("runs");
        assert_eq!(state.status, SagaStatus::Completed);
        let writes = lock(&store.writes).clone();
        // The two steps started and completed, and the saga completed.
        assert_eq!(writes.len(), 5, "{writes:?}");
        for (updated_at, expires_at) in &writes {
            assert_eq!(
                *expires_at,
                crate::limits::stored_precision(super::super::store::expiry(
                    *updated_at,
                    DEFAULT_LEASE_TTL
                )),
                "the expiry is the write's reading plus the TTL: {writes:?}"
            );
        }
        let slow = &state.steps[0];
        let (started, finished) = (
            slow.started_at.expect("ran"),
            slow.finished_at.expect("ended"),
        );
        assert!(finished - started >= time::Duration::milliseconds(20));
        assert_eq!((writes[0].0, writes[1].0), (started, finished));
        assert_eq!(state.steps[1].started_at, Some(writes[2].0));
        assert_eq!(state.steps[1].finished_at, Some(writes[3].0));
        assert_eq!(state.updated_at, writes[4].0);
    }

    /// How the first attempt of [`fails_once`]'s step spends its time
    /// before it fails.
    enum FirstAttempt {
        /// Awaits a timer.
        Awaits(Duration),
        /// Blocks its thread, awaiting nothing (done at its first poll).
        Blocks(Duration),
    }

    /// A step whose first attempt takes `first` and fails, and whose next
    /// one succeeds, retried once after `retry_delay`; `tries` counts the
    /// attempts.
    fn fails_once(
        name: &str,
        first: FirstAttempt,
        retry_delay: Duration,
        tries: &Arc<AtomicUsize>,
    ) -> SagaStep<()> {
        let tries = Arc::clone(tries);
        SagaStep::builder(name, move |_: Arc<()>, _: StepContext| {
            let first = (tries.fetch_add(1, Ordering::SeqCst) == 0).then_some(&first);
            let wait = match first {
                Some(FirstAttempt::Awaits(time)) => Some((*time, false)),
                Some(FirstAttempt::Blocks(time)) => Some((*time, true)),
                None => None,
            };
            async move {
                match wait {
                    Some((time, false)) => tokio::time::sleep(time).await,
                    Some((time, true)) => std::thread::sleep(time),
                    None => return Ok(()),
                }
                Err::<(), BoxError>("not yet".into())
            }
        })
        .retry(crate::retry::RetryPolicy::fixed(retry_delay, 2))
        .build()
        .expect("step")
    }

    /// The write after an attempt that awaited confirms the lease as of
    /// that write, not as of the attempt's start: a retry delay that ends
    /// within a third of the TTL of the failed attempt's end renews
    /// nothing, however long the attempt took.
    #[tokio::test(start_paused = true)]
    async fn the_write_after_an_awaited_attempt_confirms_the_lease_then() {
        let ttl = Duration::from_secs(3);
        let store = Arc::new(Watched::new(true, (0, Duration::ZERO)));
        let tries = Arc::new(AtomicUsize::new(0));
        let step = fails_once(
            "flaky",
            FirstAttempt::Awaits(Duration::from_millis(900)),
            Duration::from_millis(500),
            &tries,
        );
        let saga = saga_on("retried", vec![step], Arc::clone(&store) as _).with_lease_ttl(ttl);
        let state = saga.execute(()).await.expect("runs");
        assert_eq!(state.status, SagaStatus::Completed);
        assert_eq!(tries.load(Ordering::SeqCst), 2);
        assert_eq!(
            store.renewals.load(Ordering::SeqCst),
            0,
            "confirmed at the failed attempt's end (0.5 s before the second try), not its start (1.4 s)"
        );
    }

    /// A step that blocks without awaiting (done at its first poll) for
    /// longer than the lease's TTL less its margin, then fails with a
    /// retry left, is retried: the write recording the failure confirms
    /// the lease as of itself, not as of before the attempt, so the retry
    /// delay does not start past the deadline. Real time: a blocking
    /// step does not move a paused clock.
    #[tokio::test]
    async fn a_blocking_failed_attempt_is_retried() {
        let (ttl, margin) = (Duration::from_millis(1000), Duration::from_millis(100));
        let store = Arc::new(InMemorySagaStateStore::new());
        let tries = Arc::new(AtomicUsize::new(0));
        let step = fails_once(
            "blocking",
            FirstAttempt::Blocks(Duration::from_millis(1000)),
            Duration::from_millis(10),
            &tries,
        );
        let saga = saga_on("blocking", vec![step], Arc::clone(&store) as _)
            .with_lease_ttl(ttl)
            .with_lease_safety_margin(margin);
        let state = saga.execute(()).await.expect("runs");
        assert_eq!(state.status, SagaStatus::Completed);
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }

    /// With a store whose writes are awaited (PostgreSQL, SQLite), the
    /// write after a step that blocks without awaiting confirms the lease
    /// as of itself: the next write has the whole time to the deadline
    /// from then. Here the first step blocks 0.6 s (TTL 1 s, margin
    /// 0.1 s) and the second step's start takes 0.4 s: done by 1.0 s,
    /// within the deadline of the write at 0.6 s (1.5 s), past the one of
    /// a confirmation as of before the step (0.9 s). Real time.
    #[tokio::test]
    async fn an_awaited_write_after_a_blocking_step_has_its_whole_time() {
        let (ttl, margin) = (Duration::from_millis(1000), Duration::from_millis(100));
        // Writes: the first step started, completed, the second started.
        let store = Arc::new(Watched::new(false, (2, Duration::from_millis(400))));
        let blocking = SagaStep::builder("blocking", |_: Arc<()>, _: StepContext| async {
            std::thread::sleep(Duration::from_millis(600));
            Ok::<(), BoxError>(())
        })
        .build()
        .expect("step");
        let quick = quick_step();
        let saga = saga_on("blocking", vec![blocking, quick], Arc::clone(&store) as _)
            .with_lease_ttl(ttl)
            .with_lease_safety_margin(margin);
        let state = saga.execute(()).await.expect("runs");
        assert_eq!(state.status, SagaStatus::Completed);
    }

    /// A step's first poll is not run on the strength of a write that
    /// was awaited: the run reads the clock after it, and a write that
    /// answered just at the deadline leaves the step unrun and the run
    /// stopped ([`SagaStoreError::LeaseNotRenewed`]).
    #[tokio::test(start_paused = true)]
    async fn a_write_answered_at_the_deadline_starts_no_step() {
        let (ttl, margin) = (Duration::from_secs(3), Duration::from_secs(1));
        let store = Arc::new(Watched::new(false, (0, ttl - margin)));
        let ran = Arc::new(AtomicUsize::new(0));
        let step = {
            let ran = Arc::clone(&ran);
            SagaStep::builder("work", move |_: Arc<()>, _: StepContext| {
                ran.fetch_add(1, Ordering::SeqCst);
                async { Ok::<(), BoxError>(()) }
            })
            .build()
            .expect("step")
        };
        let saga = saga_on("late", vec![step], Arc::clone(&store) as _)
            .with_lease_ttl(ttl)
            .with_lease_safety_margin(margin);
        let error = saga.execute(()).await.expect_err("the deadline passed");
        assert!(
            matches!(
                error,
                SagaError::Store(SagaStoreError::LeaseNotRenewed { .. })
            ),
            "{error}"
        );
        assert_eq!(lock(&store.writes).len(), 1, "the step's start was written");
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the step did not run");
    }

    #[test]
    fn uuid_text_is_the_prefix_then_the_id_as_to_string_writes_it() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(uuid_text(&[], id), id.to_string());
        assert_eq!(uuid_text(&["owner", "#"], id), format!("owner#{id}"));
        let fixed = uuid::Uuid::from_u128(0x0192_AB3C_DEF0_7A1B_8C2D_3E4F_5A6B_7C8D);
        assert_eq!(
            uuid_text(&["w-1", "#"], fixed),
            "w-1#0192ab3c-def0-7a1b-8c2d-3e4f5a6b7c8d"
        );
    }

    /// A run's token is the owner, `#`, and an id of its own; `execute`'s
    /// saga id is a UUIDv7.
    #[tokio::test]
    async fn run_tokens_and_saga_ids_are_fresh_uuids() {
        let attempts = Arc::new(Attempts::default());
        let saga = counted(&attempts).with_owner("the-owner");
        let tokens: Vec<String> = (0..2).map(|_| saga.run_token()).collect();
        for token in &tokens {
            let id = token.strip_prefix("the-owner#").expect("owner first");
            assert_eq!(
                uuid::Uuid::parse_str(id).expect("a uuid").get_version_num(),
                4
            );
        }
        assert_ne!(tokens[0], tokens[1]);
        let state = saga.execute(()).await.expect("runs");
        let id = uuid::Uuid::parse_str(&state.saga_id).expect("a uuid");
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(state.saga_id, id.to_string());
    }

    #[tokio::test(start_paused = true)]
    async fn the_claim_map_holds_only_running_ids() {
        let attempts = Arc::new(Attempts::default());
        let saga = counted(&attempts);
        for n in 0..5 {
            saga.execute_with_id(format!("id-{n}"), ())
                .await
                .expect("runs");
        }
        let (first, second, third) = tokio::join!(
            saga.execute_with_id("shared", ()),
            saga.execute_with_id("shared", ()),
            saga.resume("shared"),
        );
        for state in [first, second, third] {
            assert_eq!(state.expect("runs").status, SagaStatus::Completed);
        }
        assert_eq!(
            lock(&saga.runs).len(),
            0,
            "a finished run leaves no entry behind"
        );
        assert_eq!(attempts.overlaps.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_third_caller_waits_for_the_second_after_the_first_was_dropped() {
        let attempts = Arc::new(Attempts::default());
        let saga = Arc::new(counted(&attempts));
        let first = {
            let saga = Arc::clone(&saga);
            tokio::spawn(async move { saga.execute_with_id("three", ()).await })
        };
        while attempts.started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let second = {
            let saga = Arc::clone(&saga);
            tokio::spawn(async move { saga.resume("three").await })
        };
        // The second caller waits on the first run's claim.
        while lock(&saga.runs).get("three").map_or(0, Arc::strong_count) < 3 {
            tokio::task::yield_now().await;
        }
        first.abort();
        assert!(first.await.expect_err("aborted").is_cancelled());
        // The second caller takes the dropped run's lease over and runs the
        // step again; a third caller arriving meanwhile must wait for it.
        while attempts.started.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let third = saga
            .resume("three")
            .await
            .expect("waits, then finds it done");
        let second = second.await.expect("task").expect("runs");
        assert_eq!(second.status, SagaStatus::Completed);
        assert_eq!(third.status, SagaStatus::Completed);
        assert_eq!(
            third.steps[0].attempts, 2,
            "the first run's and the second's"
        );
        assert_eq!(
            attempts.overlaps.load(Ordering::SeqCst),
            0,
            "no two attempts ran at once"
        );
        assert_eq!(lock(&saga.runs).len(), 0);
    }
}
