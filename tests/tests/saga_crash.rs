//! A saga whose process is killed mid-step resumes in another process
//! without re-running its completed steps.
//!
//! The test runs this test binary again as a child (the ignored test
//! `crash_child`), with a file-backed state store; the child hangs inside
//! step two, the test kills it (SIGKILL) and then recovers the saga itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestrix::prelude::*;
use orchestrix::saga::{
    CreateOutcome, LeaseOutcome, PostgreSQLSagaStateStore, SagaStoreError, recover_sagas,
};
use orchestrix_tests::postgres::{database_url, pool, unique_schema};

const CHILD_ENV: &str = "ORCHESTRIX_SAGA_CRASH_DIR";
/// Set when the child keeps its state in PostgreSQL (in this schema of
/// `DATABASE_URL`) instead of a file.
const SCHEMA_ENV: &str = "ORCHESTRIX_SAGA_CRASH_SCHEMA";

/// The state store: PostgreSQL when a schema is given, else a file in `dir`.
async fn open_store(dir: &Path, schema: Option<&str>) -> Arc<dyn SagaStateStore> {
    match schema {
        Some(schema) => {
            let url =
                std::env::var("DATABASE_URL").expect("DATABASE_URL for the PostgreSQL crash test");
            let store =
                PostgreSQLSagaStateStore::from_pool_with_schema(pool(&url, 2).await, schema)
                    .expect("valid schema");
            store.initialize().await.expect("migrates");
            Arc::new(store)
        }
        None => Arc::new(FileStore::open(dir.join("state.json"))),
    }
}

/// A saga state store kept in a JSON file: an in-memory store written out
/// after every change, so a killed process leaves its last state behind.
#[derive(Debug)]
struct FileStore {
    path: PathBuf,
    inner: InMemorySagaStateStore,
}

impl FileStore {
    fn open(path: PathBuf) -> Self {
        let states: Vec<SagaState> = std::fs::read(&path)
            .ok()
            .map(|bytes| serde_json::from_slice(&bytes).expect("state file decodes"))
            .unwrap_or_default();
        Self {
            path,
            inner: InMemorySagaStateStore::with_states(states),
        }
    }

    fn flush(&self) -> Result<(), SagaStoreError> {
        let bytes = serde_json::to_vec(&self.inner.states()).expect("states encode");
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|error| SagaStoreError::Backend {
                operation: "write the state file",
                saga_id: "-".into(),
                source: Box::new(error),
            })
    }
}

#[orchestrix::__private::async_trait::async_trait]
impl SagaStateStore for FileStore {
    async fn initialize(&self) -> Result<(), SagaStoreError> {
        Ok(())
    }
    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        let outcome = self.inner.create(state, owner, ttl).await?;
        self.flush()?;
        Ok(outcome)
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
        let outcome = self.inner.acquire_lease(saga_id, owner, ttl).await?;
        self.flush()?;
        Ok(outcome)
    }
    async fn save(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.inner.save(state, owner, ttl).await?;
        self.flush()
    }
    async fn renew_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        self.inner.renew_lease(saga_id, owner, ttl).await?;
        self.flush()
    }
    async fn release_lease(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError> {
        self.inner.release_lease(saga_id, owner).await?;
        self.flush()
    }
    async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError> {
        self.inner.unfinished().await
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Shipment {
    dir: String,
}

fn log(shipment: &Shipment, line: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&shipment.dir).join("journal"))
        .expect("journal opens");
    writeln!(file, "{line}").expect("journal writes");
}

#[saga_step]
fn pick(shipment: &Shipment) -> Result<(), StepFailure> {
    log(shipment, "pick");
    Ok(())
}

#[saga_step]
async fn pack(shipment: &Shipment) -> Result<(), StepFailure> {
    if std::env::var_os(CHILD_ENV).is_some() {
        log(shipment, "pack started");
        std::future::pending::<()>().await;
    }
    log(shipment, "pack");
    Ok(())
}

#[saga_step]
fn send(shipment: &Shipment) -> Result<(), StepFailure> {
    log(shipment, "send");
    Ok(())
}

fn shipment_saga(store: Arc<dyn SagaStateStore>) -> Saga<Shipment> {
    Saga::new(
        "crash-shipment",
        vec![pick_step(), pack_step(), send_step()],
        store,
    )
    .expect("a valid saga")
    .with_lease_ttl(LEASE_TTL)
}

/// The saga's lease. The child must keep it from its start until it is
/// killed, so it must outlast any stall of a loaded machine between two of
/// the child's lease writes (with 300 ms the test failed now and then at a
/// load average of about 10); the parent then waits about this long for
/// the killed child's lease to lapse.
const LEASE_TTL: Duration = Duration::from_secs(2);

orchestrix::register_saga!("crash-shipment", shipment_saga);

/// The child: runs the saga until it hangs in `pack`. Only run by
/// `a_killed_process_saga_resumes_without_rerunning_completed_steps`.
#[tokio::test]
#[ignore = "run as a child process by the crash test"]
async fn crash_child() {
    let dir = std::env::var(CHILD_ENV).expect("the crash test sets the directory");
    let schema = std::env::var(SCHEMA_ENV).ok();
    let store = open_store(Path::new(&dir), schema.as_deref()).await;
    let saga = shipment_saga(store).with_owner("child");
    let result = saga.execute_with_id("crash-1", Shipment { dir }).await;
    panic!("the child must hang in `pack`, but the saga ended: {result:?}");
}

fn journal(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("journal"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_killed_process_saga_resumes_without_rerunning_completed_steps() {
    killed_child_then_recover(None).await;
}

#[tokio::test]
async fn a_killed_process_saga_resumes_from_postgres() {
    if database_url("a_killed_process_saga_resumes_from_postgres").is_none() {
        return;
    }
    let schema = unique_schema("saga_crash");
    killed_child_then_recover(Some(&schema)).await;
    let url = std::env::var("DATABASE_URL").expect("checked above");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&pool(&url, 1).await)
    .await
    .expect("the schema drops");
}

async fn killed_child_then_recover(schema: Option<&str>) {
    let dir = std::env::temp_dir().join(format!("orchestrix-saga-crash-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["crash_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &dir);
    if let Some(schema) = schema {
        command.env(SCHEMA_ENV, schema);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let started = Instant::now();
    while !journal(&dir).contains(&"pack started".to_owned()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the child never reached `pack`"
        );
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("the child ended early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill");
    child.wait().expect("reap");

    let store = open_store(&dir, schema).await;
    let stored = store
        .load("crash-1")
        .await
        .expect("load")
        .expect("the child stored the saga");
    assert_eq!(stored.status, SagaStatus::Running);
    assert_eq!(stored.steps[0].status, StepStatus::Completed);
    assert_eq!(stored.steps[1].status, StepStatus::Running);

    // The child's lease lapses within its TTL (`LEASE_TTL`); until then
    // recovery reports the saga busy.
    let resumed = loop {
        let report = recover_sagas(Arc::clone(&store)).await.expect("recovery");
        if let Some(state) = report.resumed.into_iter().find(|s| s.saga_id == "crash-1") {
            break state;
        }
        assert!(
            report
                .skipped
                .iter()
                .all(|(_, e)| matches!(e, SagaError::Busy { .. })),
            "{:?}",
            report.skipped
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(resumed.status, SagaStatus::Completed);
    assert_eq!(journal(&dir), ["pick", "pack started", "pack", "send"]);
    assert_eq!(resumed.steps[0].attempts, 1, "pick ran once");
    assert_eq!(resumed.steps[1].attempts, 2, "pack ran again");
    assert!(resumed.steps[1].outcome_unknown);
    std::fs::remove_dir_all(&dir).ok();
}
