//! The store is the outbox: a process killed (SIGKILL) after `save` and
//! before its events reached the handlers loses no delivery. On restart a
//! dispatcher runs every handler for every stored event; the idempotent
//! ones exactly once (counted in PostgreSQL, in the handler's own
//! transaction); a saga started from an event runs once.
//!
//! The test runs this binary again as a child (the ignored test
//! `killed_child`): it saves the orders without publishing them, starts a
//! dispatcher whose non-idempotent handler hangs on the fifth order (so the
//! first five are handled but never checkpointed), and is killed there.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::delivery::{DeliveryStore, Dispatcher, PostgreSQLDeliveryStore};
use orchestrix::postgres::PgPool;
use orchestrix::prelude::*;
use orchestrix::retry::RetryPolicy;
use orchestrix::saga::PostgreSQLSagaStateStore;
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_tests::delivery::{
    assert_redelivered_once_more, deliver_through, forget_checkpoints, wait_for_child,
};
use orchestrix_tests::postgres::{TestStore, pool};
use sqlx::AssertSqlSafe;

const SCHEMA_ENV: &str = "ORCHESTRIX_DELIVERY_CRASH_SCHEMA";
const ORDERS: u64 = 20;
/// The order the child's non-idempotent handler hangs on.
const HANG_AT: u64 = 5;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "delivery_crash.OrderPlaced")]
struct OrderPlaced {
    n: u64,
}

/// Where the handlers count: `<schema>.handled (handler, n, runs)`.
#[derive(Debug, Clone)]
struct Tables {
    pool: PgPool,
    schema: String,
    delivery: PostgreSQLDeliveryStore,
    /// Whether this is the child (which hangs at [`HANG_AT`]).
    child: bool,
}

impl Tables {
    fn count_sql(&self) -> String {
        format!(
            "INSERT INTO \"{}\".handled (handler, n, runs) VALUES ($1, $2, 1) \
             ON CONFLICT (handler, n) DO UPDATE SET runs = handled.runs + 1",
            self.schema
        )
    }

    async fn runs(&self, handler: &str) -> HashMap<i64, i32> {
        sqlx::query_as::<_, (i64, i32)>(AssertSqlSafe(format!(
            "SELECT n, runs FROM \"{}\".handled WHERE handler = $1",
            self.schema
        )))
        .bind(handler)
        .fetch_all(&self.pool)
        .await
        .expect("read the counts")
        .into_iter()
        .collect()
    }
}

/// At least once: counts every run, in autocommit.
#[event_handler(name = "crash.every_run", durable, group = "shop")]
async fn every_run(order: &OrderPlaced, tables: Dep<Tables>) -> Result<(), BoxError> {
    sqlx::query(AssertSqlSafe(tables.count_sql()))
        .bind("every_run")
        .bind(i64::try_from(order.n)?)
        .execute(&tables.pool)
        .await?;
    if tables.child && order.n == HANG_AT {
        // The process is killed here: handled, never checkpointed.
        std::future::pending::<()>().await;
    }
    Ok(())
}

/// Effectively once: the count and the processed id commit together.
#[event_handler(name = "crash.once", durable, idempotent, group = "shop")]
async fn once(
    order: &OrderPlaced,
    metadata: Metadata,
    tables: Dep<Tables>,
) -> Result<(), BoxError> {
    let mut transaction = tables.pool.begin().await?;
    if !tables
        .delivery
        .mark_processed_in(&mut transaction, "crash.once", metadata.id)
        .await?
    {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(tables.count_sql()))
        .bind("once")
        .bind(i64::try_from(order.n)?)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Fulfilment {
    n: u64,
}

/// How often each order's saga step ran (in this process).
static SHIPPED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[saga_step]
fn ship(order: &Fulfilment) -> Result<(), StepFailure> {
    SHIPPED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(order.n);
    Ok(())
}

/// Starts the order's saga, under an id derived from the order: a second
/// delivery finds the saga and starts nothing.
#[event_handler(name = "crash.start_fulfilment", durable)]
async fn start_fulfilment(
    order: &OrderPlaced,
    saga: Dep<Saga<Fulfilment>>,
) -> Result<(), BoxError> {
    saga.execute_with_id(format!("fulfil-{}", order.n), Fulfilment { n: order.n })
        .await?;
    Ok(())
}

async fn tables(url: &str, schema: &str, child: bool) -> (PostgreSQLEventStore, Tables) {
    let pool = pool(url, 4).await;
    let store = PostgreSQLEventStore::from_pool_with_schema(pool.clone(), schema).expect("schema");
    let delivery =
        PostgreSQLDeliveryStore::from_pool_with_schema(pool.clone(), schema).expect("schema");
    delivery.initialize().await.expect("migrates");
    let tables = Tables {
        pool,
        schema: schema.to_owned(),
        delivery,
        child,
    };
    (store, tables)
}

fn builder(
    store: &PostgreSQLEventStore,
    tables: &Tables,
) -> orchestrix::delivery::DispatcherBuilder {
    Dispatcher::builder(Arc::new(store.clone()), tables.delivery.clone())
        .dependency(tables.clone())
        .lease_ttl(Duration::from_millis(600))
        .restart_backoff(RetryPolicy::fixed(Duration::from_millis(10), u32::MAX))
        .handler(every_run)
        .handler(once)
}

/// The child: saves the orders (no publish), then delivers until it hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by the crash test"]
async fn killed_child() {
    let schema = std::env::var(SCHEMA_ENV).expect("the crash test sets the schema");
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL for the crash test");
    let (store, tables) = tables(&url, &schema, true).await;
    for n in 1..=ORDERS {
        store
            .save(
                &format!("order-{n}"),
                &[Envelope::new(OrderPlaced { n }).into()],
                None,
            )
            .await
            .expect("save");
    }
    // "Crashes" before publishing: only the durable path can deliver now.
    let dispatcher = builder(&store, &tables).build().expect("dispatcher");
    dispatcher.run(std::future::pending()).await.expect("runs");
    panic!("the child must be killed while handling order {HANG_AT}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_after_save_delivers_every_event_on_restart_and_idempotent_handlers_once()
{
    let Some(test) = TestStore::new(
        "a_process_killed_after_save_delivers_every_event_on_restart_and_idempotent_handlers_once",
        4,
    )
    .await
    else {
        return;
    };
    let (store, tables) = tables(&test.url, &test.schema, false).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE \"{}\".handled (handler text, n bigint, runs int NOT NULL, PRIMARY KEY (handler, n))",
        test.schema
    )))
    .execute(&tables.pool)
    .await
    .expect("table");

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["killed_child", "--exact", "--ignored", "--nocapture"])
        .env(SCHEMA_ENV, &test.schema)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    // Polls the child's progress (another process).
    wait_for_child(&mut child, || async {
        tables
            .runs("every_run")
            .await
            .contains_key(&i64::try_from(HANG_AT).expect("small"))
    })
    .await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let before = tables.runs("every_run").await;
    assert_eq!(
        before.len(),
        usize::try_from(HANG_AT).expect("small"),
        "{before:?}"
    );

    // The restart: the child's group lease lapses, then everything is delivered.
    let sagas = PostgreSQLSagaStateStore::from_pool_with_schema(tables.pool.clone(), &test.schema)
        .expect("schema");
    let saga = Arc::new(
        Saga::new(
            "delivery-crash-fulfilment",
            vec![ship_step()],
            Arc::new(sagas),
        )
        .expect("saga"),
    );
    saga.initialize().await.expect("saga store");
    let build = || {
        builder(&store, &tables)
            .dependency_arc(saga.clone())
            .handler(start_fulfilment)
            .build()
            .expect("dispatcher")
    };
    let head = store.read_all(1, 1000).await.expect("read").len() as u64;
    assert_eq!(head, ORDERS);
    deliver_through(&build(), ORDERS).await;

    let every = tables.runs("every_run").await;
    let once = tables.runs("once").await;
    assert_redelivered_once_more(&every, &once, ORDERS, HANG_AT);
    let shipped = || {
        let mut shipped = SHIPPED.lock().unwrap_or_else(|p| p.into_inner()).clone();
        shipped.sort_unstable();
        shipped
    };
    assert_eq!(shipped(), (1..=ORDERS).collect::<Vec<_>>());

    // Delivered again from scratch (a lost checkpoint): the sagas exist, the
    // idempotent handler skips, nothing ships twice.
    forget_checkpoints(&tables.delivery, &["shop", "crash.start_fulfilment"]).await;
    deliver_through(&build(), ORDERS).await;
    assert_eq!(shipped(), (1..=ORDERS).collect::<Vec<_>>());
    assert!(tables.runs("once").await.values().all(|runs| *runs == 1));
    assert!(
        tables
            .runs("every_run")
            .await
            .values()
            .all(|runs| *runs >= 2)
    );
    test.cleanup().await;
}
