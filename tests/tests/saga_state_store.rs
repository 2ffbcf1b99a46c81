//! The saga state store conformance suite on every implementation, and the
//! PostgreSQL store under real sagas: crash recovery and concurrent
//! resumers across two connection pools (as two processes would have).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::saga::{
    CreateOutcome, InMemorySagaStateStore, LeaseOutcome, PostgreSQLSagaStateStore, SagaStoreError,
};
use orchestrix_tests::conformance::saga_state_store;
use orchestrix_tests::postgres::{database_url, pool, unique_schema};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_conforms() {
    saga_state_store::run_all(Arc::new(InMemorySagaStateStore::new()), "memory").await;
}

/// Which operation [`NotAtomic`] splits into a check and a write.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Racy {
    Create,
    AcquireLease,
}

/// A store that checks, then writes, as a store without a transaction (or
/// a compare-and-set) would: between the two, it waits (blocking its
/// thread, no await point) until a second caller has checked too, or 5 s
/// passed. So it is wrong only when callers really overlap; the suite must
/// catch it.
#[derive(Debug)]
struct NotAtomic {
    inner: InMemorySagaStateStore,
    racy: Racy,
    checked: std::sync::Mutex<usize>,
    second_checked: std::sync::Condvar,
}

impl NotAtomic {
    fn new(racy: Racy) -> Arc<Self> {
        Arc::new(Self {
            inner: InMemorySagaStateStore::new(),
            racy,
            checked: std::sync::Mutex::new(0),
            second_checked: std::sync::Condvar::new(),
        })
    }

    /// Between the check and the write: waits for a second caller.
    fn between_check_and_write(&self) {
        let mut checked = self.checked.lock().expect("checked");
        *checked += 1;
        self.second_checked.notify_all();
        let _ = self
            .second_checked
            .wait_timeout_while(checked, Duration::from_secs(5), |checked| *checked < 2)
            .expect("checked");
    }
}

#[orchestrix::__private::async_trait::async_trait]
impl SagaStateStore for NotAtomic {
    async fn initialize(&self) -> Result<(), SagaStoreError> {
        Ok(())
    }
    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        if self.racy != Racy::Create {
            return self.inner.create(state, owner, ttl).await;
        }
        let existing = self.inner.load(&state.saga_id).await?;
        self.between_check_and_write();
        match existing {
            Some(existing) => Ok(CreateOutcome::Existing(existing)),
            // Checked absent, so "inserted" (overwriting a concurrent insert).
            None => match self.inner.create(state, owner, ttl).await? {
                CreateOutcome::Created(created) => Ok(CreateOutcome::Created(created)),
                _ => Ok(CreateOutcome::Created(state.clone())),
            },
        }
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
        if self.racy != Racy::AcquireLease {
            return self.inner.acquire_lease(saga_id, owner, ttl).await;
        }
        let Some(stored) = self.inner.load(saga_id).await? else {
            return Ok(LeaseOutcome::NotFound);
        };
        self.between_check_and_write();
        match stored.lease {
            Some(lease)
                if lease.owner != owner && lease.expires_at > time::OffsetDateTime::now_utc() =>
            {
                Ok(LeaseOutcome::Held {
                    owner: lease.owner,
                    expires_at: lease.expires_at,
                })
            }
            // Checked free, so "taken" (overwriting a concurrent taker).
            _ => {
                let _ = self.inner.acquire_lease(saga_id, owner, ttl).await?;
                Ok(LeaseOutcome::Acquired(stored))
            }
        }
    }
    async fn save(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.inner.save(state, owner, ttl).await
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

/// Runs `check` on its own task and returns its panic message.
async fn panic_of(check: impl Future<Output = ()> + Send + 'static) -> String {
    let panic = tokio::spawn(check)
        .await
        .expect_err("the suite must fail a store that is not atomic")
        .into_panic();
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_suite_fails_a_store_whose_create_is_not_atomic() {
    let message = panic_of(saga_state_store::concurrent_creates_make_one_saga(
        NotAtomic::new(Racy::Create),
        "not-atomic",
    ))
    .await;
    assert!(
        message.contains("exactly one concurrent create wins"),
        "{message}"
    );
}

/// `NotAtomic` keeps the default `create_owned`, which calls its racy
/// `create`: a store taking the default is as atomic as its `create`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_suite_fails_a_store_whose_create_owned_is_not_atomic() {
    let message = panic_of(saga_state_store::concurrent_create_owned_make_one_saga(
        NotAtomic::new(Racy::Create),
        "not-atomic",
    ))
    .await;
    assert!(
        message.contains("exactly one concurrent create_owned wins"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_suite_fails_a_store_whose_lease_taking_is_not_atomic() {
    let message = panic_of(saga_state_store::concurrent_acquirers_one_wins(
        NotAtomic::new(Racy::AcquireLease),
        "not-atomic",
    ))
    .await;
    assert!(
        message.contains("exactly one concurrent acquirer wins"),
        "{message}"
    );
}

#[tokio::test]
async fn the_suite_refuses_a_current_thread_runtime() {
    let message = panic_of(saga_state_store::concurrent_creates_make_one_saga(
        Arc::new(InMemorySagaStateStore::new()),
        "current-thread",
    ))
    .await;
    assert!(message.contains("multi-threaded runtime"), "{message}");
}

/// A fresh PostgreSQL saga store in its own schema, or `None` (skipped).
async fn postgres_store(test: &str) -> Option<(PostgreSQLSagaStateStore, String)> {
    let url = database_url(test)?;
    let schema = unique_schema("saga");
    let store = PostgreSQLSagaStateStore::from_pool_with_schema(pool(&url, 8).await, &schema)
        .expect("valid schema");
    store.initialize().await.expect("the saga schema migrates");
    Some((store, url))
}

async fn drop_schema(store: &PostgreSQLSagaStateStore) {
    let statement = format!("DROP SCHEMA IF EXISTS {} CASCADE", store.schema().quoted());
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(store.pool())
        .await
        .expect("the schema drops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    let Some((store, _)) = postgres_store("postgres_store_conforms").await else {
        return;
    };
    saga_state_store::run_all(Arc::new(store.clone()), "pg").await;
    drop_schema(&store).await;
}

#[tokio::test]
async fn postgres_store_reports_bad_configuration_and_unreachable_servers() {
    let error = PostgreSQLSagaStateStore::connect("not a url")
        .await
        .expect_err("bad url");
    assert!(matches!(error, SagaStoreError::Configuration(_)), "{error}");
    let options =
        orchestrix::postgres::PostgresOptions::builder("postgres://postgres@127.0.0.1:1/nowhere")
            .acquire_timeout(Duration::from_millis(300))
            .build()
            .expect("valid options");
    let error = PostgreSQLSagaStateStore::connect_with(options)
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        matches!(error, SagaStoreError::Unavailable { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
}

/// Polls until the lease of `saga_id` has expired (or is gone) on the
/// database's clock, which is the one the store takes leases by.
async fn lease_expired_on_the_database_clock(store: &PostgreSQLSagaStateStore, saga_id: &str) {
    let query = format!(
        "SELECT lease_expires_at IS NULL OR lease_expires_at <= now() FROM {}.saga_state WHERE saga_id = $1",
        store.schema().quoted()
    );
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let expired: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(query.clone()))
                .bind(saga_id)
                .fetch_one(store.pool())
                .await
                .expect("the lease reads");
            if expired {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the lease expires");
}

static RUNS: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Serialize, Deserialize)]
struct Transfer {
    hang: bool,
}

#[saga_step]
fn debit(_transfer: &Transfer) -> Result<u32, StepFailure> {
    Ok(1)
}

#[saga_step]
async fn credit(transfer: &Transfer) -> Result<u32, StepFailure> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    if transfer.hang {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(2)
}

fn transfer_saga(store: Arc<dyn SagaStateStore>) -> Saga<Transfer> {
    Saga::new("pg-transfer", vec![debit_step(), credit_step()], store).expect("a valid saga")
}

#[tokio::test]
async fn postgres_sagas_resume_once_across_two_pools() {
    let Some((store, url)) = postgres_store("postgres_sagas_resume_once_across_two_pools").await
    else {
        return;
    };
    let schema = store.schema().as_str().to_owned();
    let crashed = transfer_saga(Arc::new(store.clone())).with_lease_ttl(Duration::from_secs(2));
    let run = tokio::time::timeout(
        Duration::from_millis(500),
        crashed.execute_with_id("t-1", Transfer { hang: true }),
    )
    .await;
    assert!(run.is_err(), "the first run hangs in `credit`");
    drop(crashed);
    let stored = store.load("t-1").await.expect("load").expect("stored");
    assert_eq!(stored.steps[0].status, StepStatus::Completed);
    assert_eq!(stored.steps[1].status, StepStatus::Running);
    lease_expired_on_the_database_clock(&store, "t-1").await;

    // The stored data says "hang"; the resumers must not hang, so they see
    // the saga through the stored state with the flag cleared.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {}.saga_state SET data = '{{\"hang\": false}}' WHERE saga_id = 't-1'",
        store.schema().quoted()
    )))
    .execute(store.pool())
    .await
    .expect("update");

    let other = PostgreSQLSagaStateStore::from_pool_with_schema(pool(&url, 4).await, &schema)
        .expect("schema");
    let first = transfer_saga(Arc::new(store.clone()));
    let second = transfer_saga(Arc::new(other));
    let (a, b) = tokio::join!(first.resume("t-1"), second.resume("t-1"));
    // One resumer runs the saga; the other finds it busy, or (if it comes
    // second) finished. Either way `credit` runs once more, not twice.
    let finished = match (a, b) {
        (Ok(state), Err(SagaError::Busy { .. })) | (Err(SagaError::Busy { .. }), Ok(state)) => {
            state
        }
        (Ok(one), Ok(two)) => {
            assert_eq!(one.steps, two.steps, "both report the one run");
            one
        }
        other => panic!("exactly one resumer must run the saga: {other:?}"),
    };
    assert_eq!(finished.status, SagaStatus::Completed);
    assert_eq!(finished.steps[0].attempts, 1, "debit is not run again");
    assert_eq!(finished.steps[1].attempts, 2);
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        2,
        "credit ran once per process that held the lease"
    );
    assert_eq!(store.unfinished().await.expect("unfinished"), Vec::new());
    drop_schema(&store).await;
}

static LOST_POOL: std::sync::Mutex<Option<orchestrix::postgres::PgPool>> =
    std::sync::Mutex::new(None);

#[saga_step]
async fn lose_the_database(_transfer: &Transfer) -> Result<u32, StepFailure> {
    let pool = LOST_POOL.lock().expect("pool").take();
    if let Some(pool) = pool {
        pool.close().await; // the database goes away under the running saga
    }
    Ok(3)
}

#[tokio::test]
async fn a_database_lost_mid_run_is_a_typed_error_and_the_saga_resumes_later() {
    let Some((store, url)) =
        postgres_store("a_database_lost_mid_run_is_a_typed_error_and_the_saga_resumes_later").await
    else {
        return;
    };
    let schema = store.schema().as_str().to_owned();
    let doomed = PostgreSQLSagaStateStore::from_pool_with_schema(pool(&url, 2).await, &schema)
        .expect("schema");
    *LOST_POOL.lock().expect("pool") = Some(doomed.pool().clone());
    let steps = || vec![debit_step(), lose_the_database_step()];
    let saga = Saga::new("pg-lost", steps(), Arc::new(doomed))
        .expect("a valid saga")
        .with_lease_ttl(Duration::from_secs(2));
    let error = saga
        .execute_with_id("lost-1", Transfer { hang: false })
        .await
        .expect_err("the store is gone");
    assert!(
        matches!(error, SagaError::Store(SagaStoreError::Unavailable { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("save a saga"), "{error}");

    lease_expired_on_the_database_clock(&store, "lost-1").await;
    let resumed = Saga::new("pg-lost", steps(), Arc::new(store.clone()))
        .expect("a valid saga")
        .resume("lost-1")
        .await
        .expect("resumes on a working pool");
    assert_eq!(resumed.status, SagaStatus::Completed);
    assert_eq!(resumed.steps[0].attempts, 1, "debit is not run again");
    assert_eq!(
        resumed.steps[1].attempts, 2,
        "the step whose result was not stored runs again"
    );
    drop_schema(&store).await;
}
