//! Recovery: a saga interrupted mid-step or mid-compensation resumes from
//! its store without re-running completed steps; leases keep two resumers
//! from both running it; starting twice with one id runs one saga.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::saga::{SagaStoreError, recover_sagas};

static JOURNAL: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());

/// Records `entry` for the order and returns how often it was recorded.
fn record(key: &str, entry: &str) -> usize {
    let mut journal = JOURNAL.lock().expect("journal");
    let entries = journal.entry(key.to_owned()).or_default();
    entries.push(entry.to_owned());
    entries.iter().filter(|e| *e == entry).count()
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
struct Job {
    key: String,
    /// The step that hangs forever on its first call.
    hang_in: Option<String>,
    /// The step whose compensation hangs forever on its first call.
    hang_undoing: Option<String>,
    /// The step that fails.
    fail_in: Option<String>,
    /// The step that takes a while (so that concurrent runs overlap).
    slow_in: Option<String>,
    /// The step that takes an hour on every call after the first.
    stall_in: Option<String>,
}

async fn act(job: &Job, name: &str) -> Result<String, StepFailure> {
    let calls = record(&job.key, &format!("do {name}"));
    if job.hang_in.as_deref() == Some(name) && calls == 1 {
        std::future::pending::<()>().await;
    }
    if job.hang_in.as_deref() == Some(name) {
        // The resumed attempt takes a while, so that a second resumer
        // overlaps with it.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if job.stall_in.as_deref() == Some(name) && calls > 1 {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if job.slow_in.as_deref() == Some(name) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if job.fail_in.as_deref() == Some(name) {
        return Err(format!("{name} failed").into());
    }
    Ok(format!("{name}-out"))
}

async fn undo(job: &Job, name: &str, output: Option<String>) -> Result<(), StepFailure> {
    let calls = record(
        &job.key,
        &format!("undo {name} {}", output.as_deref().unwrap_or("-")),
    );
    if job.hang_undoing.as_deref() == Some(name) && calls == 1 {
        std::future::pending::<()>().await;
    }
    Ok(())
}

#[saga_step(compensate = undo_one)]
async fn one(job: &Job) -> Result<String, StepFailure> {
    act(job, "one").await
}
async fn undo_one(job: &Job, output: Option<String>) -> Result<(), StepFailure> {
    undo(job, "one", output).await
}

#[saga_step(compensate = undo_two)]
async fn two(job: &Job) -> Result<String, StepFailure> {
    act(job, "two").await
}
async fn undo_two(job: &Job, output: Option<String>) -> Result<(), StepFailure> {
    undo(job, "two", output).await
}

#[saga_step(compensate = undo_three)]
async fn three(job: &Job) -> Result<String, StepFailure> {
    act(job, "three").await
}
async fn undo_three(job: &Job, output: Option<String>) -> Result<(), StepFailure> {
    undo(job, "three", output).await
}

fn job_saga(store: Arc<dyn SagaStateStore>) -> Saga<Job> {
    Saga::new(
        "recovery-job",
        vec![one_step(), two_step(), three_step()],
        store,
    )
    .expect("a valid saga")
}

orchestrix::register_saga!("recovery-job", job_saga);
// Registered under another name than the saga it builds.
orchestrix::register_saga!("misnamed-job", job_saga);

fn store() -> Arc<dyn SagaStateStore> {
    Arc::new(InMemorySagaStateStore::new())
}

/// Runs the saga until everything is idle (the hanging step hangs), then
/// drops its future: what a crash leaves in the store. A run whose lease is
/// too short to keep (1 ms: timers tick in whole milliseconds) stops on its
/// own before that, leaving the same.
async fn interrupt(saga: &Saga<Job>, saga_id: &str, job: Job) {
    let run =
        tokio::time::timeout(Duration::from_secs(1), saga.execute_with_id(saga_id, job)).await;
    assert!(
        matches!(
            run,
            Err(_)
                | Ok(Err(SagaError::Store(
                    SagaStoreError::LeaseNotRenewed { .. }
                )))
        ),
        "the saga must hang, not finish: {run:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_saga_dropped_mid_step_resumes_without_rerunning_completed_steps() {
    let saga = job_saga(store());
    let job = Job {
        key: "dropped-mid-step".into(),
        hang_in: Some("two".into()),
        ..Job::default()
    };
    interrupt(&saga, "dropped-1", job).await;
    let stored = saga
        .state_store()
        .load("dropped-1")
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.status, SagaStatus::Running);
    assert_eq!(stored.steps[0].status, StepStatus::Completed);
    assert_eq!(stored.steps[1].status, StepStatus::Running);

    let state = saga.resume("dropped-1").await.expect("resumes");
    assert_eq!(state.status, SagaStatus::Completed);
    assert_eq!(
        journal("dropped-mid-step"),
        ["do one", "do two", "do two", "do three"]
    );
    assert_eq!(state.steps[0].attempts, 1);
    assert_eq!(state.steps[1].attempts, 2, "the interrupted step ran again");
    assert!(state.steps[1].outcome_unknown);
}

#[tokio::test(start_paused = true)]
async fn a_saga_dropped_mid_compensation_resumes_the_compensation() {
    let saga = job_saga(store());
    let job = Job {
        key: "dropped-mid-undo".into(),
        fail_in: Some("three".into()),
        hang_undoing: Some("two".into()),
        ..Job::default()
    };
    interrupt(&saga, "dropped-2", job).await;
    let stored = saga
        .state_store()
        .load("dropped-2")
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.status, SagaStatus::Compensating);
    assert_eq!(stored.steps[1].status, StepStatus::Compensating);

    let state = saga.resume("dropped-2").await.expect("resumes");
    assert_eq!(state.status, SagaStatus::Compensated);
    assert_eq!(
        journal("dropped-mid-undo"),
        [
            "do one",
            "do two",
            "do three",
            "undo two two-out",
            "undo two two-out",
            "undo one one-out"
        ]
    );
    assert_eq!(
        state.steps[2].status,
        StepStatus::Failed,
        "a step that failed cleanly is not compensated"
    );
}

#[tokio::test(start_paused = true)]
async fn two_concurrent_resumers_run_the_saga_once() {
    let store = store();
    // The crashed process: its lease lapses at once.
    let crashed = job_saga(Arc::clone(&store)).with_lease_ttl(Duration::from_millis(1));
    let job = Job {
        key: "two-resumers".into(),
        hang_in: Some("two".into()),
        ..Job::default()
    };
    interrupt(&crashed, "contested", job).await;
    std::thread::sleep(Duration::from_millis(5)); // wall clock: the lease expires

    let first = job_saga(Arc::clone(&store));
    let second = job_saga(Arc::clone(&store));
    let (a, b) = tokio::join!(first.resume("contested"), second.resume("contested"));
    let (finished, refused) = match (a, b) {
        (Ok(state), Err(error)) | (Err(error), Ok(state)) => (state, error),
        other => panic!("exactly one resumer must run the saga: {other:?}"),
    };
    assert_eq!(finished.status, SagaStatus::Completed);
    assert!(
        matches!(refused, SagaError::Busy { ref saga_id, .. } if saga_id == "contested"),
        "{refused}"
    );
    assert_eq!(
        journal("two-resumers"),
        ["do one", "do two", "do two", "do three"]
    );
}

#[tokio::test]
async fn a_saga_held_by_a_live_owner_is_busy_for_others() {
    let store = store();
    let saga = job_saga(Arc::clone(&store));
    let job = Job {
        key: "busy".into(),
        hang_in: Some("one".into()),
        ..Job::default()
    };
    let run = tokio::time::timeout(
        Duration::from_millis(50),
        saga.execute_with_id("busy-1", job),
    )
    .await;
    assert!(run.is_err());
    let other = job_saga(store);
    let error = other
        .resume("busy-1")
        .await
        .expect_err("the lease is valid");
    assert!(
        matches!(error, SagaError::Busy { ref owner, .. } if owner.starts_with(&format!("{}#", saga.owner()))),
        "{error}"
    );
    assert!(matches!(
        other.resume("nope").await,
        Err(SagaError::UnknownSaga { ref saga_id }) if saga_id == "nope"
    ));
}

#[tokio::test]
async fn starting_twice_with_one_id_runs_one_saga() {
    let store = store();
    let saga = job_saga(Arc::clone(&store));
    let job = Job {
        key: "twice".into(),
        ..Job::default()
    };
    let first = saga
        .execute_with_id("twice-1", job.clone())
        .await
        .expect("runs");
    let second = saga
        .execute_with_id("twice-1", job.clone())
        .await
        .expect("runs");
    assert_eq!(first.status, SagaStatus::Completed);
    assert_eq!(second, first, "the second start returns the first saga");
    assert_eq!(journal("twice"), ["do one", "do two", "do three"]);

    // Concurrently, from two processes (owners).
    let job = Job {
        key: "twice-concurrent".into(),
        ..Job::default()
    };
    let other = job_saga(Arc::clone(&store));
    let (a, b) = tokio::join!(
        saga.execute_with_id("twice-2", job.clone()),
        other.execute_with_id("twice-2", job)
    );
    let ran = [a, b]
        .into_iter()
        .filter(|r| matches!(r, Ok(s) if s.status == SagaStatus::Completed))
        .count();
    assert!(ran >= 1, "at least one start reports the finished saga");
    assert_eq!(
        journal("twice-concurrent"),
        ["do one", "do two", "do three"]
    );
    assert_eq!(store.unfinished().await.expect("unfinished").len(), 0);
}

#[tokio::test]
async fn another_saga_type_under_the_same_id_is_refused() {
    let store = store();
    job_saga(Arc::clone(&store))
        .execute_with_id(
            "typed",
            Job {
                key: "typed".into(),
                ..Job::default()
            },
        )
        .await
        .expect("runs");
    let other = Saga::new("other-type", vec![one_step()], store).expect("a valid saga");
    let error = other
        .execute_with_id("typed", Job::default())
        .await
        .expect_err("type mismatch");
    assert!(
        matches!(error, SagaError::SagaTypeMismatch { .. }),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn recover_sagas_resumes_every_unfinished_registered_saga() {
    let store = store();
    let crashed = job_saga(Arc::clone(&store)).with_lease_ttl(Duration::from_millis(1));
    for n in 0..3 {
        let job = Job {
            key: format!("recover-{n}"),
            hang_in: Some("two".into()),
            ..Job::default()
        };
        interrupt(&crashed, &format!("recover-{n}"), job).await;
    }
    // A saga of a type nobody registered.
    let stray = Saga::new("unregistered", vec![one_step()], Arc::clone(&store))
        .expect("a valid saga")
        .with_lease_ttl(Duration::from_millis(1));
    let job = Job {
        key: "stray".into(),
        hang_in: Some("one".into()),
        ..Job::default()
    };
    let run =
        tokio::time::timeout(Duration::from_secs(1), stray.execute_with_id("stray", job)).await;
    assert!(
        matches!(
            run,
            Err(_)
                | Ok(Err(SagaError::Store(
                    SagaStoreError::LeaseNotRenewed { .. }
                )))
        ),
        "{run:?}"
    );
    std::thread::sleep(Duration::from_millis(5));

    let report = recover_sagas(Arc::clone(&store)).await.expect("recovers");
    let mut resumed: Vec<_> = report
        .resumed
        .iter()
        .map(|s| (s.saga_id.as_str(), s.status))
        .collect();
    resumed.sort_by_key(|(id, _)| *id);
    assert_eq!(
        resumed,
        [
            ("recover-0", SagaStatus::Completed),
            ("recover-1", SagaStatus::Completed),
            ("recover-2", SagaStatus::Completed)
        ]
    );
    for n in 0..3 {
        assert_eq!(
            journal(&format!("recover-{n}")),
            ["do one", "do two", "do two", "do three"]
        );
    }
    assert_eq!(report.skipped.len(), 1);
    assert!(matches!(
        &report.skipped[0].1,
        SagaError::UnregisteredSagaType { saga_type, .. } if saga_type == "unregistered"
    ));
}

#[tokio::test(start_paused = true)]
async fn one_saga_value_started_twice_at_once_runs_each_step_once() {
    let saga = job_saga(store());
    let job = Job {
        key: "same-value-start".into(),
        slow_in: Some("one".into()),
        ..Job::default()
    };
    let (a, b) = tokio::join!(
        saga.execute_with_id("same-value-start", job.clone()),
        saga.execute_with_id("same-value-start", job)
    );
    let (a, b) = (a.expect("first start"), b.expect("second start"));
    assert_eq!(a.status, SagaStatus::Completed);
    assert_eq!(b, a, "the second start waits and returns the finished saga");
    assert_eq!(
        journal("same-value-start"),
        ["do one", "do two", "do three"]
    );
}

#[tokio::test(start_paused = true)]
async fn one_saga_value_resuming_twice_at_once_runs_each_step_once() {
    let saga = job_saga(store());
    let job = Job {
        key: "same-value-resume".into(),
        hang_in: Some("two".into()),
        ..Job::default()
    };
    interrupt(&saga, "same-value-resume", job).await;
    let (a, b) = tokio::join!(
        saga.resume("same-value-resume"),
        saga.resume("same-value-resume")
    );
    let (a, b) = (a.expect("first resume"), b.expect("second resume"));
    assert_eq!(a.status, SagaStatus::Completed);
    assert_eq!(b.status, SagaStatus::Completed);
    assert_eq!(
        journal("same-value-resume"),
        ["do one", "do two", "do two", "do three"]
    );
}

#[tokio::test(start_paused = true)]
async fn one_stuck_saga_does_not_hold_up_the_recovery_of_others() {
    let store = store();
    let crashed = job_saga(Arc::clone(&store)).with_lease_ttl(Duration::from_millis(1));
    // Listed first (created first): it takes an hour once resumed.
    for (n, stall) in [(0, true), (1, false), (2, false)] {
        let job = Job {
            key: format!("stuck-{n}"),
            hang_in: Some("two".into()),
            stall_in: stall.then(|| "two".into()),
            ..Job::default()
        };
        interrupt(&crashed, &format!("stuck-{n}"), job).await;
    }
    std::thread::sleep(Duration::from_millis(5)); // wall clock: the leases expire

    let recovery = tokio::spawn(recover_sagas(Arc::clone(&store)));
    tokio::time::sleep(Duration::from_secs(60)).await;
    for n in [1, 2] {
        assert_eq!(
            journal(&format!("stuck-{n}")),
            ["do one", "do two", "do two", "do three"],
            "saga stuck-{n} was resumed while stuck-0 is still stuck"
        );
    }
    assert_eq!(journal("stuck-0"), ["do one", "do two", "do two"]);

    let report = recovery.await.expect("joins").expect("recovers");
    assert_eq!(report.resumed.len(), 3);
    assert!(report.skipped.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_registration_building_another_saga_type_is_reported() {
    let store = store();
    let misnamed = Saga::new(
        "misnamed-job",
        vec![one_step(), two_step(), three_step()],
        Arc::clone(&store),
    )
    .expect("a valid saga")
    .with_lease_ttl(Duration::from_millis(1));
    let job = Job {
        key: "misnamed".into(),
        hang_in: Some("two".into()),
        ..Job::default()
    };
    interrupt(&misnamed, "misnamed-1", job).await;
    std::thread::sleep(Duration::from_millis(5));

    let report = recover_sagas(Arc::clone(&store)).await.expect("recovers");
    assert!(report.resumed.is_empty());
    assert_eq!(report.skipped.len(), 1);
    let (saga_id, error) = &report.skipped[0];
    assert_eq!(saga_id, "misnamed-1");
    assert!(
        matches!(
            error,
            SagaError::RegistrationMismatch { registered, built, module }
                if registered == "misnamed-job" && built == "recovery-job" && module.ends_with("saga_recovery")
        ),
        "{error}"
    );
}

#[tokio::test]
async fn resuming_a_finished_saga_returns_it_without_taking_the_lease() {
    let store = store();
    let saga = job_saga(Arc::clone(&store));
    let job = Job {
        key: "finished-resume".into(),
        ..Job::default()
    };
    let finished = saga
        .execute_with_id("finished-resume", job)
        .await
        .expect("runs");
    // Someone else holds the finished saga's lease (e.g. an operator tool).
    assert!(matches!(
        store
            .acquire_lease("finished-resume", "someone-else", Duration::from_secs(60))
            .await
            .expect("acquire"),
        orchestrix::saga::LeaseOutcome::Acquired(_)
    ));
    let state = saga.resume("finished-resume").await.expect("not busy");
    assert_eq!(state.status, SagaStatus::Completed);
    assert_eq!(state.steps, finished.steps);
    let lease = store
        .load("finished-resume")
        .await
        .expect("load")
        .expect("stored")
        .lease
        .expect("still leased");
    assert_eq!(lease.owner, "someone-else", "the lease was not touched");
}
