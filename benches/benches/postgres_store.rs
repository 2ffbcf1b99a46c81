//! PostgreSQLEventStore against hand-written sqlx doing the same work, in
//! the same run, on the real server (`DATABASE_URL`; skipped with a notice
//! when unset).
//!
//! * W1: 10,000 single-event appends with expected version, sequential;
//! * W2: the same 10,000 appends over 8 concurrent tasks (own streams);
//! * W3: 100 appends of 100 events each;
//! * W4: load and fold a 10,000-event stream (median of 20).
//!
//! The raw ceiling writes the same rows (same columns, payload and metadata
//! serialized the same way) into a table of the same shape with one
//! `INSERT` per append (a multi-row `INSERT ... SELECT unnest` for
//! batches), relying on the `(stream_id, version)` unique constraint for the
//! expected-version check and a `bigserial` for positions. It does not
//! serialise position assignment, so it does not keep the no-skip promise of
//! the global stream: that difference is what the ratio prices. Loads decode
//! the same columns straight into the concrete types.
//!
//! A plain timing harness (each workload run twice, alternating framework
//! and raw, best of the two kept) is used instead of criterion: the
//! workloads are long, the figures are throughputs.

use std::time::{Duration, Instant};

use orchestrix::postgres::{PgPool, PostgresOptions, connect_pool};
use orchestrix::prelude::*;
use orchestrix::store::postgres::PostgreSQLEventStore;
use sqlx::AssertSqlSafe;

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("postgres_store: skipped, set DATABASE_URL to benchmark against PostgreSQL");
        return;
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let store_schema = format!("bench_store_{}", &run[..8]);
    let raw_schema = format!("bench_raw_{}", &run[..8]);
    let options = |schema: &str| {
        PostgresOptions::builder(url.clone())
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

    let mut table = Vec::new();
    let mut best =
        |name: &'static str, unit: &'static str, framework: Duration, raw: Duration, work: f64| {
            table.push((name, unit, framework, raw, work));
        };

    // W1 + W2 + W3: two rounds, alternating, best of two.
    let mut w = [[Duration::MAX; 2]; 3];
    for round in 0..2 {
        let r = &format!("r{round}");
        w[0][0] = w[0][0].min(w1_framework(&store, &format!("w1-{r}")).await);
        w[0][1] = w[0][1].min(w1_raw(&raw, &format!("w1-{r}")).await);
        w[1][0] = w[1][0].min(w2_framework(&store, &format!("w2-{r}")).await);
        w[1][1] = w[1][1].min(w2_raw(&raw, &format!("w2-{r}")).await);
        w[2][0] = w[2][0].min(w3_framework(&store, &format!("w3-{r}")).await);
        w[2][1] = w[2][1].min(w3_raw(&raw, &format!("w3-{r}")).await);
    }
    best(
        "W1 10k single appends, sequential",
        "appends/s",
        w[0][0],
        w[0][1],
        W1_APPENDS as f64,
    );
    best(
        "W2 10k single appends, 8 tasks",
        "appends/s",
        w[1][0],
        w[1][1],
        W1_APPENDS as f64,
    );
    best(
        "W3 100 appends x 100 events",
        "events/s",
        w[2][0],
        w[2][1],
        (W3_APPENDS * W3_BATCH) as f64,
    );

    // W4: both load the 10,000-event stream W1 wrote, alternating.
    let mut framework_runs = Vec::new();
    let mut raw_runs = Vec::new();
    for _ in 0..W4_RUNS {
        framework_runs.push(w4_framework(&store, "w1-r0").await);
        raw_runs.push(w4_raw(&raw, "w1-r0").await);
    }
    best(
        "W4 load+fold 10k events (median of 20)",
        "events/s",
        median(framework_runs),
        median(raw_runs),
        W1_APPENDS as f64,
    );

    println!();
    println!(
        "{:<42} {:>16} {:>16} {:>8}   (framework time / raw time)",
        "workload", "framework", "raw sqlx", "ratio"
    );
    for (name, unit, framework, raw, work) in &table {
        let rate = |d: &Duration| format!("{:.0} {unit}", work / d.as_secs_f64());
        println!(
            "{name:<42} {:>16} {:>16} {:>7.2}x   ({:.1} ms vs {:.1} ms)",
            rate(framework),
            rate(raw),
            framework.as_secs_f64() / raw.as_secs_f64(),
            framework.as_secs_f64() * 1e3,
            raw.as_secs_f64() * 1e3
        );
    }

    for schema in [&store_schema, &raw_schema] {
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

async fn w1_framework(store: &PostgreSQLEventStore, stream: &str) -> Duration {
    let start = Instant::now();
    for version in 0..W1_APPENDS {
        store
            .save(stream, &[deposit(version)], Some(version))
            .await
            .expect("append");
    }
    start.elapsed()
}

async fn w1_raw(raw: &Raw, stream: &str) -> Duration {
    let start = Instant::now();
    for version in 0..W1_APPENDS {
        raw.append_one(stream, version, version).await;
    }
    start.elapsed()
}

async fn w2_framework(store: &PostgreSQLEventStore, stream: &str) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..W2_TASKS)
        .map(|task| {
            let store = store.clone();
            let stream = format!("{stream}-{task}");
            tokio::spawn(async move {
                for version in 0..W1_APPENDS / W2_TASKS {
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

async fn w2_raw(raw: &Raw, stream: &str) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..W2_TASKS)
        .map(|task| {
            let raw = raw.clone();
            let stream = format!("{stream}-{task}");
            tokio::spawn(async move {
                for version in 0..W1_APPENDS / W2_TASKS {
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

async fn w3_framework(store: &PostgreSQLEventStore, stream: &str) -> Duration {
    let start = Instant::now();
    for append in 0..W3_APPENDS {
        let events: Vec<_> = (0..W3_BATCH).map(deposit).collect();
        store
            .save(stream, &events, Some(append * W3_BATCH))
            .await
            .expect("append");
    }
    start.elapsed()
}

async fn w3_raw(raw: &Raw, stream: &str) -> Duration {
    let start = Instant::now();
    for append in 0..W3_APPENDS {
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

/// Hand-written sqlx: the same rows, without the framework.
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
                 position bigserial PRIMARY KEY, stream_id text NOT NULL, version bigint NOT NULL,
                 event_id uuid NOT NULL, event_type text NOT NULL, schema_version integer NOT NULL,
                 payload jsonb NOT NULL, metadata jsonb NOT NULL, correlation_id uuid NOT NULL,
                 causation_id uuid, recorded_at timestamptz NOT NULL DEFAULT now(),
                 UNIQUE (stream_id, version));"
        )))
        .execute(&pool)
        .await
        .expect("raw schema");
        Self {
            insert_one: format!(
                "INSERT INTO \"{schema}\".events (stream_id, version, event_id, event_type, schema_version, payload, \
                 metadata, correlation_id, causation_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9)"
            ),
            insert_batch: format!(
                "INSERT INTO \"{schema}\".events (stream_id, version, event_id, event_type, schema_version, payload, \
                 metadata, correlation_id, causation_id) \
                 SELECT $1, $2 + e.n, e.id, e.ty, e.sv, e.p::jsonb, e.m::jsonb, e.c, e.ca \
                 FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[], $8::uuid[], $9::uuid[]) \
                 WITH ORDINALITY AS e(id, ty, sv, p, m, c, ca, n)"
            ),
            load: format!(
                "SELECT version, position, recorded_at, event_type, schema_version, payload::text, metadata::text \
                 FROM \"{schema}\".events WHERE stream_id = $1 AND version >= 1 ORDER BY version"
            ),
            pool,
        }
    }

    async fn append_one(&self, stream: &str, expected: u64, amount: u64) {
        let metadata = Metadata::new("bench.Deposited");
        sqlx::query(AssertSqlSafe(self.insert_one.clone()))
            .bind(stream)
            .bind(i64::try_from(expected + 1).expect("small"))
            .bind(metadata.id)
            .bind("bench.Deposited")
            .bind(1_i32)
            .bind(serde_json::to_string(&Deposited { amount }).expect("json"))
            .bind(serde_json::to_string(&metadata).expect("json"))
            .bind(metadata.correlation_id)
            .bind(metadata.causation_id)
            .execute(&self.pool)
            .await
            .expect("raw append");
    }

    async fn append_batch(&self, stream: &str, expected: u64, count: u64) {
        let metadata: Vec<Metadata> = (0..count)
            .map(|_| Metadata::new("bench.Deposited"))
            .collect();
        sqlx::query(AssertSqlSafe(self.insert_batch.clone()))
            .bind(stream)
            .bind(i64::try_from(expected).expect("small"))
            .bind(metadata.iter().map(|m| m.id).collect::<Vec<_>>())
            .bind(vec!["bench.Deposited"; metadata.len()])
            .bind(vec![1_i32; metadata.len()])
            .bind(
                (0..count)
                    .map(|amount| serde_json::to_string(&Deposited { amount }).expect("json"))
                    .collect::<Vec<_>>(),
            )
            .bind(
                metadata
                    .iter()
                    .map(|m| serde_json::to_string(m).expect("json"))
                    .collect::<Vec<_>>(),
            )
            .bind(
                metadata
                    .iter()
                    .map(|m| m.correlation_id)
                    .collect::<Vec<_>>(),
            )
            .bind(metadata.iter().map(|m| m.causation_id).collect::<Vec<_>>())
            .execute(&self.pool)
            .await
            .expect("raw batch");
    }

    async fn load_and_fold(&self, stream: &str) -> u64 {
        use futures::TryStreamExt;
        use sqlx::Row;
        let mut rows = sqlx::query(AssertSqlSafe(self.load.clone()))
            .bind(stream)
            .fetch(&self.pool);
        let mut balance = 0;
        while let Some(row) = rows.try_next().await.expect("row") {
            let _version: i64 = row.get(0);
            let _position: i64 = row.get(1);
            let _recorded_at: time::OffsetDateTime = row.get(2);
            let _event_type: &str = row.get(3);
            let _schema_version: i32 = row.get(4);
            let event: Deposited = serde_json::from_str(row.get::<&str, _>(5)).expect("payload");
            let _metadata: Metadata =
                serde_json::from_str(row.get::<&str, _>(6)).expect("metadata");
            balance += event.amount;
        }
        balance
    }
}
