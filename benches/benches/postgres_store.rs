//! PostgreSQLEventStore against hand-written sqlx, in the same run, on the
//! real server (`DATABASE_URL`; skipped with a notice when unset): the
//! workloads W1–W4 of `orchestrix_benches::store_workloads`, three rounds
//! on fresh schemas.
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

use orchestrix::postgres::{PgPool, PostgresOptions, connect_pool};
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_benches::store_workloads::{
    Deposited, Framework, Round, Selected, Side, report, run_round,
};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

const POOL_SIZE: u32 = 8;
const ROUNDS: usize = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("postgres_store: skipped, set DATABASE_URL to benchmark against PostgreSQL");
        return;
    };
    let selected = Selected::from_args();
    let mut rounds: Vec<Round> = Vec::new();
    for _ in 0..ROUNDS {
        rounds.push(round(&url, selected).await);
    }
    report(&rounds);
}

/// One round on fresh schemas, dropped afterwards.
async fn round(url: &str, selected: Selected) -> Round {
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
    let times = run_round(&Framework(store.clone()), &raw, selected).await;
    for schema in [&store_schema, &raw_schema] {
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .execute(store.pool())
            .await
            .expect("drop schema");
    }
    times
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
}

impl Side for Raw {
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
        let versions: Vec<i64> = (1..=count)
            .map(|n| i64::try_from(expected + n).expect("small"))
            .collect();
        let payloads: Vec<Json<Deposited>> = (expected..expected + count)
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
