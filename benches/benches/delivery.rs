//! Durable delivery beside its baselines, in one run, on PostgreSQL
//! (`DATABASE_URL`; skipped with a notice when unset) and on a SQLite file
//! in the temp dir (always). Prints figures, per backend:
//!
//! * Throughput: 5,000 stored events handed to 5 handlers, by
//!   - the durable `Dispatcher` (one group of 5 handlers; filtered page
//!     reads, checkpoint saved per page of 500),
//!   - inline publish on `InMemoryAsyncMessageBus` (no store: the ceiling),
//!   - a hand-written sqlx poller over the same table (`SELECT position,
//!     payload ... WHERE event_type = $1 AND position > $2 ORDER BY position
//!     LIMIT 500`, serde decode, the 5 handlers, a checkpoint `UPDATE` per
//!     page).
//! * Latency from the start of an append to the handler running, one event
//!   at a time (200 samples, p50 / p99), by
//!   - the durable dispatcher (woken by LISTEN/NOTIFY on PostgreSQL; on
//!     SQLite by the store it appends through),
//!   - inline: `save` then `publish` on the appending task,
//!   - the sqlx poller polling every 5 ms when caught up.
//!
//! `DATABASE_URL=postgres://... cargo bench -p orchestrix-benches --bench delivery`
//! (without `DATABASE_URL`: the SQLite figures alone)

use std::future::Future;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orchestrix::delivery::{
    DeliveryStore, Dispatcher, PostgreSQLDeliveryStore, SqliteDeliveryStore,
};
use orchestrix::postgres::{PgPool, PostgresOptions};
use orchestrix::prelude::*;
use orchestrix::sqlite::SqlitePool;
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix::store::sqlite::SqliteEventStore;
use sqlx::AssertSqlSafe;
use tokio::sync::mpsc;

const EVENTS: u64 = 5_000;
const PAGE: i64 = 500;
const SAMPLES: usize = 200;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bench.delivery.Deposited")]
struct Deposited {
    amount: u64,
}

/// Carries when its append started, in nanoseconds since [`epoch`].
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bench.delivery.Pinged")]
struct Pinged {
    sent_nanos: u64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What the 5 handlers add to.
#[derive(Debug, Default)]
struct Sum(AtomicU64);

fn add(sum: &Sum, event: &Deposited) {
    sum.0.fetch_add(event.amount, Ordering::Relaxed);
}

#[event_handler(durable, group = "bench")]
async fn h1(event: &Deposited, sum: Dep<Sum>) {
    add(&sum, event);
}
#[event_handler(durable, group = "bench")]
async fn h2(event: &Deposited, sum: Dep<Sum>) {
    add(&sum, event);
}
#[event_handler(durable, group = "bench")]
async fn h3(event: &Deposited, sum: Dep<Sum>) {
    add(&sum, event);
}
#[event_handler(durable, group = "bench")]
async fn h4(event: &Deposited, sum: Dep<Sum>) {
    add(&sum, event);
}
#[event_handler(durable, group = "bench")]
async fn h5(event: &Deposited, sum: Dep<Sum>) {
    add(&sum, event);
}

/// Reports the latency of each ping.
#[derive(Debug)]
struct Latencies(mpsc::UnboundedSender<Duration>);

fn report(latencies: &Latencies, ping: &Pinged) {
    let took = nanos_since_epoch().saturating_sub(ping.sent_nanos);
    let _ = latencies.0.send(Duration::from_nanos(took));
}

#[event_handler(durable)]
async fn pinged(ping: &Pinged, latencies: Dep<Latencies>) {
    report(&latencies, ping);
}

fn expected_sum() -> u64 {
    5 * (0..EVENTS).sum::<u64>()
}

async fn fill(store: &impl AsyncEventStore) {
    for chunk in 0..EVENTS / 100 {
        let events: Vec<AnyEnvelope> = (chunk * 100..(chunk + 1) * 100)
            .map(|amount| Envelope::new(Deposited { amount }).into())
            .collect();
        store
            .save(&format!("acc-{chunk}"), &events, None)
            .await
            .expect("append");
    }
}

fn per_second(events: u64, took: Duration) -> f64 {
    events as f64 / took.as_secs_f64()
}

async fn durable_throughput<S, D>(store: &S, delivery: &D) -> f64
where
    S: AsyncEventStore + Clone + 'static,
    D: DeliveryStore + Clone + 'static,
{
    let sum = Arc::new(Sum::default());
    let dispatcher = Dispatcher::builder(Arc::new(store.clone()), delivery.clone())
        .dependency_arc(sum.clone())
        .handler(h1)
        .handler(h2)
        .handler(h3)
        .handler(h4)
        .handler(h5)
        .batch_size(500)
        .build()
        .expect("dispatcher");
    dispatcher.initialize().await.expect("migrates");
    let head = store
        .read_all(1, usize::MAX >> 1)
        .await
        .expect("read")
        .last()
        .map_or(0, |event| event.position);
    let started = Instant::now();
    let running = dispatcher.start();
    dispatcher.caught_up(head).await;
    let took = started.elapsed();
    running.stop().await.expect("stops");
    assert_eq!(sum.0.load(Ordering::Relaxed), expected_sum());
    per_second(EVENTS, took)
}

async fn inline_throughput() -> f64 {
    let sum = Arc::new(Sum::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(sum.clone())
        .handler(h1)
        .handler(h2)
        .handler(h3)
        .handler(h4)
        .handler(h5)
        .build()
        .expect("bus");
    let started = Instant::now();
    for amount in 0..EVENTS {
        bus.publish(Deposited { amount }).await.expect("publish");
    }
    let took = started.elapsed();
    assert_eq!(sum.0.load(Ordering::Relaxed), expected_sum());
    per_second(EVENTS, took)
}

/// The hand-written poller's two statements, per backend.
trait RawPoller: Clone + Send + Sync + 'static {
    /// Up to [`PAGE`] `(position, payload)` rows of `event_type` after
    /// `from`, in position order.
    fn page(&self, event_type: &str, from: i64) -> impl Future<Output = Vec<(i64, String)>> + Send;

    /// Saves the poller's checkpoint.
    fn checkpoint(&self, position: i64) -> impl Future<Output = ()> + Send;

    /// The last position stored.
    fn head(&self) -> impl Future<Output = i64> + Send;
}

/// The poller on PostgreSQL: the store's table in `schema`.
#[derive(Clone)]
struct PgPoller {
    pool: PgPool,
    schema: String,
}

impl RawPoller for PgPoller {
    async fn page(&self, event_type: &str, from: i64) -> Vec<(i64, String)> {
        let schema = &self.schema;
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT position, payload::text FROM \"{schema}\".events \
             WHERE event_type = $1 AND position > $2 ORDER BY position LIMIT $3"
        )))
        .bind(event_type)
        .bind(from)
        .bind(PAGE)
        .fetch_all(&self.pool)
        .await
        .expect("poll")
    }

    async fn checkpoint(&self, position: i64) {
        let schema = &self.schema;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE \"{schema}\".raw_checkpoint SET position = $1"
        )))
        .bind(position)
        .execute(&self.pool)
        .await
        .expect("checkpoint");
    }

    async fn head(&self) -> i64 {
        let schema = &self.schema;
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT coalesce(max(position), 0) FROM \"{schema}\".events"
        )))
        .fetch_one(&self.pool)
        .await
        .expect("head")
    }
}

/// The poller on SQLite: the store's table in its file.
#[derive(Clone)]
struct SqlitePoller {
    pool: SqlitePool,
}

impl RawPoller for SqlitePoller {
    async fn page(&self, event_type: &str, from: i64) -> Vec<(i64, String)> {
        sqlx::query_as(
            "SELECT position, payload FROM events \
             WHERE event_type = ?1 AND position > ?2 ORDER BY position LIMIT ?3",
        )
        .bind(event_type)
        .bind(from)
        .bind(PAGE)
        .fetch_all(&self.pool)
        .await
        .expect("poll")
    }

    async fn checkpoint(&self, position: i64) {
        sqlx::query("UPDATE raw_checkpoint SET position = ?1")
            .bind(position)
            .execute(&self.pool)
            .await
            .expect("checkpoint");
    }

    async fn head(&self) -> i64 {
        sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("head")
    }
}

/// The hand-written poller: one page, the 5 handlers, the checkpoint.
async fn poll_page(
    poller: &impl RawPoller,
    event_type: &str,
    from: i64,
    mut handle: impl FnMut(&str),
) -> i64 {
    let rows = poller.page(event_type, from).await;
    let Some(&(last, _)) = rows.last() else {
        return from;
    };
    for (_, payload) in &rows {
        handle(payload);
    }
    poller.checkpoint(last).await;
    last
}

async fn raw_throughput(poller: &impl RawPoller) -> f64 {
    let sum = Sum::default();
    let started = Instant::now();
    let mut position = 0;
    let mut seen = 0;
    while seen < EVENTS {
        position = poll_page(poller, "bench.delivery.Deposited", position, |payload| {
            let event: Deposited = serde_json::from_str(payload).expect("decodes");
            for _ in 0..5 {
                add(&sum, &event);
            }
            seen += 1;
        })
        .await;
    }
    let took = started.elapsed();
    assert_eq!(sum.0.load(Ordering::Relaxed), expected_sum());
    per_second(EVENTS, took)
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

async fn ping(store: &impl AsyncEventStore) {
    let event = Envelope::new(Pinged {
        sent_nanos: nanos_since_epoch(),
    });
    store
        .save(
            &format!("ping-{}", uuid::Uuid::new_v4()),
            &[event.into()],
            None,
        )
        .await
        .expect("append");
}

async fn durable_latency<S, D>(store: &S, delivery: &D) -> (Duration, Duration)
where
    S: AsyncEventStore + Clone + 'static,
    D: DeliveryStore + Clone + 'static,
{
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let dispatcher = Dispatcher::builder(Arc::new(store.clone()), delivery.clone())
        .dependency(Latencies(sender))
        .handler(pinged)
        .build()
        .expect("dispatcher");
    dispatcher.initialize().await.expect("migrates");
    let running = dispatcher.start();
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES + 10 {
        ping(store).await;
        samples.push(receiver.recv().await.expect("handled"));
    }
    running.stop().await.expect("stops");
    percentiles(samples.split_off(10))
}

async fn inline_latency(store: &impl AsyncEventStore) -> (Duration, Duration) {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency(Latencies(sender))
        .handler(pinged)
        .build()
        .expect("bus");
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES + 10 {
        let event: AnyEnvelope = Envelope::new(Pinged {
            sent_nanos: nanos_since_epoch(),
        })
        .into();
        store
            .save(
                &format!("ping-{}", uuid::Uuid::new_v4()),
                std::slice::from_ref(&event),
                None,
            )
            .await
            .expect("append");
        bus.publish_envelope(event).await.expect("publish");
        samples.push(receiver.recv().await.expect("handled"));
    }
    percentiles(samples.split_off(10))
}

async fn raw_latency(
    store: &impl AsyncEventStore,
    poller: &impl RawPoller,
) -> (Duration, Duration) {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let latencies = Latencies(sender);
    let start = poller.head().await;
    let poller = poller.clone();
    let polling = tokio::spawn(async move {
        let mut position = start;
        loop {
            let next = poll_page(&poller, "bench.delivery.Pinged", position, |payload| {
                let ping: Pinged = serde_json::from_str(payload).expect("decodes");
                report(&latencies, &ping);
            })
            .await;
            if next == position {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            position = next;
        }
    });
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES + 10 {
        ping(store).await;
        samples.push(receiver.recv().await.expect("handled"));
    }
    polling.abort();
    percentiles(samples.split_off(10))
}

/// Every figure for one backend: `store` filled, `delivery` beside it,
/// `poller` reading the same table.
async fn run<S, D>(backend: &str, store: &S, delivery: &D, poller: &impl RawPoller)
where
    S: AsyncEventStore + Clone + 'static,
    D: DeliveryStore + Clone + 'static,
{
    fill(store).await;
    println!("{backend}: delivery throughput, {EVENTS} stored events to 5 handlers (events/s):");
    println!(
        "  durable dispatcher      {:>10.0}",
        durable_throughput(store, delivery).await
    );
    println!(
        "  inline publish (no store){:>9.0}",
        inline_throughput().await
    );
    println!(
        "  raw sqlx poller         {:>10.0}",
        raw_throughput(poller).await
    );

    println!("{backend}: append-to-handler latency, {SAMPLES} events one at a time (p50 / p99):");
    let (p50, p99) = durable_latency(store, delivery).await;
    println!("  durable dispatcher      {p50:>10.2?} / {p99:.2?}");
    let (p50, p99) = inline_latency(store).await;
    println!("  inline save + publish   {p50:>10.2?} / {p99:.2?}");
    let (p50, p99) = raw_latency(store, poller).await;
    println!("  raw sqlx poller (5 ms)  {p50:>10.2?} / {p99:.2?}");
}

async fn postgres(url: String) {
    let schema = format!(
        "bench_delivery_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let options = PostgresOptions::builder(url)
        .pool_min_size(0)
        .pool_max_size(8)
        .schema(schema.clone())
        .build()
        .expect("options");
    let store = PostgreSQLEventStore::connect_with(options)
        .await
        .expect("connects");
    store.initialize().await.expect("migrates");
    let pool = store.pool().clone();
    let delivery =
        PostgreSQLDeliveryStore::from_pool_with_schema(pool.clone(), &schema).expect("schema");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE \"{schema}\".raw_checkpoint (position bigint NOT NULL); \
         INSERT INTO \"{schema}\".raw_checkpoint VALUES (0);"
    )))
    .execute(&pool)
    .await
    .expect("raw checkpoint table");
    let poller = PgPoller {
        pool: pool.clone(),
        schema: schema.clone(),
    };
    run("PostgreSQL", &store, &delivery, &poller).await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&pool)
        .await
        .expect("drops");
}

/// The same on a SQLite file (the store's defaults: WAL, `synchronous =
/// FULL`), events, delivery state and the poller's checkpoint in one file.
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "orchestrix-bench-delivery-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("delivery.db").display());
    let store = SqliteEventStore::connect(&url).await.expect("opens");
    let pool = store.pool().clone();
    let delivery = SqliteDeliveryStore::from_pool(pool.clone());
    sqlx::raw_sql(
        "CREATE TABLE raw_checkpoint (position INTEGER NOT NULL); \
         INSERT INTO raw_checkpoint VALUES (0);",
    )
    .execute(&pool)
    .await
    .expect("raw checkpoint table");
    run(
        "SQLite",
        &store,
        &delivery,
        &SqlitePoller { pool: pool.clone() },
    )
    .await;
    pool.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        epoch();
        match std::env::var("DATABASE_URL") {
            Ok(url) => postgres(url).await,
            Err(_) => {
                eprintln!("PostgreSQL part skipped: set DATABASE_URL to run it");
            }
        }
        sqlite().await;
    });
}
