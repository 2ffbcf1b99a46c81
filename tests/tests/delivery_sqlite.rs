//! Durable delivery on a SQLite file: 8 concurrent writers, two dispatchers
//! on two pools of the file (as two processes would be) competing for the
//! group's lease, and an idempotent handler that records each event in its
//! own transaction: every event handled exactly once.

use std::collections::HashMap;
use std::sync::Arc;

use orchestrix::delivery::{DeliveryStore, Dispatcher, SqliteDeliveryStore};
use orchestrix::prelude::*;
use orchestrix::sqlite::{SqliteOptions, SqlitePool, connect_pool};
use orchestrix::store::sqlite::SqliteEventStore;
use orchestrix_tests::delivery::{concurrent_writers, either_caught_up};
use orchestrix_tests::sqlite::TempDb;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "delivery_sqlite.Deposited")]
struct Deposited {
    writer: u64,
    n: u64,
}

/// Effectively once: the processed id and the row commit together.
#[event_handler(name = "sqlite.record_once", durable, idempotent)]
async fn record_once(
    _event: &Deposited,
    metadata: Metadata,
    delivery: Dep<SqliteDeliveryStore>,
) -> Result<(), BoxError> {
    let mut transaction = delivery.pool().begin_with("BEGIN IMMEDIATE").await?;
    if !delivery
        .mark_processed_in(&mut transaction, "sqlite.record_once", metadata.id)
        .await?
    {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO handled (event_id, runs) VALUES (?1, 1) \
         ON CONFLICT (event_id) DO UPDATE SET runs = runs + 1",
    )
    .bind(metadata.id)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(())
}

const WRITERS: u64 = 8;
const PER_WRITER: u64 = 25;

/// The 8 writers share one store, so they queue in-process for the file's
/// write lock; but the two dispatchers run on pools of their own (as two
/// processes would), and their checkpoint and lease writes and the
/// handler's own `BEGIN IMMEDIATE` transactions race the writers in
/// SQLite's busy handler, which sleeps in growing steps rather than
/// queueing waiters: on a loaded machine one of them can lose the race for
/// longer than the default 5 s and get `Locked`. This test is about
/// delivery, not lock fairness across pools, so its connections wait
/// longer.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn options(db: &TempDb) -> SqliteOptions {
    SqliteOptions::builder(db.url(""))
        .busy_timeout(BUSY_TIMEOUT)
        .build()
        .expect("options")
}

async fn pool(db: &TempDb) -> SqlitePool {
    connect_pool(&options(db)).await.expect("opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_each_event_handled_once_by_a_durable_idempotent_handler() {
    let db = TempDb::new("delivery-writers");
    let store = SqliteEventStore::connect_with(options(&db))
        .await
        .expect("opens");
    sqlx::query("CREATE TABLE handled (event_id BLOB PRIMARY KEY, runs INTEGER NOT NULL)")
        .execute(store.pool())
        .await
        .expect("table");
    // Two dispatchers, each on a pool of its own, as in two processes: one
    // runs the group, the other waits on its lease.
    let dispatcher = |pool: SqlitePool| {
        let delivery = SqliteDeliveryStore::from_pool(pool.clone());
        Dispatcher::builder(
            Arc::new(SqliteEventStore::from_pool(pool)),
            delivery.clone(),
        )
        .dependency(delivery)
        .batch_size(16)
        .handler(record_once)
        .build()
        .expect("dispatcher")
    };
    let (a, b) = (dispatcher(pool(&db).await), dispatcher(pool(&db).await));
    a.initialize().await.expect("migrates");
    let (running_a, running_b) = (a.start(), b.start());

    let head = concurrent_writers(&store, WRITERS, PER_WRITER, |writer, n| {
        Envelope::new(Deposited { writer, n }).into()
    })
    .await;
    either_caught_up(&a, &b, head).await;
    running_a.stop().await.expect("stops");
    running_b.stop().await.expect("stops");

    let stored: Vec<uuid::Uuid> = store
        .read_all(1, 10_000)
        .await
        .expect("read")
        .iter()
        .map(|event| event.metadata().id)
        .collect();
    assert_eq!(stored.len() as u64, WRITERS * PER_WRITER);
    let runs: HashMap<uuid::Uuid, i64> = sqlx::query_as("SELECT event_id, runs FROM handled")
        .fetch_all(store.pool())
        .await
        .expect("read the runs")
        .into_iter()
        .collect();
    assert_eq!(runs.len(), stored.len());
    for id in &stored {
        assert_eq!(runs.get(id), Some(&1), "event {id}");
    }
    // Every id is recorded as processed, in the file.
    let delivery = SqliteDeliveryStore::from_pool(store.pool().clone());
    for id in &stored {
        assert!(
            delivery
                .is_processed("sqlite.record_once", *id)
                .await
                .expect("look up"),
            "event {id}"
        );
    }
}
