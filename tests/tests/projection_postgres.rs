//! Projections on PostgreSQL: the state store conformance suite, catch-up
//! then live on the PostgreSQL event store, two runners on two connection
//! pools (as two processes have), and transactional projections whose read
//! model commits with the checkpoint.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestrix::prelude::*;
use orchestrix::projection::PostgreSQLProjectionStateStore;
use orchestrix::store::postgres::PostgreSQLEventStore;
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

#[tokio::test]
async fn a_restart_on_postgres_resumes_at_the_checkpoint_without_reapplying() {
    let Some(test) = TestStore::new(
        "a_restart_on_postgres_resumes_at_the_checkpoint_without_reapplying",
        4,
    )
    .await
    else {
        return;
    };
    let states = state_store(&test, 2).await;
    restart_resumes_at_the_checkpoint_without_reapplying(Arc::new(test.store.clone()), states)
        .await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_with_a_live_projection_on_postgres() {
    let Some(test) = TestStore::new(
        "eight_concurrent_writers_with_a_live_projection_on_postgres",
        10,
    )
    .await
    else {
        return;
    };
    let states = state_store(&test, 2).await;
    eight_concurrent_writers_with_a_live_projection_on(Arc::new(test.store.clone()), states, 50)
        .await;
    test.cleanup().await;
}

/// Appends, by hand in SQL with the columns a current writer fills, an event
/// of a type no code in this process registers (another service wrote it).
async fn insert_foreign_event(test: &TestStore, stream: &str) {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{s}\".events (position, stream_id, version, event_id, event_type, \
         schema_version, payload, source, occurred_at, correlation_id) \
         VALUES (nextval('\"{s}\".event_positions'), $1, 1, gen_random_uuid(), \
         'billing.InvoiceSent', 1, '{{\"invoice\": 7}}'::jsonb, 'billing-service', now(), \
         gen_random_uuid())",
        s = test.schema
    )))
    .bind(stream)
    .execute(test.pool())
    .await
    .expect("raw insert of a foreign event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_type_from_another_service_does_not_stop_it_on_postgres() {
    let Some(test) = TestStore::new(
        "an_event_type_from_another_service_does_not_stop_it_on_postgres",
        4,
    )
    .await
    else {
        return;
    };
    test.store
        .save("o-1", &[placed("o-1", 2)], None)
        .await
        .expect("append");
    insert_foreign_event(&test, "invoice-1").await;
    test.store
        .save("o-1", &[placed("o-1", 3)], None)
        .await
        .expect("append");
    // The row really is one this process cannot decode.
    let error = test
        .store
        .read_all(1, 10)
        .await
        .expect_err("an unfiltered read decodes every row");
    assert!(matches!(error, StoreError::Decode { .. }), "{error:?}");

    let store = Arc::new(test.store.clone());
    let seen = Shared::default();
    let engine = Arc::new(order_totals("totals", state_store(&test, 2).await, &seen));
    let (stop, task) = spawn_run(Arc::clone(&engine), Arc::clone(&store));
    wait_for_state(&engine, |s| s.position == 3).await;
    // Followed live past another foreign event.
    insert_foreign_event(&test, "invoice-2").await;
    test.store
        .save("o-2", &[placed("o-2", 5)], None)
        .await
        .expect("append");
    let state = wait_for_state(&engine, |s| s.position == 5).await;
    stop.send(()).expect("running");
    task.await.expect("task").expect("a clean stop");

    assert!(state.healthy, "{:?}", state.last_error);
    assert_eq!(state.processed, 3, "the three OrderPlaced, nothing else");
    assert_eq!(state.last_event_position, Some(5));
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(
            seen.totals,
            HashMap::from([("o-1".to_owned(), 5), ("o-2".to_owned(), 5)])
        );
        assert_eq!(
            seen.applied,
            HashMap::from([(1, 1), (3, 1), (5, 1)]),
            "the foreign events at 2 and 4 were passed, not applied"
        );
    }
    test.cleanup().await;
}

// ---- a read model in the same database: one transaction per page ----

/// Where a transactional test projection misbehaves, after writing the
/// read model for that event and before its page commits.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    /// Hangs (never commits) here, as a process killed between its
    /// read-model write and the commit would.
    hang_at: Option<u64>,
    /// Fails here.
    fail_at: Option<u64>,
    /// Takes the advisory lock `(CRASH_LOCK_CLASS, key)` in its transaction
    /// here: it blocks while another session holds it, which that session
    /// sees in `pg_locks` (the crash test's "written, not committed" signal).
    lock_at: Option<(u64, i32)>,
}

/// The advisory-lock class (first key) of the crash test's signal lock.
const CRASH_LOCK_CLASS: i32 = 0x0bad_5eed;

/// A transactional projection: per order a total, and one row per applied
/// position (its primary key refuses a second application), misbehaving as
/// `faults` say.
fn transactional_totals(
    states: PostgreSQLProjectionStateStore,
    schema: &str,
    faults: Faults,
) -> ProjectionEngine {
    let schema = schema.to_owned();
    let mut engine = ProjectionEngine::transactional("tx-totals", states).with_batch_size(8);
    engine.on::<OrderPlaced, _, _>(move |event, context| {
        let schema = schema.clone();
        async move {
            let transaction = context.transaction().ok_or("not transactional")?;
            {
                let mut connection = transaction.lock().await?;
                write_order(
                    &mut connection,
                    &schema,
                    event.message(),
                    context.position(),
                )
                .await?;
                if let Some((position, key)) = faults.lock_at
                    && position == context.position()
                {
                    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                        .bind(CRASH_LOCK_CLASS)
                        .bind(key)
                        .execute(&mut *connection)
                        .await?;
                }
            }
            if Some(context.position()) == faults.fail_at {
                return Err(format!("refusing position {}", context.position()).into());
            }
            if Some(context.position()) == faults.hang_at {
                std::future::pending::<()>().await;
            }
            Ok::<(), BoxError>(())
        }
    });
    engine
}

/// Adds `order`'s total to its row of the read model in `schema` and
/// records `position` as applied (its primary key refuses a second time).
async fn write_order(
    connection: &mut sqlx::PgConnection,
    schema: &str,
    order: &OrderPlaced,
    position: u64,
) -> Result<(), BoxError> {
    let totals = format!("\"{schema}\".order_totals");
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {totals} (order_id, total) VALUES ($1, $2) \
         ON CONFLICT (order_id) DO UPDATE SET total = {totals}.total + $2"
    )))
    .bind(&order.order)
    .bind(i64::try_from(order.total)?)
    .execute(&mut *connection)
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{schema}\".applied (position) VALUES ($1)"
    )))
    .bind(i64::try_from(position)?)
    .execute(&mut *connection)
    .await?;
    Ok(())
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
        transactional_totals(
            state_store(&test, 2).await,
            &test.schema,
            Faults {
                hang_at: Some(12),
                ..Faults::default()
            },
        )
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

    restart_applies_the_rest_once(&test).await;
    test.cleanup().await;
}

/// Restarts the transactional projection of `append_orders(test, 20)` after
/// a runner died inside the page 9..=16 (once its lease lapsed): it resumes
/// at 8 and applies 9..=20 once; the read model's totals equal the sum over
/// the store, counted by hand.
async fn restart_applies_the_rest_once(test: &TestStore) {
    let store = Arc::new(test.store.clone());
    let restarted = Arc::new(transactional_totals(
        state_store(test, 2).await,
        &test.schema,
        Faults::default(),
    ));
    let (stop, task) = spawn_run(Arc::clone(&restarted), Arc::clone(&store));
    let state = wait_for_state(&restarted, |s| s.position == 20).await;
    stop.send(()).expect("running");
    task.await.expect("task").expect("clean stop");

    assert_eq!(
        applied_positions(test).await,
        (1..=20).collect::<Vec<_>>(),
        "each event applied once"
    );
    let mut by_hand: HashMap<String, u64> = HashMap::new();
    for i in 0..20u64 {
        *by_hand.entry(format!("o-{}", i % 5)).or_default() += i + 1;
    }
    assert_eq!(
        read_model_totals(test).await,
        by_hand,
        "totals equal the sum over the store, counted by hand"
    );
    assert_eq!(totals_in(&*store).await, by_hand);
    assert_eq!(
        state.processed, 20,
        "8 before the kill, 9..=20 after: each counted once"
    );
}

// ---- the same, with a real process killed by SIGKILL ----

/// The child's schema (of `DATABASE_URL`).
const CRASH_SCHEMA_ENV: &str = "ORCHESTRIX_PROJECTION_CRASH_SCHEMA";
/// The second key of the child's signal lock.
const CRASH_KEY_ENV: &str = "ORCHESTRIX_PROJECTION_CRASH_KEY";

/// The child of
/// `a_transactional_projection_sigkilled_between_write_and_commit_restarts_exactly_once`:
/// runs the transactional projection, which blocks on the parent's lock
/// after writing the read model for position 12 (uncommitted), until the
/// parent kills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by the SIGKILL test"]
async fn sigkill_child() {
    let schema = std::env::var(CRASH_SCHEMA_ENV).expect("the crash test sets the schema");
    let key: i32 = std::env::var(CRASH_KEY_ENV)
        .expect("the crash test sets the key")
        .parse()
        .expect("the key is an i32");
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL for the crash test");
    let store = PostgreSQLEventStore::from_pool_with_schema(pool(&url, 2).await, &schema)
        .expect("valid schema");
    let states =
        PostgreSQLProjectionStateStore::from_pool_with_schema(pool(&url, 2).await, &schema)
            .expect("valid schema");
    let engine = transactional_totals(
        states,
        &schema,
        Faults {
            lock_at: Some((12, key)),
            ..Faults::default()
        },
    )
    .with_lease_ttl(Duration::from_millis(300));
    let outcome = engine.run(&store, std::future::pending()).await;
    panic!("the projection ended instead of being killed: {outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_projection_sigkilled_between_write_and_commit_restarts_exactly_once() {
    let Some(test) = TestStore::new(
        "a_transactional_projection_sigkilled_between_write_and_commit_restarts_exactly_once",
        4,
    )
    .await
    else {
        return;
    };
    create_read_model(&test).await;
    append_orders(&test, 20).await;

    // The parent holds the signal lock; the child's transaction waits for it
    // once it has written the read model of position 12 (page 9..=16).
    let key = i32::from_ne_bytes(
        uuid::Uuid::new_v4().as_bytes()[..4]
            .try_into()
            .expect("4 bytes"),
    ) & i32::MAX;
    let mut holder = test.pool().acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(CRASH_LOCK_CLASS)
        .bind(key)
        .execute(&mut *holder)
        .await
        .expect("the signal lock");
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["sigkill_child", "--exact", "--ignored", "--nocapture"])
        .env(CRASH_SCHEMA_ENV, &test.schema)
        .env(CRASH_KEY_ENV, key.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");

    // Polls (the condition, not a duration) until the child's backend waits
    // for the lock: written, not committed.
    let started = Instant::now();
    let backend: i32 = loop {
        let waiting = sqlx::query_scalar(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2",
        )
        .bind(i64::from(CRASH_LOCK_CLASS))
        .bind(i64::from(key))
        .fetch_optional(test.pool())
        .await
        .expect("pg_locks");
        if let Some(pid) = waiting {
            break pid;
        }
        if let Some(status) = child.try_wait().expect("the child's status") {
            panic!("the child ended before reaching position 12: {status}");
        }
        assert!(
            started.elapsed() < 3 * WAIT,
            "the child never reached position 12"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The first page is committed; the second is written but not.
    assert_eq!(applied_positions(&test).await, (1..=8).collect::<Vec<_>>());

    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    // Its backend notices the dead client once the lock lets it go on, and
    // rolls back.
    sqlx::query("SELECT pg_advisory_unlock($1, $2)")
        .bind(CRASH_LOCK_CLASS)
        .bind(key)
        .execute(&mut *holder)
        .await
        .expect("unlock");
    drop(holder);
    tokio::time::timeout(WAIT, async {
        while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(backend)
            .fetch_one(test.pool())
            .await
            .expect("pg_stat_activity")
            > 0
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the killed child's backend ended");
    assert_eq!(
        applied_positions(&test).await,
        (1..=8).collect::<Vec<_>>(),
        "the killed page's writes were rolled back"
    );
    let saved = state_store(&test, 1)
        .await
        .load("tx-totals")
        .await
        .expect("load")
        .expect("the child saved its checkpoint");
    assert_eq!(saved.position, 8, "the checkpoint committed with page 1");

    restart_applies_the_rest_once(&test).await;
    test.cleanup().await;
}

/// A test store holding six orders, the read-model tables and a state
/// store; `None` without a database.
async fn six_orders_and_a_read_model(
    name: &str,
) -> Option<(TestStore, PostgreSQLProjectionStateStore)> {
    let test = TestStore::new(name, 4).await?;
    create_read_model(&test).await;
    append_orders(&test, 6).await;
    let states = state_store(&test, 2).await;
    Some((test, states))
}

/// Runs `engine`, whose handler fails at position 4 after writing, and
/// checks it stopped there: 4's writes rolled back, 1..=3 committed, the
/// checkpoint saved at 3, unhealthy.
async fn stops_at_4_keeping_1_to_3(
    test: &TestStore,
    states: &PostgreSQLProjectionStateStore,
    engine: &ProjectionEngine,
) {
    let error = engine
        .run(&test.store, std::future::pending())
        .await
        .expect_err("position 4 fails");
    assert!(
        matches!(error, ProjectionError::Handler { position: 4, .. }),
        "{error:?}"
    );
    assert_eq!(
        applied_positions(test).await,
        [1, 2, 3],
        "4's writes rolled back, 1..=3 committed"
    );
    let saved = states
        .load(engine.name())
        .await
        .expect("load")
        .expect("saved");
    assert_eq!((saved.position, saved.healthy), (3, false));
}

#[tokio::test]
async fn a_failing_event_rolls_back_its_own_writes_and_keeps_the_checkpoint_before_it() {
    let Some((test, states)) = six_orders_and_a_read_model(
        "a_failing_event_rolls_back_its_own_writes_and_keeps_the_checkpoint_before_it",
    )
    .await
    else {
        return;
    };
    let engine = transactional_totals(
        states.clone(),
        &test.schema,
        Faults {
            fail_at: Some(4),
            ..Faults::default()
        },
    );
    stops_at_4_keeping_1_to_3(&test, &states, &engine).await;
    test.cleanup().await;
}

/// A `#[projection]` read model whose tables live in PostgreSQL: its async
/// handler writes through the page's transaction (from the
/// `&ProjectionContext` extractor), then fails at `fail_at`.
#[derive(Debug, Default)]
struct TransactionalOrderTotals {
    schema: String,
    fail_at: Option<u64>,
}

#[projection(name = "tx-read-model")]
impl TransactionalOrderTotals {
    #[handle]
    async fn on_placed(
        &mut self,
        event: &OrderPlaced,
        context: &ProjectionContext,
    ) -> Result<(), BoxError> {
        let transaction = context.transaction().ok_or("not transactional")?;
        {
            let mut connection = transaction.lock().await?;
            write_order(&mut connection, &self.schema, event, context.position()).await?;
        }
        if Some(context.position()) == self.fail_at {
            return Err(format!("refusing position {}", context.position()).into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_projection_read_model_writes_through_the_page_transaction_and_a_failure_rolls_back() {
    let Some((test, states)) = six_orders_and_a_read_model(
        "a_projection_read_model_writes_through_the_page_transaction_and_a_failure_rolls_back",
    )
    .await
    else {
        return;
    };
    let model = Arc::new(tokio::sync::RwLock::new(TransactionalOrderTotals {
        schema: test.schema.clone(),
        fail_at: Some(4),
    }));
    let engine = ProjectionEngine::transactional_read_model(Arc::clone(&model), states.clone());
    assert_eq!(engine.name(), "tx-read-model");

    stops_at_4_keeping_1_to_3(&test, &states, &engine).await;

    // Fixed, it resumes at 4: the rolled-back write is applied once (the
    // `applied` primary key refuses a second one).
    model.write().await.fail_at = None;
    let events = test.store.read_all(1, 100).await.expect("read");
    let state = engine.process_events(&events).await.expect("applies 4..=6");
    assert_eq!((state.position, state.healthy), (6, true));
    assert_eq!(applied_positions(&test).await, [1, 2, 3, 4, 5, 6]);
    let totals = read_model_totals(&test).await;
    assert_eq!(totals.values().sum::<u64>(), (1..=6).sum::<u64>());
    test.cleanup().await;
}
