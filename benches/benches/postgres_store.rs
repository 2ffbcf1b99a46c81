//! PostgreSQLEventStore against hand-written sqlx, in the same run, on the
//! real server (`DATABASE_URL`; skipped with a notice when unset).
//!
//! * W1: 10,000 single-event appends with expected version, sequential;
//! * W2: the same 10,000 appends over 8 concurrent tasks (own streams);
//! * W3: 100 appends of 100 events each;
//! * W4: load and fold a 10,000-event stream (median of 20).
//!
//! The raw baseline is the least a hand-written event store can do: a table
//! `(position bigserial, stream_id text, version bigint, payload jsonb,
//! PRIMARY KEY (stream_id, version))`; W1/W2 are one autocommit `INSERT` per
//! append at the expected version (the primary key is the conflict check),
//! W3 one `INSERT ... SELECT FROM unnest($versions, $payloads)`, W4 one
//! `SELECT payload ... ORDER BY version` decoding each payload straight into
//! the event type (`sqlx::types::Json<T>`), folded. It keeps no metadata, no
//! global-position promise (a reader of its `bigserial` can skip an append
//! that commits late) and no index on the position: what Orchestrix does
//! beyond that is what the ratio prices.
//!
//! The whole comparison runs three times (rounds); each round prints its
//! figures, then the medians of the three rounds are printed, with the ratio
//! framework throughput ÷ raw throughput (1.00 = as fast as raw). W1-W3 run
//! in 10 interleaved chunks (framework and raw take turns going first), so
//! that the noise of a shared machine hits both alike; W4 alternates its 20
//! loads.
//!
//! A plain timing harness is used instead of criterion: the workloads are
//! long and the figures are throughputs. Name workloads to run only those
//! (`cargo bench -p orchestrix-benches --bench postgres_store -- W4`); when W1
//! is left out, W4's stream is written in batches of 100 first (untimed).

use std::ops::Range;
use std::time::{Duration, Instant};

use orchestrix::postgres::{PgPool, PostgresOptions, connect_pool};
use orchestrix::prelude::*;
use orchestrix::store::postgres::PostgreSQLEventStore;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

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
const POOL_SIZE: u32 = 8;
const CHUNKS: u64 = 10;
const ROUNDS: usize = 3;

const WORKLOADS: [(&str, &str, f64); 4] = [
    (
        "W1 10k single appends, sequential",
        "appends/s",
        W1_APPENDS as f64,
    ),
    (
        "W2 10k single appends, 8 tasks",
        "appends/s",
        W1_APPENDS as f64,
    ),
    (
        "W3 100 appends x 100 events",
        "events/s",
        (W3_APPENDS * W3_BATCH) as f64,
    ),
    (
        "W4 load+fold 10k events (median of 20)",
        "events/s",
        W1_APPENDS as f64,
    ),
];

/// One round's times: `[workload][framework, raw]`.
type Round = [[Duration; 2]; 4];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("postgres_store: skipped, set DATABASE_URL to benchmark against PostgreSQL");
        return;
    };
    let selected = Selected::from_args();
    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        let times = run_round(&url, &selected).await;
        println!("round {round}:");
        print_table(&times);
        rounds.push(times);
    }
    let mut medians: Round = [[Duration::ZERO; 2]; 4];
    let mut ratios = Vec::new();
    for (workload, median_times) in medians.iter_mut().enumerate() {
        for (side, time) in median_times.iter_mut().enumerate() {
            *time = median(rounds.iter().map(|r| r[workload][side]).collect());
        }
        let mut round_ratios: Vec<f64> = rounds
            .iter()
            .map(|r| ratio(r[workload][0], r[workload][1]))
            .collect();
        round_ratios.sort_by(f64::total_cmp);
        ratios.push(round_ratios[round_ratios.len() / 2]);
    }
    println!("medians of {ROUNDS} rounds (ratio: the median of the rounds' ratios):");
    print_rows(&medians, &ratios);
}

/// The workloads named on the command line (`W1` .. `W4`; all when none is).
struct Selected([bool; 4]);

impl Selected {
    fn from_args() -> Self {
        let named: Vec<String> = std::env::args()
            .skip(1)
            .filter(|arg| !arg.starts_with('-'))
            .collect();
        let mut selected = [named.is_empty(); 4];
        for (n, slot) in selected.iter_mut().enumerate() {
            let name = format!("W{}", n + 1);
            *slot |= named.iter().any(|arg| arg.eq_ignore_ascii_case(&name));
        }
        Self(selected)
    }

    fn runs(&self, workload: usize) -> bool {
        self.0[workload]
    }
}

fn ratio(framework: Duration, raw: Duration) -> f64 {
    raw.as_secs_f64() / framework.as_secs_f64()
}

fn print_table(times: &Round) {
    let ratios: Vec<f64> = times.iter().map(|[f, r]| ratio(*f, *r)).collect();
    print_rows(times, &ratios);
}

fn print_rows(times: &Round, ratios: &[f64]) {
    println!(
        "  {:<40} {:>16} {:>16} {:>6}   (framework ÷ raw throughput)",
        "workload", "framework", "raw sqlx", "ratio"
    );
    for (((name, unit, work), [framework, raw]), ratio) in WORKLOADS.iter().zip(times).zip(ratios) {
        if framework.is_zero() {
            continue; // not selected
        }
        let rate = |d: &Duration| format!("{:.0} {unit}", work / d.as_secs_f64());
        println!(
            "  {name:<40} {:>16} {:>16} {ratio:>6.2}   ({:.1} ms vs {:.1} ms)",
            rate(framework),
            rate(raw),
            framework.as_secs_f64() * 1e3,
            raw.as_secs_f64() * 1e3
        );
    }
}

async fn run_round(url: &str, selected: &Selected) -> Round {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let store_schema = format!("bench_store_{}", &run[..8]);
    let raw_schema = format!("bench_raw_{}", &run[..8]);
    let options = |schema: &str| {
        PostgresOptions::builder(url.to_owned())
            .pool_min_size(POOL_SIZE)
            .pool_max_size(POOL_SIZE)
            .schema(schema)
            .build()
            .expect("valid options")
    };
    let store = PostgreSQLEventStore::connect_with(options(&store_schema))
        .await
        .expect("connect");
    store.initialize().await.expect("initialize");
    let raw = Raw::new(
        connect_pool(&options(&raw_schema)).await.expect("connect"),
        &raw_schema,
    )
    .await;

    let mut w: Round = [[Duration::ZERO; 2]; 4];
    for chunk in 0..CHUNKS {
        let singles = chunk * W1_APPENDS / CHUNKS..(chunk + 1) * W1_APPENDS / CHUNKS;
        let per_task = W1_APPENDS / W2_TASKS / CHUNKS;
        let tasks = chunk * per_task..(chunk + 1) * per_task;
        let batches = chunk * W3_APPENDS / CHUNKS..(chunk + 1) * W3_APPENDS / CHUNKS;
        let framework_first = chunk % 2 == 0;
        for turn in 0..2 {
            if (turn == 0) == framework_first {
                if selected.runs(0) {
                    w[0][0] += w1_framework(&store, "w1", singles.clone()).await;
                }
                if selected.runs(1) {
                    w[1][0] += w2_framework(&store, "w2", tasks.clone()).await;
                }
                if selected.runs(2) {
                    w[2][0] += w3_framework(&store, "w3", batches.clone()).await;
                }
            } else {
                if selected.runs(0) {
                    w[0][1] += w1_raw(&raw, "w1", singles.clone()).await;
                }
                if selected.runs(1) {
                    w[1][1] += w2_raw(&raw, "w2", tasks.clone()).await;
                }
                if selected.runs(2) {
                    w[2][1] += w3_raw(&raw, "w3", batches.clone()).await;
                }
            }
        }
    }
    if !selected.runs(3) {
        drop_schemas(&store, [&store_schema, &raw_schema]).await;
        return w;
    }
    if !selected.runs(0) {
        // W4's stream as W1 writes it (amount = version - 1), untimed, in
        // batches.
        for append in 0..W1_APPENDS / W3_BATCH {
            let first = append * W3_BATCH;
            let events: Vec<_> = (first..first + W3_BATCH).map(deposit).collect();
            store
                .save("w1", &events, Some(first))
                .await
                .expect("append");
            raw.append_batch_from("w1", first, W3_BATCH, first).await;
        }
    }

    // W4: both load the 10,000-event stream W1 wrote, alternating.
    let mut framework_runs = Vec::new();
    let mut raw_runs = Vec::new();
    for _ in 0..W4_RUNS {
        framework_runs.push(w4_framework(&store, "w1").await);
        raw_runs.push(w4_raw(&raw, "w1").await);
    }
    w[3] = [median(framework_runs), median(raw_runs)];
    drop_schemas(&store, [&store_schema, &raw_schema]).await;
    w
}

async fn drop_schemas(store: &PostgreSQLEventStore, schemas: [&str; 2]) {
    for schema in schemas {
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .execute(store.pool())
            .await
            .expect("drop schema");
    }
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn deposit(amount: u64) -> AnyEnvelope {
    Envelope::new(Deposited { amount }).into()
}

async fn w1_framework(
    store: &PostgreSQLEventStore,
    stream: &str,
    versions: Range<u64>,
) -> Duration {
    let start = Instant::now();
    for version in versions {
        store
            .save(stream, &[deposit(version)], Some(version))
            .await
            .expect("append");
    }
    start.elapsed()
}

async fn w1_raw(raw: &Raw, stream: &str, versions: Range<u64>) -> Duration {
    let start = Instant::now();
    for version in versions {
        raw.append_one(stream, version, version).await;
    }
    start.elapsed()
}

async fn w2_framework(
    store: &PostgreSQLEventStore,
    stream: &str,
    versions: Range<u64>,
) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..W2_TASKS)
        .map(|task| {
            let store = store.clone();
            let stream = format!("{stream}-{task}");
            let versions = versions.clone();
            tokio::spawn(async move {
                for version in versions {
                    store
                        .save(&stream, &[deposit(version)], Some(version))
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    start.elapsed()
}

async fn w2_raw(raw: &Raw, stream: &str, versions: Range<u64>) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..W2_TASKS)
        .map(|task| {
            let raw = raw.clone();
            let stream = format!("{stream}-{task}");
            let versions = versions.clone();
            tokio::spawn(async move {
                for version in versions {
                    raw.append_one(&stream, version, version).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    start.elapsed()
}

async fn w3_framework(store: &PostgreSQLEventStore, stream: &str, appends: Range<u64>) -> Duration {
    let start = Instant::now();
    for append in appends {
        let events: Vec<_> = (0..W3_BATCH).map(deposit).collect();
        store
            .save(stream, &events, Some(append * W3_BATCH))
            .await
            .expect("append");
    }
    start.elapsed()
}

async fn w3_raw(raw: &Raw, stream: &str, appends: Range<u64>) -> Duration {
    let start = Instant::now();
    for append in appends {
        raw.append_batch(stream, append * W3_BATCH, W3_BATCH).await;
    }
    start.elapsed()
}

async fn w4_framework(store: &PostgreSQLEventStore, stream: &str) -> Duration {
    let start = Instant::now();
    let events = store.load(stream, 1).await.expect("load");
    let balance: u64 = events
        .iter()
        .filter_map(|e| e.downcast_ref::<Deposited>())
        .map(|d| d.amount)
        .sum();
    let elapsed = start.elapsed();
    assert_eq!(balance, (0..W1_APPENDS).sum::<u64>());
    elapsed
}

async fn w4_raw(raw: &Raw, stream: &str) -> Duration {
    let start = Instant::now();
    let balance = raw.load_and_fold(stream).await;
    let elapsed = start.elapsed();
    assert_eq!(balance, (0..W1_APPENDS).sum::<u64>());
    elapsed
}

/// Hand-written sqlx on the minimal table (see the module docs).
#[derive(Clone)]
struct Raw {
    pool: PgPool,
    insert_one: String,
    insert_batch: String,
    load: String,
}

impl Raw {
    async fn new(pool: PgPool, schema: &str) -> Self {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA \"{schema}\";
             CREATE TABLE \"{schema}\".events (
                 position bigserial, stream_id text, version bigint, payload jsonb,
                 PRIMARY KEY (stream_id, version));"
        )))
        .execute(&pool)
        .await
        .expect("raw schema");
        Self {
            insert_one: format!(
                "INSERT INTO \"{schema}\".events (stream_id, version, payload) VALUES ($1, $2, $3)"
            ),
            insert_batch: format!(
                "INSERT INTO \"{schema}\".events (stream_id, version, payload) \
                 SELECT $1, e.version, e.payload FROM unnest($2::bigint[], $3::jsonb[]) AS e(version, payload)"
            ),
            load: format!(
                "SELECT payload FROM \"{schema}\".events WHERE stream_id = $1 ORDER BY version"
            ),
            pool,
        }
    }

    async fn append_one(&self, stream: &str, expected: u64, amount: u64) {
        sqlx::query(AssertSqlSafe(self.insert_one.clone()))
            .bind(stream)
            .bind(i64::try_from(expected + 1).expect("small"))
            .bind(Json(Deposited { amount }))
            .execute(&self.pool)
            .await
            .expect("raw append");
    }

    async fn append_batch(&self, stream: &str, expected: u64, count: u64) {
        self.append_batch_from(stream, expected, count, 0).await;
    }

    /// A batch whose amounts count up from `first_amount`.
    async fn append_batch_from(&self, stream: &str, expected: u64, count: u64, first_amount: u64) {
        let versions: Vec<i64> = (1..=count)
            .map(|n| i64::try_from(expected + n).expect("small"))
            .collect();
        let payloads: Vec<Json<Deposited>> = (first_amount..first_amount + count)
            .map(|amount| Json(Deposited { amount }))
            .collect();
        sqlx::query(AssertSqlSafe(self.insert_batch.clone()))
            .bind(stream)
            .bind(versions)
            .bind(payloads)
            .execute(&self.pool)
            .await
            .expect("raw batch");
    }

    async fn load_and_fold(&self, stream: &str) -> u64 {
        use futures::TryStreamExt;
        let mut rows = sqlx::query_scalar::<_, Json<Deposited>>(AssertSqlSafe(self.load.clone()))
            .bind(stream)
            .fetch(&self.pool);
        let mut balance = 0;
        while let Some(Json(event)) = rows.try_next().await.expect("row") {
            balance += event.amount;
        }
        balance
    }
}
