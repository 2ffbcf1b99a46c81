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

use orchestrix::postgres::{PostgresOptions, connect_pool};
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_benches::postgres_raw::Raw;
use orchestrix_benches::store_workloads::{Framework, Round, Selected, report, run_round};
use sqlx::AssertSqlSafe;

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
