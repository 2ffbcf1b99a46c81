//! The store is the outbox, on a SQLite file: a process killed (SIGKILL)
//! after `save` and before its events reached the handlers loses no
//! delivery. On restart a dispatcher runs every handler for every stored
//! event; the idempotent one exactly once (counted in the same file, in the
//! handler's own transaction with `SqliteDeliveryStore::mark_processed_in`);
//! a saga started from an event runs once.
//!
//! The test runs this binary again as a child (the ignored test
//! `killed_child`): it saves the orders without publishing them, starts a
//! dispatcher whose non-idempotent handler hangs on the fifth order (so the
//! first five are handled but never checkpointed), and is killed there.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrix::delivery::{DeliveryStore, Dispatcher, SqliteDeliveryStore};
use orchestrix::prelude::*;
use orchestrix::retry::RetryPolicy;
use orchestrix::saga::SqliteSagaStateStore;
use orchestrix::sqlite::{SqliteOptions, SqlitePool, connect_pool};
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_tests::delivery::{
    assert_redelivered_once_more, deliver_through, forget_checkpoints, wait_for_child,
};
use orchestrix_tests::sqlite::TempDb;

const DB_ENV: &str = "ORCHESTRIX_DELIVERY_CRASH_SQLITE_DB";
const ORDERS: u64 = 20;
/// The order the child's non-idempotent handler hangs on.
const HANG_AT: u64 = 5;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "delivery_crash_sqlite.OrderPlaced")]
struct OrderPlaced {
    n: u64,
}

/// Where the handlers count: the table `handled (handler, n, runs)` in the
/// events' file.
#[derive(Debug, Clone)]
struct Tables {
    pool: SqlitePool,
    delivery: SqliteDeliveryStore,
    /// Whether this is the child (which hangs at [`HANG_AT`]).
    child: bool,
}

const COUNT: &str = "INSERT INTO handled (handler, n, runs) VALUES (?1, ?2, 1) \
                     ON CONFLICT (handler, n) DO UPDATE SET runs = runs + 1";

impl Tables {
    async fn runs(&self, handler: &str) -> HashMap<i64, i64> {
        sqlx::query_as::<_, (i64, i64)>("SELECT n, runs FROM handled WHERE handler = ?1")
            .bind(handler)
            .fetch_all(&self.pool)
            .await
            .expect("read the counts")
            .into_iter()
            .collect()
    }
}

/// At least once: counts every run, in autocommit.
#[event_handler(name = "sqlite_crash.every_run", durable, group = "shop")]
async fn every_run(order: &OrderPlaced, tables: Dep<Tables>) -> Result<(), BoxError> {
    sqlx::query(COUNT)
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
#[event_handler(name = "sqlite_crash.once", durable, idempotent, group = "shop")]
async fn once(
    order: &OrderPlaced,
    metadata: Metadata,
    tables: Dep<Tables>,
) -> Result<(), BoxError> {
    let mut transaction = tables.pool.begin_with("BEGIN IMMEDIATE").await?;
    if !tables
        .delivery
        .mark_processed_in(&mut transaction, "sqlite_crash.once", metadata.id)
        .await?
    {
        return Ok(());
    }
    sqlx::query(COUNT)
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
#[event_handler(name = "sqlite_crash.start_fulfilment", durable)]
async fn start_fulfilment(
    order: &OrderPlaced,
    saga: Dep<Saga<Fulfilment>>,
) -> Result<(), BoxError> {
    saga.execute_with_id(format!("fulfil-{}", order.n), Fulfilment { n: order.n })
        .await?;
    Ok(())
}

/// The event store and the handlers' tables on the file at `path`.
async fn open(path: &Path, child: bool) -> (SqliteEventStore, Tables) {
    let pool = connect_pool(&SqliteOptions::file(path).expect("options"))
        .await
        .expect("opens");
    let store = SqliteEventStore::from_pool(pool.clone());
    store.initialize().await.expect("migrates the events");
    let delivery = SqliteDeliveryStore::from_pool(pool.clone());
    delivery.initialize().await.expect("migrates the delivery");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS handled \
         (handler TEXT, n INTEGER, runs INTEGER NOT NULL, PRIMARY KEY (handler, n))",
    )
    .execute(&pool)
    .await
    .expect("table");
    let tables = Tables {
        pool,
        delivery,
        child,
    };
    (store, tables)
}

fn builder(store: &SqliteEventStore, tables: &Tables) -> orchestrix::delivery::DispatcherBuilder {
    Dispatcher::builder(Arc::new(store.clone()), tables.delivery.clone())
        .dependency(tables.clone())
        .lease_ttl(Duration::from_millis(600))
        .restart_backoff(RetryPolicy::fixed(Duration::from_millis(10), u32::MAX))
        .handler(every_run)
        .handler(once)
}

/// A child process, killed (SIGKILL) when dropped, so a failing test
/// leaves no child behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child: saves the orders (no publish), then delivers until it hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by the crash test"]
async fn killed_child() {
    let path = std::env::var(DB_ENV).expect("the crash test names the file");
    let (store, tables) = open(Path::new(&path), true).await;
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
    let db = TempDb::new("delivery-crash");
    let (store, tables) = open(db.path(), false).await;

    let mut child = ChildGuard(
        Command::new(std::env::current_exe().expect("test binary"))
            .args(["killed_child", "--exact", "--ignored", "--nocapture"])
            .env(DB_ENV, db.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child starts"),
    );
    // Polls the child's progress (another process).
    wait_for_child(&mut child.0, || async {
        tables
            .runs("every_run")
            .await
            .contains_key(&i64::try_from(HANG_AT).expect("small"))
    })
    .await;
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reap");
    let before = tables.runs("every_run").await;
    assert_eq!(
        before.len(),
        usize::try_from(HANG_AT).expect("small"),
        "{before:?}"
    );

    // The restart: the child's group lease lapses, then everything is delivered.
    let sagas = SqliteSagaStateStore::from_pool(tables.pool.clone());
    let saga = Arc::new(
        Saga::new(
            "delivery-crash-sqlite-fulfilment",
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
    forget_checkpoints(&tables.delivery, &["shop", "sqlite_crash.start_fulfilment"]).await;
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
}
