//! `register_saga!(build_fn)`: the saga type is written once, in
//! `Saga::new`; recovery builds the saga to learn it and resumes its
//! unfinished sagas. A build fn whose `Saga::new` refuses the definition is
//! reported for each of its sagas, not a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::saga::{SagaError, SagaStateStore, SagaStoreError, recover_sagas};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Parcel {
    id: String,
}

/// The first call hangs (a crash mid-step), later ones succeed.
static PACK_CALLS: AtomicU32 = AtomicU32::new(0);

async fn pack(_parcel: &Parcel) -> Result<(), StepFailure> {
    if PACK_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        std::future::pending::<()>().await;
    }
    Ok(())
}

fn label(_parcel: &Parcel) -> Result<(), StepFailure> {
    Ok(())
}

fn parcel_saga(store: Arc<dyn SagaStateStore>) -> Result<Saga<Parcel>, SagaError> {
    Saga::new(
        "parcel",
        vec![
            SagaStep::builder("pack", pack)
                .build()
                .expect("a valid step"),
            SagaStep::builder("label", label)
                .build()
                .expect("a valid step"),
        ],
        store,
    )
}
orchestrix::register_saga!(parcel_saga);

/// A definition `Saga::new` refuses: two steps named `label`.
fn broken_saga(store: Arc<dyn SagaStateStore>) -> Result<Saga<Parcel>, SagaError> {
    Saga::new(
        "broken-parcel",
        vec![
            SagaStep::builder("label", label)
                .build()
                .expect("a valid step"),
            SagaStep::builder("label", label)
                .build()
                .expect("a valid step"),
        ],
        store,
    )
}
orchestrix::register_saga!("broken-parcel", broken_saga);

#[tokio::test(start_paused = true)]
async fn a_saga_registered_by_its_build_fn_alone_is_recovered_under_its_own_type() {
    let store: Arc<dyn SagaStateStore> = Arc::new(InMemorySagaStateStore::new());
    let saga = parcel_saga(Arc::clone(&store))
        .expect("a valid saga")
        .with_lease_ttl(Duration::from_millis(1));
    let run = tokio::time::timeout(
        Duration::from_secs(1),
        saga.execute_with_id("parcel-1", Parcel { id: "p1".into() }),
    )
    .await;
    // The first pack hangs; the run is dropped at the timeout, or stops on
    // its own when its 1 ms lease cannot be renewed in time.
    assert!(
        matches!(
            run,
            Err(_)
                | Ok(Err(SagaError::Store(
                    SagaStoreError::LeaseNotRenewed { .. }
                )))
        ),
        "the first pack must hang, not finish: {run:?}"
    );
    std::thread::sleep(Duration::from_millis(5)); // the lease expires (wall clock)

    let report = recover_sagas(Arc::clone(&store)).await.expect("recovers");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.resumed.len(), 1);
    assert_eq!(report.resumed[0].saga_type, "parcel");
    assert_eq!(report.resumed[0].status, SagaStatus::Completed);
}

#[test]
fn saga_new_refuses_two_steps_of_one_name() {
    let Err(error) = broken_saga(Arc::new(InMemorySagaStateStore::new())) else {
        panic!("two steps named `label`");
    };
    assert!(
        matches!(&error, SagaError::DuplicateStepName { saga_type, step } if saga_type == "broken-parcel" && step == "label"),
        "{error}"
    );
}
