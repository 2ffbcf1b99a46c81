//! SqliteEventStore against hand-written sqlx SQLite statements doing the
//! same work, in the same run, on files in the temp dir (WAL,
//! `synchronous = FULL`, the store's defaults, for both).
//!
//! * W1: 10,000 single-event appends with expected version, sequential;
//! * W2: the same 10,000 appends over 8 concurrent tasks (own streams);
//! * W3: 100 appends of 100 events each;
//! * W4: load and fold a 10,000-event stream (median of 20).
//!
//! The raw baseline is the smallest table that keeps events in streams:
//! `(stream_id, version, payload, metadata, PRIMARY KEY (stream_id,
//! version))` with the rowid as position; one autocommit `INSERT` per
//! single append (the primary key is the expected-version check), one
//! transaction of `INSERT`s per batch; loading reads payload and metadata
//! and decodes them straight into the concrete types. The store also
//! writes the event id, type, schema version, correlation and causation
//! ids and the time, checks the version under the write lock and decodes
//! through the event registry: that is what the ratio prices.
//!
//! A plain timing harness, as in `postgres_store`: W1-W3 run in 10
//! interleaved chunks (framework and raw take turns going first) and report
//! the total time; W4 alternates its 20 runs.

use std::ops::Range;
use std::time::{Duration, Instant};

use orchestrix::prelude::*;
use orchestrix::sqlite::{SqliteOptions, SqlitePool, connect_pool};
use orchestrix::store::sqlite::SqliteEventStore;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bench.Deposited")]
struct Deposited {
    amount: u64,
}

const W1_APPENDS: u64 = 10_000;
const W2_TASKS: u64 = 8;
const W3_APPENDS: u64 = 100;
const W3_BATCH: u64 = 100;
const W4_RUNS: usize = 20;
const CHUNKS: u64 = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(format!(
        "orchestrix-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = |name: &str| format!("sqlite://{}", dir.join(name).display());
    let store = SqliteEventStore::connect(&url("store.db"))
        .await
        .expect("store file");
    let raw = Raw::new(
        connect_pool(&SqliteOptions::new(url("raw.db")).expect("valid"))
            .await
            .expect("raw file"),
    )
    .await;

    let mut w = [[Duration::ZERO; 2]; 3];
    for chunk in 0..CHUNKS {
        let singles = chunk * W1_APPENDS / CHUNKS..(chunk + 1) * W1_APPENDS / CHUNKS;
        let per_task = W1_APPENDS / W2_TASKS / CHUNKS;
        let tasks = chunk * per_task..(chunk + 1) * per_task;
        let batches = chunk * W3_APPENDS / CHUNKS..(chunk + 1) * W3_APPENDS / CHUNKS;
        let framework_first = chunk % 2 == 0;
        for turn in 0..2 {
            if (turn == 0) == framework_first {
                w[0][0] += w1_framework(&store, singles.clone()).await;
                w[1][0] += w2(
                    |stream, version| {
                        let store = store.clone();
                        async move {
                            store
                                .save(&stream, &[deposit(version)], Some(version))
                                .await
                                .expect("append");
                        }
                    },
                    tasks.clone(),
                )
                .await;
                w[2][0] += w3_framework(&store, batches.clone()).await;
            } else {
                w[0][1] += w1_raw(&raw, singles.clone()).await;
                w[1][1] += w2(
                    |stream, version| {
                        let raw = raw.clone();
                        async move { raw.append_one(&stream, version, version).await }
                    },
                    tasks.clone(),
                )
                .await;
                w[2][1] += w3_raw(&raw, batches.clone()).await;
            }
        }
    }

    let mut framework_runs = Vec::new();
    let mut raw_runs = Vec::new();
    for _ in 0..W4_RUNS {
        framework_runs.push(w4_framework(&store).await);
        raw_runs.push(w4_raw(&raw).await);
    }
    let w4 = [median(framework_runs), median(raw_runs)];

    println!();
    println!(
        "{:<42} {:>16} {:>16} {:>8}   (raw time / framework time: the goal is >= 0.80)",
        "workload", "framework", "raw sqlx", "of raw"
    );
    let rows = [
        (
            "W1 10k single appends, sequential",
            "appends/s",
            w[0],
            W1_APPENDS,
        ),
        (
            "W2 10k single appends, 8 tasks",
            "appends/s",
            w[1],
            W1_APPENDS,
        ),
        (
            "W3 100 appends x 100 events",
            "events/s",
            w[2],
            W3_APPENDS * W3_BATCH,
        ),
        (
            "W4 load+fold 10k events (median of 20)",
            "events/s",
            w4,
            W1_APPENDS,
        ),
    ];
    for (name, unit, [framework, raw], work) in rows {
        let rate = |d: Duration| format!("{:.0} {unit}", work as f64 / d.as_secs_f64());
        println!(
            "{name:<42} {:>16} {:>16} {:>7.2}    ({:.1} ms vs {:.1} ms)",
            rate(framework),
            rate(raw),
            raw.as_secs_f64() / framework.as_secs_f64(),
            framework.as_secs_f64() * 1e3,
            raw.as_secs_f64() * 1e3
        );
    }
    store.pool().close().await;
    raw.pool.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn deposit(amount: u64) -> AnyEnvelope {
    Envelope::new(Deposited { amount }).into()
}

async fn w1_framework(store: &SqliteEventStore, versions: Range<u64>) -> Duration {
    let start = Instant::now();
    for version in versions {
        store
            .save("w1", &[deposit(version)], Some(version))
            .await
            .expect("append");
    }
    start.elapsed()
}

async fn w1_raw(raw: &Raw, versions: Range<u64>) -> Duration {
    let start = Instant::now();
    for version in versions {
        raw.append_one("w1", version, version).await;
    }
    start.elapsed()
}

/// `W2_TASKS` tasks, each appending `versions` to its own stream.
async fn w2<F, Fut>(append: F, versions: Range<u64>) -> Duration
where
    F: Fn(String, u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..W2_TASKS)
        .map(|task| {
            let appends: Vec<_> = versions
                .clone()
                .map(|version| append(format!("w2-{task}"), version))
                .collect();
            tokio::spawn(async move {
                for append in appends {
                    append.await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    start.elapsed()
}

async fn w3_framework(store: &SqliteEventStore, appends: Range<u64>) -> Duration {
    let start = Instant::now();
    for append in appends {
        let events: Vec<_> = (0..W3_BATCH).map(deposit).collect();
        store
            .save("w3", &events, Some(append * W3_BATCH))
            .await
            .expect("append");
    }
    start.elapsed()
}

async fn w3_raw(raw: &Raw, appends: Range<u64>) -> Duration {
    let start = Instant::now();
    for append in appends {
        raw.append_batch("w3", append * W3_BATCH, W3_BATCH).await;
    }
    start.elapsed()
}

async fn w4_framework(store: &SqliteEventStore) -> Duration {
    let start = Instant::now();
    let events = store.load("w1", 1).await.expect("load");
    let balance: u64 = events
        .iter()
        .filter_map(|e| e.downcast_ref::<Deposited>())
        .map(|d| d.amount)
        .sum();
    let elapsed = start.elapsed();
    assert_eq!(balance, (0..W1_APPENDS).sum::<u64>());
    elapsed
}

async fn w4_raw(raw: &Raw) -> Duration {
    let start = Instant::now();
    let balance = raw.load_and_fold("w1").await;
    let elapsed = start.elapsed();
    assert_eq!(balance, (0..W1_APPENDS).sum::<u64>());
    elapsed
}

/// Hand-written sqlx: the same events, without the framework.
#[derive(Clone)]
struct Raw {
    pool: SqlitePool,
}

impl Raw {
    async fn new(pool: SqlitePool) -> Self {
        sqlx::query(
            "CREATE TABLE events (stream_id TEXT NOT NULL, version INTEGER NOT NULL, \
             payload TEXT NOT NULL, metadata TEXT NOT NULL, PRIMARY KEY (stream_id, version))",
        )
        .execute(&pool)
        .await
        .expect("raw table");
        Self { pool }
    }

    async fn append_one(&self, stream: &str, expected: u64, amount: u64) {
        sqlx::query(
            "INSERT INTO events (stream_id, version, payload, metadata) VALUES (?, ?, ?, ?)",
        )
        .bind(stream)
        .bind(i64::try_from(expected + 1).expect("small"))
        .bind(serde_json::to_string(&Deposited { amount }).expect("json"))
        .bind(serde_json::to_string(&Metadata::new("bench.Deposited")).expect("json"))
        .execute(&self.pool)
        .await
        .expect("raw append");
    }

    async fn append_batch(&self, stream: &str, expected: u64, count: u64) {
        let mut tx = self.pool.begin().await.expect("begin");
        for (offset, amount) in (1_u64..).zip(0..count) {
            sqlx::query(
                "INSERT INTO events (stream_id, version, payload, metadata) VALUES (?, ?, ?, ?)",
            )
            .bind(stream)
            .bind(i64::try_from(expected + offset).expect("small"))
            .bind(serde_json::to_string(&Deposited { amount }).expect("json"))
            .bind(serde_json::to_string(&Metadata::new("bench.Deposited")).expect("json"))
            .execute(&mut *tx)
            .await
            .expect("raw batch append");
        }
        tx.commit().await.expect("commit");
    }

    async fn load_and_fold(&self, stream: &str) -> u64 {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT payload, metadata FROM events WHERE stream_id = ? AND version >= 1 ORDER BY version",
        )
        .bind(stream)
        .fetch_all(&self.pool)
        .await
        .expect("raw load");
        rows.iter()
            .map(|(payload, metadata)| {
                let _: Metadata = serde_json::from_str(metadata).expect("metadata");
                serde_json::from_str::<Deposited>(payload)
                    .expect("payload")
                    .amount
            })
            .sum()
    }
}
