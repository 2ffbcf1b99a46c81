//! W4 of the `postgres_store` bench (load and fold a 10,000-event stream),
//! or W1's single appends, or W3's batches, in a loop, for the store or for
//! its raw sqlx baseline: for an instruction-counting profiler, whose
//! figures do not depend on the machine's load. It counts the client's
//! instructions only (the server's work is another process).
//!
//! ```text
//! cargo build --release -p orchestrix-benches --example pg_load
//! DATABASE_URL=postgres://... valgrind --tool=callgrind target/release/examples/pg_load store 20
//! DATABASE_URL=postgres://... valgrind --tool=callgrind target/release/examples/pg_load raw 20
//! ```
//!
//! Workloads: `replay` (W4's figure: the aggregate repository's
//! `load_async` of an aggregate summing the amounts, which replays the
//! stream), `store` (`PostgreSQLEventStore::load`, then the fold), `raw`
//! (the bench's hand-written baseline), `none` (the set-up alone: both
//! tables written, nothing loaded); `store-append` and `raw-append` make
//! the count W1's single-event appends with expected version to a new
//! stream instead of loads, `store-batch` and `raw-batch` W3's appends of
//! 100 events. Run each with two counts and divide the difference of the
//! instruction totals by the difference of the counts to get the cost of
//! one operation without the set-up. Every run works in fresh schemas,
//! dropped at the end, unless `PG_LOAD_KEEP` is set: then they are kept
//! and their names printed, for measuring what the rows cost (their WAL
//! with `pg_waldump`, their size with `pg_relation_size`). With
//! `PG_LOAD_TYPED_COLUMNS` set, the store also writes the typed metadata
//! columns (`write_typed_metadata_columns(true)`), as for a rolling
//! upgrade.

use orchestrix::postgres::{PostgresOptions, connect_pool};
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_benches::postgres_raw::Raw;
use orchestrix_benches::store_workloads::{Framework, Side, W1_APPENDS, W3_BATCH};
use sqlx::AssertSqlSafe;

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "none".to_owned());
    let count: u64 = args
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or(20);
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("pg_load: set DATABASE_URL");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let store_schema = format!("load_store_{}", &run[..8]);
    let raw_schema = format!("load_raw_{}", &run[..8]);
    let options = |schema: &str| {
        PostgresOptions::builder(url.clone())
            .pool_min_size(1)
            .pool_max_size(1)
            .schema(schema)
            .build()
            .expect("valid options")
    };
    runtime.block_on(async {
        let store = PostgreSQLEventStore::connect_with(options(&store_schema))
            .await
            .expect("connect")
            .write_typed_metadata_columns(std::env::var_os("PG_LOAD_TYPED_COLUMNS").is_some());
        let store = Framework(store);
        store.0.initialize().await.expect("initialize");
        let raw = Raw::new(
            connect_pool(&options(&raw_schema)).await.expect("connect"),
            &raw_schema,
        )
        .await;
        for first in (0..W1_APPENDS).step_by(W3_BATCH as usize) {
            store.append_batch("w1", first, W3_BATCH).await;
            raw.append_batch("w1", first, W3_BATCH).await;
        }
        let expected: u64 = (0..W1_APPENDS).sum();
        for n in 0..count {
            match workload.as_str() {
                "store-append" => store.append_one("singles", n, n).await,
                "raw-append" => raw.append_one("singles", n, n).await,
                "store-batch" => store.append_batch("batches", n * W3_BATCH, W3_BATCH).await,
                "raw-batch" => raw.append_batch("batches", n * W3_BATCH, W3_BATCH).await,
                "replay" => assert_eq!(store.load_and_fold("w1").await, expected),
                "store" => assert_eq!(store.load_events_and_fold("w1").await, expected),
                "raw" => assert_eq!(raw.load_and_fold("w1").await, expected),
                "none" => {}
                other => panic!("unknown workload `{other}`"),
            }
        }
        if std::env::var_os("PG_LOAD_KEEP").is_some() {
            println!("kept schemas: {store_schema} {raw_schema}");
            return;
        }
        for schema in [&store_schema, &raw_schema] {
            sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
                .execute(&raw.pool)
                .await
                .expect("drop schema");
        }
        store.0.pool().close().await;
        raw.pool.close().await;
    });
}
