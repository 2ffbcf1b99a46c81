//! Projections on PostgreSQL: the state store conformance suite, catch-up
//! then live on the PostgreSQL event store, two runners on two connection
//! pools (as two processes have), and transactional projections whose read
//! model commits with the checkpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use orchestrix::prelude::*;
use orchestrix::projection::PostgreSQLProjectionStateStore;
use orchestrix_tests::conformance::projection_state_store;
use orchestrix_tests::postgres::{TestStore, pool};
use orchestrix_tests::projection_scenarios::*;
use sqlx::AssertSqlSafe;

/// A projection state store in the test store's schema, on its own pool of
/// at most `connections`.
async fn state_store(test: &TestStore, connections: u32) -> PostgreSQLProjectionStateStore {
    let states = PostgreSQLProjectionStateStore::from_pool_with_schema(
        pool(&test.url, connections).await,
        &test.schema,
    )
    .expect("valid schema");
    states
        .initialize()
        .await
        .expect("the projection schema migrates");
    states
}

#[tokio::test]
async fn postgres_state_store_conforms() {
    let Some(test) = TestStore::new("postgres_state_store_conforms", 4).await else {
        return;
    };
    projection_state_store::run_all(Arc::new(state_store(&test, 8).await), "pg").await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_then_live_on_postgres() {
    let Some(test) = TestStore::new("catch_up_then_live_on_postgres", 4).await else {
        return;
    };
    let states = state_store(&test, 2).await;
    catch_up_then_live(Arc::new(test.store.clone()), states).await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_on_two_pools_apply_every_event_once() {
    let Some(test) = TestStore::new("two_runners_on_two_pools_apply_every_event_once", 4).await
    else {
        return;
    };
    let first = state_store(&test, 2).await;
    let second = state_store(&test, 2).await;
    two_runners_apply_every_event_once(Arc::new(test.store.clone()), first, second).await;
    test.cleanup().await;
}

// ---- a read model in the same database: one transaction per page ----

/// A transactional projection: per order a total, and one row per applied
/// position (its primary key refuses a second application). It hangs
/// (never commits) on the event at position `hang_at`, as a process killed
/// between its read-model write and the commit would.
fn transactional_totals(
    states: PostgreSQLProjectionStateStore,
    schema: &str,
    hang_at: Option<u64>,
    fail_at: Option<u64>,
) -> ProjectionEngine {
    let totals = format!("\"{schema}\".order_totals");
    let applied = format!("\"{schema}\".applied");
    let mut engine = ProjectionEngine::transactional("tx-totals", states).with_batch_size(8);
    engine.on::<OrderPlaced, _, _>(move |event, context| {
        let (totals, applied) = (totals.clone(), applied.clone());
        async move {
            let transaction = context.transaction().ok_or("not transactional")?;
            {
                let mut connection = transaction.lock().await?;
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {totals} (order_id, total) VALUES ($1, $2) \
                     ON CONFLICT (order_id) DO UPDATE SET total = {totals}.total + $2"
                )))
                .bind(&event.message().order)
                .bind(i64::try_from(event.message().total)?)
                .execute(&mut *connection)
                .await?;
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {applied} (position) VALUES ($1)"
                )))
                .bind(i64::try_from(context.position())?)
                .execute(&mut *connection)
                .await?;
            }
            if Some(context.position()) == fail_at {
                return Err(format!("refusing position {}", context.position()).into());
            }
            if Some(context.position()) == hang_at {
                std::future::pending::<()>().await;
            }
            Ok::<(), BoxError>(())
        }
    });
    engine
}

async fn create_read_model(test: &TestStore) {
    for table in [
        "CREATE TABLE \"{s}\".order_totals (order_id text PRIMARY KEY, total bigint NOT NULL)",
        "CREATE TABLE \"{s}\".applied (position bigint PRIMARY KEY)",
    ] {
        sqlx::raw_sql(AssertSqlSafe(table.replace("{s}", &test.schema)))
            .execute(test.pool())
            .await
            .expect("read-model table");
    }
}

async fn read_model_totals(test: &TestStore) -> HashMap<String, u64> {
    sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(format!(
        "SELECT order_id, total FROM \"{}\".order_totals",
        test.schema
    )))
    .fetch_all(test.pool())
    .await
    .expect("read model")
    .into_iter()
    .map(|(order, total)| (order, u64::try_from(total).expect("positive")))
    .collect()
}

async fn applied_positions(test: &TestStore) -> Vec<i64> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT position FROM \"{}\".applied ORDER BY position",
        test.schema
    )))
    .fetch_all(test.pool())
    .await
    .expect("applied")
}

async fn append_orders(test: &TestStore, count: u64) {
    for i in 0..count {
        test.store
            .save(
                &format!("order-{}", i % 5),
                &[placed(&format!("o-{}", i % 5), i + 1)],
                None,
            )
            .await
            .expect("append");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_projection_killed_before_its_commit_loses_and_doubles_nothing() {
    let Some(test) = TestStore::new(
        "a_transactional_projection_killed_before_its_commit_loses_and_doubles_nothing",
        4,
    )
    .await
    else {
        return;
    };
    create_read_model(&test).await;
    append_orders(&test, 20).await;
    let store = Arc::new(test.store.clone());

    // The first runner hangs at position 12, inside the page 9..=16, after
    // writing the read model: it is killed (its task dropped) there.
    let dying = Arc::new(
        transactional_totals(state_store(&test, 2).await, &test.schema, Some(12), None)
            .with_lease_ttl(Duration::from_millis(300)),
    );
    let (_stop, task) = spawn_run(Arc::clone(&dying), Arc::clone(&store));
    wait_for_state(&dying, |s| s.position == 8).await;
    tokio::time::timeout(WAIT, async {
        while applied_positions(&test).await.len() < 8 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the first page committed");
    task.abort();
    let _ = task.await;
    assert_eq!(
        applied_positions(&test).await,
        (1..=8).collect::<Vec<_>>(),
        "the killed page's writes were rolled back"
    );

    // Restarted (after its lease lapsed): resumes at 8, applies 9..=20 once.
    let restarted = Arc::new(transactional_totals(
        state_store(&test, 2).await,
        &test.schema,
        None,
        None,
    ));
    let (stop, task) = spawn_run(Arc::clone(&restarted), Arc::clone(&store));
    let state = wait_for_state(&restarted, |s| s.position == 20).await;
    stop.send(()).expect("running");
    task.await.expect("task").expect("clean stop");

    assert_eq!(
        applied_positions(&test).await,
        (1..=20).collect::<Vec<_>>(),
        "each event applied once"
    );
    let mut by_hand: HashMap<String, u64> = HashMap::new();
    for i in 0..20u64 {
        *by_hand.entry(format!("o-{}", i % 5)).or_default() += i + 1;
    }
    assert_eq!(
        read_model_totals(&test).await,
        by_hand,
        "totals equal the sum over the store, counted by hand"
    );
    assert_eq!(totals_in(&*store).await, by_hand);
    assert_eq!(
        state.processed, 20,
        "8 before the kill, 9..=20 after: each counted once"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn a_failing_event_rolls_back_its_own_writes_and_keeps_the_checkpoint_before_it() {
    let Some(test) = TestStore::new(
        "a_failing_event_rolls_back_its_own_writes_and_keeps_the_checkpoint_before_it",
        4,
    )
    .await
    else {
        return;
    };
    create_read_model(&test).await;
    append_orders(&test, 6).await;
    let states = state_store(&test, 2).await;
    let engine = transactional_totals(states.clone(), &test.schema, None, Some(4));
    let error = engine
        .run(&test.store, std::future::pending())
        .await
        .expect_err("position 4 fails");
    assert!(
        matches!(error, ProjectionError::Handler { position: 4, .. }),
        "{error:?}"
    );
    assert_eq!(
        applied_positions(&test).await,
        [1, 2, 3],
        "4's writes rolled back, 1..=3 committed"
    );
    let saved = states
        .load("tx-totals")
        .await
        .expect("load")
        .expect("saved");
    assert_eq!((saved.position, saved.healthy), (3, false));
    test.cleanup().await;
}
