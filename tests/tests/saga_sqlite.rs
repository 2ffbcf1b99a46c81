//! The saga state store conformance suite on SQLite (memory and file), and
//! real sagas resuming once across two pools on one file (as two processes
//! would have).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::saga::{SagaStoreError, SqliteSagaStateStore};
use orchestrix_tests::conformance::saga_state_store;
use orchestrix_tests::sqlite::TempDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let store = SqliteSagaStateStore::connect("sqlite::memory:")
        .await
        .expect("opens");
    saga_state_store::run_all(Arc::new(store), "sqlite-memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_conforms() {
    let file = TempDb::new("saga-conformance");
    let store = SqliteSagaStateStore::connect(&file.url(""))
        .await
        .expect("opens");
    saga_state_store::run_all(Arc::new(store), "sqlite-file").await;
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
    Saga::new("sqlite-transfer", vec![debit_step(), credit_step()], store).expect("a valid saga")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sagas_resume_once_across_two_pools_on_one_file() {
    let file = TempDb::new("saga-resume");
    let store = SqliteSagaStateStore::connect(&file.url(""))
        .await
        .expect("opens");
    let crashed = transfer_saga(Arc::new(store.clone())).with_lease_ttl(Duration::from_secs(2));
    let run = tokio::time::timeout(
        Duration::from_millis(500),
        crashed.execute_with_id("t-1", Transfer { hang: true }),
    )
    .await;
    // The first run hangs in `credit`: dropped at the timeout, or stopped on
    // its own when a renewal of its short lease is not confirmed in time
    // (the step then stays `Running`, as after a crash).
    assert!(
        matches!(
            run,
            Err(_)
                | Ok(Err(SagaError::Store(
                    SagaStoreError::LeaseNotRenewed { .. }
                )))
        ),
        "the first run must hang in `credit`: {run:?}"
    );
    drop(crashed);
    let stored = store.load("t-1").await.expect("load").expect("stored");
    assert_eq!(stored.steps[0].status, StepStatus::Completed);
    assert_eq!(stored.steps[1].status, StepStatus::Running);

    // The stored data says "hang"; the resumers must not hang.
    sqlx::query("UPDATE saga_state SET data = '{\"hang\": false}' WHERE saga_id = 't-1'")
        .execute(store.pool())
        .await
        .expect("update");
    // Wait for the lease to lapse on the store's clock.
    while store
        .load("t-1")
        .await
        .expect("load")
        .and_then(|s| s.lease)
        .is_some_and(|lease| lease.expires_at > time::OffsetDateTime::now_utc())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let other = SqliteSagaStateStore::connect(&file.url(""))
        .await
        .expect("a second pool opens");
    let first = transfer_saga(Arc::new(store.clone()));
    let second = transfer_saga(Arc::new(other));
    let (a, b) = tokio::join!(first.resume("t-1"), second.resume("t-1"));
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
        "credit ran once per lease holder"
    );
    assert_eq!(store.unfinished().await.expect("unfinished"), Vec::new());
}
