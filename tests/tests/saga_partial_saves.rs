//! The executor saves each transition as a [`SagaChange`] naming what
//! changed, and the in-memory store writes just that part: after every
//! save, on every path a saga can take (success, compensation, a failing
//! compensation, retries, a timeout, a resume after a crash), the stored
//! state must equal the state the executor holds. And a store that fails a
//! write stops the run with that error, leaving a state a resume finishes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::retry::RetryPolicy;
use orchestrix::saga::{CreateOutcome, LeaseOutcome, SagaChange, SagaStoreError};

/// An in-memory store that, after each change it writes, compares what it
/// keeps with the state it was handed.
#[derive(Debug, Default)]
struct Mirror {
    inner: InMemorySagaStateStore,
    /// Each stored state that differed from the state saved, with it.
    mismatches: Mutex<Vec<(SagaState, SagaState)>>,
    /// Changes that named only some steps (not the whole state).
    partial: AtomicUsize,
    /// Changes written.
    changes: AtomicUsize,
    /// The change (counted from 1) that fails as if the database were
    /// down; 0: none.
    fail_change: AtomicUsize,
}

impl Mirror {
    fn mismatches(&self) -> Vec<(SagaState, SagaState)> {
        self.mismatches.lock().expect("mismatches").clone()
    }
}

#[orchestrix::__private::async_trait::async_trait]
impl SagaStateStore for Mirror {
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
        self.inner.save(state, owner, ttl).await
    }
    async fn save_change(
        &self,
        change: SagaChange<'_>,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        let number = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        if number == self.fail_change.load(Ordering::SeqCst) {
            return Err(SagaStoreError::Unavailable {
                operation: "save a saga",
                target: "test".into(),
                source: "connection refused".into(),
            });
        }
        if !change.is_whole() {
            self.partial.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.save_change(change, owner, ttl).await?;
        let saved = SagaState {
            lease: None,
            ..change.state().clone()
        };
        let stored = SagaState {
            lease: None,
            ..self.inner.load(&saved.saga_id).await?.expect("stored")
        };
        if stored != saved {
            self.mismatches
                .lock()
                .expect("mismatches")
                .push((stored, saved));
        }
        Ok(())
    }
    async fn renew_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.inner.renew_lease(saga_id, owner, ttl).await
    }
    async fn release_lease(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError> {
        self.inner.release_lease(saga_id, owner).await
    }
    async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError> {
        self.inner.unfinished().await
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Plan {
    /// The step that fails (every attempt), if any.
    fail: Option<String>,
    /// The step whose compensation fails, if any.
    fail_undo: Option<String>,
    /// The step that never finishes (runs into its timeout), if any.
    hang: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    step: String,
    lines: Vec<u32>,
}

/// A step that follows `plan`, with an output holding strings and arrays
/// (so the store's JSON checks walk it) and a compensation.
fn step(name: &'static str) -> SagaStep<Plan> {
    SagaStep::builder(name, move |plan: Arc<Plan>, _: StepContext| async move {
        if plan.hang.as_deref() == Some(name) {
            std::future::pending::<()>().await;
        }
        if plan.fail.as_deref() == Some(name) {
            return Err(format!("{name} refused"));
        }
        Ok(Receipt {
            step: name.to_owned(),
            lines: vec![1, 2, 3],
        })
    })
    .compensate(
        move |plan: Arc<Plan>, _: Option<Receipt>, _: StepContext| async move {
            if plan.fail_undo.as_deref() == Some(name) {
                return Err(format!("undo {name} refused"));
            }
            Ok::<(), String>(())
        },
    )
    .retry(RetryPolicy::fixed(Duration::from_millis(10), 2))
    .timeout(Duration::from_secs(5))
    .build()
    .expect("a valid step")
}

fn saga(store: &Arc<Mirror>) -> Saga<Plan> {
    Saga::new(
        "mirrored",
        ["reserve", "charge", "ship"].map(step).into(),
        Arc::clone(store) as Arc<dyn SagaStateStore>,
    )
    .expect("a valid saga")
}

/// Runs `plan` and checks every save left stored what the executor held;
/// the final state.
async fn run_checked(plan: Plan) -> SagaState {
    let store = Arc::new(Mirror::default());
    let state = saga(&store).execute(plan).await.expect("runs");
    assert_eq!(store.mismatches(), []);
    assert!(
        store.partial.load(Ordering::SeqCst) > 0,
        "the executor names what changed"
    );
    let stored = store
        .load(&state.saga_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored, state, "the returned state is the stored one");
    state
}

fn statuses(state: &SagaState) -> Vec<StepStatus> {
    state.steps.iter().map(|step| step.status).collect()
}

#[tokio::test(start_paused = true)]
async fn every_save_of_a_completed_saga_stores_the_executors_state() {
    let state = run_checked(Plan::default()).await;
    assert_eq!(state.status, SagaStatus::Completed);
    assert_eq!(
        state.steps[2].output,
        Some(serde_json::json!({ "step": "ship", "lines": [1, 2, 3] }))
    );
}

#[tokio::test(start_paused = true)]
async fn every_save_of_a_compensated_saga_stores_the_executors_state() {
    let state = run_checked(Plan {
        fail: Some("ship".into()),
        ..Plan::default()
    })
    .await;
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(
        statuses(&state),
        [
            StepStatus::Compensated,
            StepStatus::Compensated,
            StepStatus::Failed
        ]
    );
    assert_eq!(state.steps[2].attempts, 2, "retried once");
}

#[tokio::test(start_paused = true)]
async fn every_save_of_a_failed_compensation_stores_the_executors_state() {
    let state = run_checked(Plan {
        fail: Some("ship".into()),
        fail_undo: Some("charge".into()),
        ..Plan::default()
    })
    .await;
    assert_eq!(state.status, SagaStatus::Failed);
    assert_eq!(state.steps[1].status, StepStatus::CompensationFailed);
    assert!(state.compensation_error.is_some() && state.error.is_some());
}

#[tokio::test(start_paused = true)]
async fn every_save_of_a_timed_out_step_stores_the_executors_state() {
    let state = run_checked(Plan {
        hang: Some("charge".into()),
        ..Plan::default()
    })
    .await;
    assert_eq!(state.status, SagaStatus::Compensated);
    assert!(state.steps[1].outcome_unknown);
    assert_eq!(state.steps[1].status, StepStatus::Compensated);
}

#[tokio::test(start_paused = true)]
async fn a_resume_after_a_crash_saves_over_the_state_it_found() {
    let store = Arc::new(Mirror::default());
    let crashed = saga(&store);
    let plan = Plan {
        hang: Some("charge".into()),
        ..Plan::default()
    };
    // The run stops inside `charge` (its future dropped, as in a crash).
    let run = crashed.execute_with_id("crash-1", plan);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), run)
            .await
            .is_err(),
        "charge hangs"
    );
    let found = store.load("crash-1").await.expect("load").expect("stored");
    assert_eq!(found.steps[1].status, StepStatus::Running);
    // The same value resumes it, taking the dropped run's lease over; the
    // stored plan still hangs in `charge`, so it times out and compensates.
    let resumed = crashed.resume("crash-1").await.expect("resumes");
    assert_eq!(resumed.status, SagaStatus::Compensated);
    assert!(resumed.steps[1].outcome_unknown, "interrupted: unknown");
    assert_eq!(store.mismatches(), []);
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_stops_the_run_with_its_error_and_a_resume_finishes() {
    for failing in 1..=7 {
        let store = Arc::new(Mirror::default());
        store.fail_change.store(failing, Ordering::SeqCst);
        let id = format!("fails-at-{failing}");
        let saga = saga(&store);
        let error = saga
            .execute_with_id(&id, Plan::default())
            .await
            .expect_err("the store refused a write");
        assert!(
            matches!(error, SagaError::Store(SagaStoreError::Unavailable { .. })),
            "change {failing}: {error}"
        );
        // What is stored is the state before the refused change: the next
        // run finds it and finishes the saga.
        let stored = store.load(&id).await.expect("load").expect("stored");
        assert_eq!(stored.status, SagaStatus::Running, "change {failing}");
        let done = saga.resume(&id).await.expect("resumes");
        assert_eq!(done.status, SagaStatus::Completed, "change {failing}");
        assert_eq!(store.mismatches(), [], "change {failing}");
    }
}
