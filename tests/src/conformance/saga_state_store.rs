//! The [`SagaStateStore`] conformance suite: every state store (in memory,
//! PostgreSQL) must pass [`run_all`].
//!
//! Each check uses saga ids starting with the caller's `prefix`, so suites
//! can run in parallel and repeatedly on one database.
//!
//! Run it on a multi-threaded runtime
//! (`#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`): the
//! "concurrent" checks release their callers together from a barrier on
//! several worker threads, so a store that is not atomic (check, then
//! write) fails them; `tests/saga_state_store.rs` proves it with such a
//! store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use orchestrix::limits::LimitError;
use orchestrix::saga::{
    CreateOutcome, LeaseOutcome, MAX_LEASE_TTL, SagaChange, SagaState, SagaStateStore, SagaStatus,
    SagaStoreError, StepState, StepStatus,
};
use time::OffsetDateTime;

const TTL: Duration = Duration::from_secs(30);

fn state(id: &str) -> SagaState {
    SagaState::new(
        id,
        "conformance",
        serde_json::json!({ "order": id, "amount": 12 }),
        ["reserve", "charge", "ship"],
    )
}

/// A timestamp every store keeps exactly (whole microseconds).
fn micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// How many callers the concurrent checks release at once.
pub const CONCURRENT_CALLERS: usize = 8;

/// Runs `call(n)` for `n` in `0..CONCURRENT_CALLERS`, each on a task of its
/// own, all released together from a barrier once every task has started;
/// their results in `n` order.
///
/// # Panics
///
/// On a current-thread runtime, where the tasks could not overlap.
pub async fn all_at_once<T, F>(call: impl Fn(usize) -> F) -> Vec<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread,
        "run the saga state store suite on a multi-threaded runtime: \
         #[tokio::test(flavor = \"multi_thread\", worker_threads = 4)]"
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(CONCURRENT_CALLERS));
    let tasks: Vec<_> = (0..CONCURRENT_CALLERS)
        .map(|n| {
            let barrier = Arc::clone(&barrier);
            let call = call(n);
            tokio::spawn(async move {
                barrier.wait().await;
                call.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("a concurrent caller panicked"));
    }
    results
}

/// Runs every check against `store`.
pub async fn run_all(store: Arc<dyn SagaStateStore>, prefix: &str) {
    store.initialize().await.expect("initialize");
    store.initialize().await.expect("initialize twice");
    create_is_insert_if_absent(&*store, prefix).await;
    create_owned_is_create(&*store, prefix).await;
    concurrent_creates_make_one_saga(Arc::clone(&store), prefix).await;
    concurrent_create_owned_make_one_saga(Arc::clone(&store), prefix).await;
    save_round_trips_the_state(&*store, prefix).await;
    save_change_writes_the_changed_state(&*store, prefix).await;
    only_the_lease_holder_writes(&*store, prefix).await;
    an_expired_lease_can_be_taken_over(&*store, prefix).await;
    concurrent_acquirers_one_wins(Arc::clone(&store), prefix).await;
    released_lease_is_free(&*store, prefix).await;
    unfinished_lists_running_and_compensating(&*store, prefix).await;
    huge_ttls_are_cut_to_the_maximum(&*store, prefix).await;
    writes_renew_the_lease(&*store, prefix).await;
}

/// The three ways a check writes a state under a lease.
#[derive(Clone, Copy, Debug)]
enum Writer {
    /// `save`.
    Whole,
    /// `save_change` (of one step), awaited.
    Change,
    /// `save_change_at_once`, and `save_change` when it answers `None`.
    ChangeAtOnce,
}

impl Writer {
    async fn write(
        self,
        store: &dyn SagaStateStore,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        let change = SagaChange::of_step(state, 0);
        match self {
            Self::Whole => store.save(state, owner, ttl).await,
            Self::Change => store.save_change(change, owner, ttl).await,
            Self::ChangeAtOnce => match store.save_change_at_once(change, owner, ttl) {
                Some(outcome) => outcome,
                None => store.save_change(change, owner, ttl).await,
            },
        }
    }
}

/// Every write under a lease (`save`, `save_change`,
/// `save_change_at_once`) renews it to now + the write's TTL, a TTL beyond
/// [`MAX_LEASE_TTL`] counting as [`MAX_LEASE_TTL`]: a run counts on the
/// lease lasting one TTL from each write it sent, so a store that kept
/// the old expiry would let another runner take the saga while this one
/// still works on it.
///
/// The writes use TTLs far longer than the create's, so a renewal shows
/// whatever the time between the calls, and the bounds leave minutes for
/// the store's clock to differ from the process's.
pub async fn writes_renew_the_lease(store: &dyn SagaStateStore, prefix: &str) {
    const LONGER: Duration = Duration::from_secs(60 * 60);
    const SLACK: time::Duration = time::Duration::minutes(5);
    let expires_at = |state: Option<SagaState>| {
        state
            .and_then(|state| state.lease)
            .expect("stored and leased")
            .expires_at
    };
    for (writer, name) in [
        (Writer::Whole, "save"),
        (Writer::Change, "save-change"),
        (Writer::ChangeAtOnce, "save-change-at-once"),
    ] {
        let id = format!("{prefix}-renews-{name}");
        let mut current = state(&id);
        store
            .create(&current, "owner-a", TTL)
            .await
            .expect("create");
        let created = expires_at(store.load(&id).await.expect("load"));

        current.steps[0].status = StepStatus::Running;
        current.steps[0].attempts = 1;
        let sent = OffsetDateTime::now_utc();
        writer
            .write(store, &current, "owner-a", LONGER)
            .await
            .expect("write with a longer ttl");
        let renewed = expires_at(store.load(&id).await.expect("load"));
        assert!(
            renewed > created && renewed > sent + LONGER - SLACK,
            "{writer:?} renews the lease: created {created}, written at {sent} \
             for {LONGER:?}, expires {renewed}"
        );

        current.steps[0].status = StepStatus::Completed;
        let sent = OffsetDateTime::now_utc();
        writer
            .write(store, &current, "owner-a", Duration::MAX)
            .await
            .expect("write with a huge ttl");
        let capped = expires_at(store.load(&id).await.expect("load"));
        let done = OffsetDateTime::now_utc();
        assert!(
            capped > sent + MAX_LEASE_TTL - SLACK && capped <= done + MAX_LEASE_TTL + SLACK,
            "{writer:?} with a huge ttl holds the lease for {MAX_LEASE_TTL:?}: \
             written at {sent}, expires {capped}"
        );
    }
}

/// A TTL beyond [`MAX_LEASE_TTL`] is accepted by every operation and
/// grants a lease of [`MAX_LEASE_TTL`].
pub async fn huge_ttls_are_cut_to_the_maximum(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!("{prefix}-huge-ttl");
    let latest = OffsetDateTime::now_utc() + MAX_LEASE_TTL + time::Duration::minutes(5);
    let expires_at =
        |outcome_state: &SagaState| outcome_state.lease.as_ref().expect("leased").expires_at;
    match store
        .create(&state(&id), "owner-a", Duration::MAX)
        .await
        .expect("create with a huge ttl")
    {
        CreateOutcome::Created(created) => assert!(expires_at(&created) <= latest),
        other => panic!("expected Created, got {other:?}"),
    }
    store
        .renew_lease(&id, "owner-a", Duration::MAX)
        .await
        .expect("renew with a huge ttl");
    store
        .save(&state(&id), "owner-a", Duration::MAX)
        .await
        .expect("save with a huge ttl");
    store.release_lease(&id, "owner-a").await.expect("release");
    match store
        .acquire_lease(&id, "owner-b", Duration::MAX)
        .await
        .expect("acquire with a huge ttl")
    {
        LeaseOutcome::Acquired(acquired) => assert!(expires_at(&acquired) <= latest),
        other => panic!("expected Acquired, got {other:?}"),
    }
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert!(expires_at(&loaded) <= latest);
    assert!(expires_at(&loaded) > OffsetDateTime::now_utc() + time::Duration::hours(23));
}

/// `create` stores a new saga leased to the caller and leaves an existing
/// one untouched.
pub async fn create_is_insert_if_absent(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!("{prefix}-create");
    assert_eq!(
        store.load(&id).await.expect("load"),
        None,
        "unknown saga loads as None"
    );
    let created = match store
        .create(&state(&id), "owner-a", TTL)
        .await
        .expect("create")
    {
        CreateOutcome::Created(created) => created,
        other => panic!("first create must create, got {other:?}"),
    };
    assert_eq!(
        created.lease.as_ref().map(|l| l.owner.as_str()),
        Some("owner-a")
    );
    let mut other = state(&id);
    other.data = serde_json::json!("different");
    match store
        .create(&other, "owner-b", TTL)
        .await
        .expect("create again")
    {
        CreateOutcome::Existing(existing) => {
            assert_eq!(
                existing.data, created.data,
                "the existing saga is returned unchanged"
            );
            assert_eq!(existing.lease.map(|l| l.owner), Some("owner-a".to_owned()));
        }
        other => panic!("second create must find the first, got {other:?}"),
    }
}

/// `create_owned` keeps `create`'s rules: it stores the state it is
/// handed (what `load` returns next is what it returned), leased to the
/// caller (a live lease: another owner cannot take it) for the TTL cut to
/// the maximum, leaves an existing saga untouched, and refuses what
/// `create` refuses (storing nothing). Its atomicity is checked by
/// [`concurrent_create_owned_make_one_saga`].
pub async fn create_owned_is_create(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!("{prefix}-create-owned");
    let latest = OffsetDateTime::now_utc() + MAX_LEASE_TTL + time::Duration::minutes(5);
    let handed = state(&id);
    let created = match store
        .create_owned(handed.clone(), "owner-a", Duration::MAX)
        .await
        .expect("create_owned")
    {
        CreateOutcome::Created(created) => created,
        other => panic!("first create_owned must create, got {other:?}"),
    };
    let lease = created.lease.clone().expect("leased");
    assert_eq!(lease.owner, "owner-a");
    assert!(lease.expires_at <= latest, "the TTL is cut to the maximum");
    assert!(
        lease.expires_at > OffsetDateTime::now_utc() + time::Duration::hours(23),
        "a huge TTL grants the maximum, not less: {lease:?}"
    );
    match store
        .acquire_lease(&id, "owner-b", TTL)
        .await
        .expect("acquire")
    {
        LeaseOutcome::Held { owner, .. } => {
            assert_eq!(owner, "owner-a", "the creator holds the lease");
        }
        other => panic!("the new saga's lease is live, got {other:?}"),
    }
    assert_eq!(
        SagaState {
            lease: None,
            created_at: micros(handed.created_at),
            updated_at: micros(handed.updated_at),
            ..handed
        },
        SagaState {
            lease: None,
            ..created.clone()
        },
        "the handed state is stored"
    );
    assert_eq!(
        store.load(&id).await.expect("load").as_ref(),
        Some(&created),
        "what was returned is what is stored"
    );
    let mut other = state(&id);
    other.data = serde_json::json!("different");
    match store
        .create_owned(other, "owner-b", TTL)
        .await
        .expect("create_owned again")
    {
        CreateOutcome::Existing(existing) => assert_eq!(existing, created, "left untouched"),
        other => panic!("second create_owned must find the first, got {other:?}"),
    }

    let refused_id = format!("{prefix}-create-owned-refused");
    let mut refused = state(&refused_id);
    refused.saga_type = "nul\0inside".into();
    let error = store
        .create_owned(refused, "owner-a", TTL)
        .await
        .expect_err("a NUL in the saga type");
    assert!(matches!(error, SagaStoreError::Limit(_)), "{error:?}");
    assert_eq!(store.load(&refused_id).await.expect("load"), None);
}

/// Of concurrent `create_owned` calls for one id exactly one creates.
pub async fn concurrent_create_owned_make_one_saga(store: Arc<dyn SagaStateStore>, prefix: &str) {
    let id = format!("{prefix}-concurrent-create-owned");
    let outcomes = all_at_once(|n| {
        let store = Arc::clone(&store);
        let id = id.clone();
        async move {
            store
                .create_owned(state(&id), &format!("owner-{n}"), TTL)
                .await
        }
    })
    .await;
    let created = outcomes
        .into_iter()
        .filter(|outcome| {
            matches!(
                outcome.as_ref().expect("create_owned"),
                CreateOutcome::Created(_)
            )
        })
        .count();
    assert_eq!(created, 1, "exactly one concurrent create_owned wins");
}

/// Of concurrent creates of one id exactly one creates.
pub async fn concurrent_creates_make_one_saga(store: Arc<dyn SagaStateStore>, prefix: &str) {
    let id = format!("{prefix}-concurrent-create");
    let outcomes = all_at_once(|n| {
        let store = Arc::clone(&store);
        let id = id.clone();
        async move { store.create(&state(&id), &format!("owner-{n}"), TTL).await }
    })
    .await;
    let created = outcomes
        .into_iter()
        .filter(|outcome| matches!(outcome.as_ref().expect("create"), CreateOutcome::Created(_)))
        .count();
    assert_eq!(created, 1, "exactly one concurrent create wins");
}

/// Everything `save` writes comes back from `load`.
pub async fn save_round_trips_the_state(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!("{prefix}-round-trip");
    store
        .create(&state(&id), "owner-a", TTL)
        .await
        .expect("create");
    let mut saved = state(&id);
    let at = micros(OffsetDateTime::now_utc());
    saved.status = SagaStatus::Compensating;
    saved.error = Some("step `charge` failed: card declined".into());
    saved.steps[0] = StepState {
        status: StepStatus::Completed,
        attempts: 2,
        output: Some(serde_json::json!({ "reservation": "R-1" })),
        error: None,
        started_at: Some(at),
        finished_at: Some(at),
        ..StepState::pending("reserve")
    };
    saved.steps[1] = StepState {
        status: StepStatus::TimedOut,
        attempts: 3,
        error: Some("timed out after 500 ms".into()),
        outcome_unknown: true,
        compensation_attempts: 1,
        compensation_error: Some("refund service down".into()),
        ..StepState::pending("charge")
    };
    store.save(&saved, "owner-a", TTL).await.expect("save");
    let loaded = store.load(&id).await.expect("load").expect("stored");
    assert_eq!(loaded.status, saved.status);
    assert_eq!(loaded.error, saved.error);
    assert_eq!(loaded.compensation_error, saved.compensation_error);
    assert_eq!(loaded.steps, saved.steps);
    assert_eq!(loaded.data, saved.data);
    assert_eq!(loaded.saga_type, "conformance");
    assert_eq!(
        loaded.lease.map(|l| l.owner),
        Some("owner-a".to_owned()),
        "save keeps the lease"
    );
}

/// The stored state, without its lease, as `load` returns it.
async fn stored_without_lease(store: &dyn SagaStateStore, id: &str) -> SagaState {
    SagaState {
        lease: None,
        ..store.load(id).await.expect("load").expect("stored")
    }
}

/// A change a run makes to one step, at a given time.
type Transition = fn(&mut StepState, OffsetDateTime);

/// How a check hands a change to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    /// `save_change`, awaited.
    Awaited,
    /// `save_change_at_once`, and `save_change` when it answers `None`:
    /// what the executor does.
    AtOnce,
}

impl Write {
    async fn save(
        self,
        store: &dyn SagaStateStore,
        change: SagaChange<'_>,
        owner: &str,
    ) -> Result<(), SagaStoreError> {
        if self == Self::AtOnce
            && let Some(outcome) = store.save_change_at_once(change, owner, TTL)
        {
            return outcome;
        }
        store.save_change(change, owner, TTL).await
    }
}

/// `save_change`, fed the changes a run makes (one step at a time, then the
/// saga's own fields), leaves stored exactly the state it was handed, keeps
/// the lease, and refuses what `save` refuses, changing nothing. The same
/// checks run again on another saga through `save_change_at_once` (falling
/// back to `save_change` where it answers `None`, as the executor does),
/// so a store that writes at once is held to every one of them.
pub async fn save_change_writes_the_changed_state(store: &dyn SagaStateStore, prefix: &str) {
    for (write, id) in [
        (Write::Awaited, format!("{prefix}-change")),
        (Write::AtOnce, format!("{prefix}-change-at-once")),
    ] {
        save_change_checks(store, write, &id).await;
    }
}

async fn save_change_checks(store: &dyn SagaStateStore, write: Write, id: &str) {
    let mut current = state(id);
    store
        .create(&current, "owner-a", TTL)
        .await
        .expect("create");
    let at = micros(OffsetDateTime::now_utc());
    let steps: [(usize, Transition); 4] = [
        (0, |step, at| {
            step.status = StepStatus::Running;
            step.attempts = 1;
            step.started_at = Some(at);
        }),
        (0, |step, at| {
            step.status = StepStatus::Completed;
            step.output = Some(serde_json::json!({ "reservation": "R-1", "lines": [1, 2] }));
            step.finished_at = Some(at);
        }),
        (1, |step, _| {
            step.status = StepStatus::Failed;
            step.attempts = 2;
            step.error = Some("card declined".into());
        }),
        (0, |step, at| {
            step.status = StepStatus::Compensated;
            step.compensation_attempts = 1;
            step.compensated_at = Some(at);
        }),
    ];
    for (index, change) in steps {
        change(&mut current.steps[index], at);
        current.updated_at = at;
        if index == 1 {
            current.status = SagaStatus::Compensating;
            current.error = Some("step `charge` failed: card declined".into());
        }
        write
            .save(store, SagaChange::of_step(&current, index), "owner-a")
            .await
            .expect("save a change");
        assert_eq!(stored_without_lease(store, id).await, current);
    }
    current.status = SagaStatus::Compensated;
    write
        .save(store, SagaChange::of_saga(&current), "owner-a")
        .await
        .expect("save the saga's fields");
    assert_eq!(stored_without_lease(store, id).await, current);
    assert_eq!(
        store
            .load(id)
            .await
            .expect("load")
            .and_then(|s| s.lease)
            .map(|l| l.owner),
        Some("owner-a".to_owned()),
        "save_change keeps the lease"
    );

    // Refused as `save` refuses it, and nothing changes.
    let mut refused = current.clone();
    refused.status = SagaStatus::Failed;
    let error = write
        .save(store, SagaChange::of_saga(&refused), "owner-b")
        .await
        .expect_err("b holds no lease");
    assert!(
        matches!(error, SagaStoreError::LeaseLost { ref owner, .. } if owner == "owner-b"),
        "{error}"
    );
    refused.steps[2].error = Some("nul \0 inside".into());
    let error = write
        .save(store, SagaChange::of_step(&refused, 2), "owner-a")
        .await
        .expect_err("a NUL in a changed step's error");
    assert!(
        matches!(error, SagaStoreError::Limit(LimitError::NulInText { .. })),
        "{error}"
    );
    assert_eq!(stored_without_lease(store, id).await, current);
    // A changed step's name is checked too, though a run never renames
    // one (a store may skip a name equal to the one it checked before).
    let mut renamed = current.clone();
    renamed.steps[2].name = "na\0me".into();
    let error = write
        .save(store, SagaChange::of_step(&renamed, 2), "owner-a")
        .await
        .expect_err("a NUL in a changed step's name");
    assert!(
        matches!(error, SagaStoreError::Limit(LimitError::NulInText { .. })),
        "{error}"
    );
    assert_eq!(stored_without_lease(store, id).await, current);
    let missing = state(&format!("{id}-missing"));
    let error = write
        .save(store, SagaChange::of_step(&missing, 0), "owner-a")
        .await
        .expect_err("no such saga");
    assert!(matches!(error, SagaStoreError::NotFound { .. }), "{error}");
}

/// `save` and `renew_lease` by anyone but the lease holder fail with
/// `LeaseLost` and change nothing; a held lease is reported as held.
pub async fn only_the_lease_holder_writes(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!("{prefix}-holder");
    store
        .create(&state(&id), "owner-a", TTL)
        .await
        .expect("create");
    let mut changed = state(&id);
    changed.status = SagaStatus::Completed;
    let error = store
        .save(&changed, "owner-b", TTL)
        .await
        .expect_err("b holds no lease");
    assert!(
        matches!(error, SagaStoreError::LeaseLost { ref owner, .. } if owner == "owner-b"),
        "{error}"
    );
    assert_eq!(
        store.load(&id).await.expect("load").map(|s| s.status),
        Some(SagaStatus::Running)
    );
    let error = store
        .renew_lease(&id, "owner-b", TTL)
        .await
        .expect_err("b holds no lease");
    assert!(matches!(error, SagaStoreError::LeaseLost { .. }), "{error}");
    store
        .renew_lease(&id, "owner-a", TTL)
        .await
        .expect("a renews");
    match store
        .acquire_lease(&id, "owner-b", TTL)
        .await
        .expect("acquire")
    {
        LeaseOutcome::Held { owner, expires_at } => {
            assert_eq!(owner, "owner-a");
            assert!(expires_at > OffsetDateTime::now_utc());
        }
        other => panic!("a's lease is valid, got {other:?}"),
    }
    match store
        .acquire_lease(&id, "owner-a", TTL)
        .await
        .expect("re-acquire")
    {
        LeaseOutcome::Acquired(_) => {}
        // Idempotent for one owner token; the executor leases under a
        // token per run, so this never lets two runs share a lease.
        other => panic!("the holder may acquire again, got {other:?}"),
    }
    match store
        .acquire_lease(&format!("{id}-missing"), "owner-a", TTL)
        .await
        .expect("acquire")
    {
        LeaseOutcome::NotFound => {}
        other => panic!("unknown saga, got {other:?}"),
    }
}

/// Once a lease expires another owner takes it, and the old owner can no
/// longer write.
pub async fn an_expired_lease_can_be_taken_over(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!("{prefix}-expired");
    store
        .create(&state(&id), "owner-a", Duration::from_millis(1))
        .await
        .expect("create");
    // Polled: the lease expires on the store's clock, which may differ from
    // this process's.
    let polling = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match store
                .acquire_lease(&id, "owner-b", TTL)
                .await
                .expect("acquire")
            {
                LeaseOutcome::Held { owner, .. } => {
                    assert_eq!(owner, "owner-a");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                outcome => break outcome,
            }
        }
    });
    match polling.await.expect("a 1 ms lease expires") {
        LeaseOutcome::Acquired(state) => {
            assert_eq!(state.lease.map(|l| l.owner), Some("owner-b".to_owned()));
        }
        other => panic!("an expired lease is free, got {other:?}"),
    }
    let error = store
        .save(&state(&id), "owner-a", TTL)
        .await
        .expect_err("a lost it");
    assert!(matches!(error, SagaStoreError::LeaseLost { .. }), "{error}");
}

/// Of concurrent acquirers of a free lease exactly one wins.
pub async fn concurrent_acquirers_one_wins(store: Arc<dyn SagaStateStore>, prefix: &str) {
    let id = format!("{prefix}-race");
    store
        .create(&state(&id), "creator", TTL)
        .await
        .expect("create");
    store.release_lease(&id, "creator").await.expect("release");
    let outcomes = all_at_once(|n| {
        let store = Arc::clone(&store);
        let id = id.clone();
        async move { store.acquire_lease(&id, &format!("racer-{n}"), TTL).await }
    })
    .await;
    let winners = outcomes
        .into_iter()
        .filter(|outcome| {
            matches!(
                outcome.as_ref().expect("acquire"),
                LeaseOutcome::Acquired(_)
            )
        })
        .count();
    assert_eq!(winners, 1, "exactly one concurrent acquirer wins");
}

/// After `release_lease` anyone may acquire; a release by a non-holder does
/// nothing.
pub async fn released_lease_is_free(store: &dyn SagaStateStore, prefix: &str) {
    let id = format!("{prefix}-release");
    store
        .create(&state(&id), "owner-a", TTL)
        .await
        .expect("create");
    store
        .release_lease(&id, "owner-b")
        .await
        .expect("foreign release is a no-op");
    assert!(matches!(
        store
            .acquire_lease(&id, "owner-b", TTL)
            .await
            .expect("acquire"),
        LeaseOutcome::Held { .. }
    ));
    store.release_lease(&id, "owner-a").await.expect("release");
    assert_eq!(
        store.load(&id).await.expect("load").and_then(|s| s.lease),
        None
    );
    assert!(matches!(
        store
            .acquire_lease(&id, "owner-b", TTL)
            .await
            .expect("acquire"),
        LeaseOutcome::Acquired(_)
    ));
}

/// `unfinished` lists running and compensating sagas only.
pub async fn unfinished_lists_running_and_compensating(store: &dyn SagaStateStore, prefix: &str) {
    let statuses = [
        SagaStatus::Running,
        SagaStatus::Compensating,
        SagaStatus::Completed,
        SagaStatus::Compensated,
        SagaStatus::Failed,
    ];
    for status in statuses {
        let id = format!("{prefix}-unfinished-{}", status.as_str());
        store
            .create(&state(&id), "owner-a", TTL)
            .await
            .expect("create");
        let mut saved = state(&id);
        saved.status = status;
        store.save(&saved, "owner-a", TTL).await.expect("save");
    }
    let mut found: Vec<String> = store
        .unfinished()
        .await
        .expect("unfinished")
        .into_iter()
        .map(|s| s.saga_id)
        .filter(|id| id.starts_with(&format!("{prefix}-unfinished-")))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            format!("{prefix}-unfinished-compensating"),
            format!("{prefix}-unfinished-running")
        ]
    );
}
