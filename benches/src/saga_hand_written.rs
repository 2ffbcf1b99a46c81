//! The floor of the in-memory saga (the `saga` bench and the `hot_paths`
//! profiling driver): the least a hand-written program does to run 5
//! `async fn` steps while keeping what the framework's in-memory saga run
//! promises about ids, persistence and leases.
//!
//! What it keeps, per run:
//! - a saga id from `Uuid::now_v7()` and a run token from `Uuid::new_v4()`
//!   (one `getrandom` system call each, as the framework's);
//! - a state (status, and per step its name, status, attempts, start and
//!   end) kept in a `Mutex<HashMap<Uuid, State>>`, a copy of it stored on
//!   every transition the framework's executor writes: created, each step
//!   started and completed, saga completed (12 writes), then the lease
//!   given back (13);
//! - a lease (owner = the run token, expiry = the clock + 30 s) checked on
//!   each write (held by the run's token and not expired) and renewed by
//!   it, so another process that took the saga over stops this run at its
//!   next write;
//! - each step run under `catch_unwind` (its call and its future), so a
//!   panicking step fails the saga instead of the caller.
//!
//! What it does not keep, so the figure is a floor and not a rival:
//! one clock reading per write (the step's start or end, the state's
//! `updated_at` and the lease expiry all share it), where the framework
//! reads the wall clock in the executor and again in the store, and the
//! monotonic clock for the run's own lease deadline; step names are
//! `&'static str` and the state is `Copy` (a copy is a `memcpy`, no
//! allocation), where the framework's state owns its texts and JSON data
//! because steps and data are defined at run time; no saga data, outputs,
//! error texts, retries, compensations or timeouts (the bench's steps have
//! none, and an unset timeout arms no timer in the framework either); no
//! type-erased steps (the framework boxes each step's future); no checks of
//! texts or JSON; no per-process claim on the saga id; no renewal of the
//! lease while a long step runs (the framework stops a step whose lease
//! cannot be renewed; here a no-op step is over before that matters).

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use uuid::Uuid;

/// The steps' names, in order.
pub const STEP_NAMES: [&str; 5] = ["step-1", "step-2", "step-3", "step-4", "step-5"];

/// How long a lease lasts unless a write renews it (the framework's
/// default).
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// Where a saga or a step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not started.
    Pending,
    /// Started, not finished.
    Running,
    /// Finished well.
    Completed,
    /// Failed (a step's error or panic).
    Failed,
}

/// One step's persisted state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// The step's name.
    pub name: &'static str,
    /// Where it is.
    pub status: Status,
    /// Attempts so far.
    pub attempts: u32,
    /// When the last attempt started.
    pub started_at: Option<SystemTime>,
    /// When the last attempt ended.
    pub finished_at: Option<SystemTime>,
}

/// Who runs a saga, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The run's token.
    pub owner: Uuid,
    /// When the lease runs out unless a write renews it.
    pub expires_at: SystemTime,
}

/// A saga's persisted state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// The saga's id.
    pub id: Uuid,
    /// Where the saga is.
    pub status: Status,
    /// One record per step, in order.
    pub steps: [StepRecord; 5],
    /// The lease, while a run holds it.
    pub lease: Option<Lease>,
    /// When the saga was created.
    pub created_at: SystemTime,
    /// When the state was last written.
    pub updated_at: SystemTime,
}

impl State {
    /// A new running saga `id`, created at `now`, its steps pending and
    /// no lease yet.
    fn new(id: Uuid, now: SystemTime) -> Self {
        Self {
            id,
            status: Status::Running,
            steps: STEP_NAMES.map(|name| StepRecord {
                name,
                status: Status::Pending,
                attempts: 0,
                started_at: None,
                finished_at: None,
            }),
            lease: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Why a write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// A saga with this id exists already.
    Exists,
    /// No saga has this id.
    NotFound,
    /// The lease is another run's, or ran out.
    LeaseLost,
}

/// A step's failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepFailed;

/// The store: every state under its id, behind one lock.
#[derive(Debug, Default)]
pub struct Store {
    states: Mutex<HashMap<Uuid, State>>,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, State>> {
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `state` leased to `token` until `now` + the TTL, if no saga
    /// has its id.
    fn create(&self, state: &mut State, token: Uuid, now: SystemTime) -> Result<(), StoreError> {
        state.lease = Some(Lease {
            owner: token,
            expires_at: now + LEASE_TTL,
        });
        let mut states = self.lock();
        if states.contains_key(&state.id) {
            return Err(StoreError::Exists);
        }
        states.insert(state.id, *state);
        Ok(())
    }

    /// Stores a copy of `state` if `token` holds its lease at `now`, and
    /// renews the lease until `now` + the TTL.
    fn write(&self, state: &mut State, token: Uuid, now: SystemTime) -> Result<(), StoreError> {
        let mut states = self.lock();
        let kept = states.get_mut(&state.id).ok_or(StoreError::NotFound)?;
        match kept.lease {
            Some(lease) if lease.owner == token && lease.expires_at > now => {}
            _ => return Err(StoreError::LeaseLost),
        }
        state.updated_at = now;
        state.lease = Some(Lease {
            owner: token,
            expires_at: now + LEASE_TTL,
        });
        *kept = *state;
        Ok(())
    }

    /// Drops the lease of saga `id` if `token` holds it.
    fn release(&self, id: Uuid, token: Uuid) {
        if let Some(kept) = self.lock().get_mut(&id)
            && kept.lease.is_some_and(|lease| lease.owner == token)
        {
            kept.lease = None;
        }
    }

    /// A copy of the state of saga `id`.
    pub fn load(&self, id: Uuid) -> Option<State> {
        self.lock().get(&id).copied()
    }
}

/// Runs a new saga of the 5 steps `step(0)` .. `step(4)` on `store`,
/// writing its state on every transition; the final state (without its
/// lease), or the store's refusal.
pub async fn execute<F, Fut>(store: &Store, step: F) -> Result<State, StoreError>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), StepFailed>>,
{
    let token = Uuid::new_v4();
    let now = SystemTime::now();
    let mut state = State::new(Uuid::now_v7(), now);
    let id = state.id;
    store.create(&mut state, token, now)?;
    let outcome = run_steps(store, &mut state, token, step).await;
    // A run whose lease was lost has nothing to give back.
    if outcome != Err(StoreError::LeaseLost) {
        store.release(id, token);
    }
    outcome?;
    state.lease = None;
    Ok(state)
}

async fn run_steps<F, Fut>(
    store: &Store,
    state: &mut State,
    token: Uuid,
    step: F,
) -> Result<(), StoreError>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), StepFailed>>,
{
    for index in 0..STEP_NAMES.len() {
        let now = SystemTime::now();
        let record = &mut state.steps[index];
        record.status = Status::Running;
        record.attempts += 1;
        record.started_at = Some(now);
        record.finished_at = None;
        store.write(state, token, now)?;
        let succeeded = matches!(
            AssertUnwindSafe(async { step(index).await })
                .catch_unwind()
                .await,
            Ok(Ok(()))
        );
        let now = SystemTime::now();
        let record = &mut state.steps[index];
        record.finished_at = Some(now);
        if !succeeded {
            record.status = Status::Failed;
            state.status = Status::Failed;
            return store.write(state, token, now);
        }
        record.status = Status::Completed;
        store.write(state, token, now)?;
    }
    state.status = Status::Completed;
    store.write(state, token, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn noop(_: usize) -> Result<(), StepFailed> {
        Ok(())
    }

    /// A run leaves every step completed, as stored, with the lease given
    /// back.
    #[tokio::test]
    async fn a_run_stores_every_step_completed_and_gives_the_lease_back() {
        let store = Store::default();
        let state = execute(&store, noop).await.expect("runs");
        assert_eq!(state.status, Status::Completed);
        assert!(
            state
                .steps
                .iter()
                .all(|step| step.status == Status::Completed
                    && step.attempts == 1
                    && step.started_at <= step.finished_at)
        );
        assert_eq!(store.load(state.id), Some(state));
    }

    /// A panicking step fails the saga (stored so), and the later steps do
    /// not run.
    #[tokio::test]
    async fn a_panicking_step_fails_the_saga() {
        let store = Store::default();
        let state = execute(&store, |index| async move {
            assert_ne!(index, 2, "step 3 panics");
            Ok(())
        })
        .await
        .expect("runs");
        assert_eq!(state.status, Status::Failed);
        let statuses = state.steps.map(|step| step.status);
        assert_eq!(
            statuses,
            [
                Status::Completed,
                Status::Completed,
                Status::Failed,
                Status::Pending,
                Status::Pending
            ]
        );
        assert_eq!(store.load(state.id), Some(state));
    }

    /// A write under another run's lease, or under an expired one, is
    /// refused and stores nothing.
    #[test]
    fn a_write_needs_the_lease_held_and_unexpired() {
        let store = Store::default();
        let now = SystemTime::now();
        let token = Uuid::new_v4();
        let mut state = State::new(Uuid::now_v7(), now);
        store.create(&mut state, token, now).expect("created");
        let created = store.load(state.id);
        state.status = Status::Completed;
        assert_eq!(
            store.write(&mut state, Uuid::new_v4(), now),
            Err(StoreError::LeaseLost)
        );
        assert_eq!(
            store.write(&mut state, token, now + LEASE_TTL),
            Err(StoreError::LeaseLost)
        );
        assert_eq!(store.load(state.id), created);
        store
            .write(&mut state, token, now + LEASE_TTL / 2)
            .expect("held");
        let stored = store.load(state.id).expect("kept");
        assert_eq!(stored.status, Status::Completed);
        assert_eq!(
            stored.lease.map(|lease| lease.expires_at),
            Some(now + LEASE_TTL / 2 + LEASE_TTL)
        );
    }
}
