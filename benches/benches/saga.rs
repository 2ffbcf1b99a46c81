//! Overhead of a 5-step saga with no-op steps over calling the 5 fns
//! directly, with the in-memory and the PostgreSQL state store; for
//! PostgreSQL also beside hand-written sqlx doing the same 13 writes a saga
//! does (create, running + completed per step, completed, lease release).
//!
//! Run: `cargo bench -p orchestrix-benches --bench saga`
//! (PostgreSQL part with `DATABASE_URL` set; skipped without it).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use orchestrix::postgres::{PostgresOptions, connect_pool};
use orchestrix::prelude::*;
use orchestrix::saga::PostgreSQLSagaStateStore;
use tokio::runtime::Runtime;

fn noop(_: &()) -> Result<(), StepFailure> {
    Ok(())
}

async fn direct_calls() -> Result<(), StepFailure> {
    for _ in 0..5 {
        noop(black_box(&()))?;
    }
    Ok(())
}

fn five_steps() -> Vec<SagaStep<()>> {
    (1..=5)
        .map(|n| {
            SagaStep::builder(format!("step-{n}"), noop)
                .build()
                .expect("valid step")
        })
        .collect()
}

static RAW_IDS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Total time and iterations of each benchmark over every batch
    /// criterion ran (warm-up included).
    static TOTALS: RefCell<BTreeMap<&'static str, (Duration, u64)>> = const { RefCell::new(BTreeMap::new()) };
}

fn remember(name: &'static str, total: Duration, iters: u64) {
    TOTALS.with(|totals| {
        let mut totals = totals.borrow_mut();
        let entry = totals.entry(name).or_default();
        entry.0 += total;
        entry.1 += iters;
    });
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("saga_5_noop_steps");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);

    group.bench_function("direct_calls", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                direct_calls().await.expect("no-op");
            }
            let total = start.elapsed();
            remember("direct_calls", total, iters);
            total
        })
    });

    let memory = Arc::new(
        Saga::new(
            "bench",
            five_steps(),
            Arc::new(InMemorySagaStateStore::new()),
        )
        .expect("a valid saga"),
    );
    group.bench_function("saga_in_memory", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let saga = Arc::clone(&memory);
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let state = saga.execute(()).await.expect("runs");
                    assert_eq!(state.status, SagaStatus::Completed);
                }
                let total = start.elapsed();
                remember("saga_in_memory", total, iters);
                total
            }
        })
    });

    match std::env::var("DATABASE_URL") {
        Ok(url) => bench_postgres(&mut group, &runtime, &url),
        Err(_) => {
            println!("saga bench: DATABASE_URL is not set; skipped the PostgreSQL state store")
        }
    }
    group.finish();
    report();
}

fn bench_postgres(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &Runtime,
    url: &str,
) {
    let schema = format!("bench_saga_{}", std::process::id());
    let (store, pool) = runtime.block_on(async {
        let options = PostgresOptions::builder(url)
            .pool_max_size(4)
            .schema(schema.clone())
            .build()
            .expect("valid options");
        let pool = connect_pool(&options).await.expect("database answers");
        let store =
            PostgreSQLSagaStateStore::from_pool_with_schema(pool.clone(), &schema).expect("schema");
        store.initialize().await.expect("migrates");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE \"{schema}\".raw_saga (id text PRIMARY KEY, status text NOT NULL, \
             steps jsonb NOT NULL, owner text, expires timestamptz)"
        )))
        .execute(&pool)
        .await
        .expect("raw table");
        (store, pool)
    });

    let saga = Arc::new(Saga::new("bench", five_steps(), Arc::new(store)).expect("a valid saga"));
    group.bench_function("saga_postgres", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let saga = Arc::clone(&saga);
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    saga.execute(()).await.expect("runs");
                }
                let total = start.elapsed();
                remember("saga_postgres", total, iters);
                total
            }
        })
    });

    let insert = format!(
        "INSERT INTO \"{schema}\".raw_saga (id, status, steps, owner, expires) \
         VALUES ($1, 'running', $2, 'me', now() + interval '30 seconds')"
    );
    let update = format!(
        "UPDATE \"{schema}\".raw_saga SET status = $2, steps = $3, expires = now() + interval '30 seconds' \
         WHERE id = $1 AND owner = 'me'"
    );
    let release = format!(
        "UPDATE \"{schema}\".raw_saga SET owner = NULL, expires = NULL WHERE id = $1 AND owner = 'me'"
    );
    let steps = serde_json::Value::Array(vec![
        serde_json::json!({ "name": "step", "status": "completed", "attempts": 1 });
        5
    ]);
    group.bench_function("raw_sqlx_13_writes", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let (pool, insert, update, release, steps) = (
                pool.clone(),
                insert.clone(),
                update.clone(),
                release.clone(),
                steps.clone(),
            );
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let id = format!("raw-{}", RAW_IDS.fetch_add(1, Ordering::Relaxed));
                    sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
                        .bind(&id)
                        .bind(&steps)
                        .execute(&pool)
                        .await
                        .expect("insert");
                    for _ in 0..11 {
                        direct_calls().await.expect("no-op");
                        sqlx::query(sqlx::AssertSqlSafe(update.as_str()))
                            .bind(&id)
                            .bind("running")
                            .bind(&steps)
                            .execute(&pool)
                            .await
                            .expect("update");
                    }
                    sqlx::query(sqlx::AssertSqlSafe(release.as_str()))
                        .bind(&id)
                        .execute(&pool)
                        .await
                        .expect("release");
                }
                let total = start.elapsed();
                remember("raw_sqlx_13_writes", total, iters);
                total
            }
        })
    });

    runtime.block_on(async {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA \"{schema}\" CASCADE"
        )))
        .execute(&pool)
        .await
        .expect("drop schema");
    });
}

fn report() {
    TOTALS.with(|totals| {
        let means: BTreeMap<&'static str, Duration> = totals
            .borrow()
            .iter()
            .map(|(name, (total, iters))| (*name, total.div_f64((*iters).max(1) as f64)))
            .collect();
        let Some(&direct) = means.get("direct_calls") else {
            return;
        };
        println!(
            "\nsaga bench summary (mean per run of 5 no-op steps, over all of criterion's batches):"
        );
        println!("  direct calls (baseline)     {:>12.3?}", direct);
        let ratio = |d: Duration, base: Duration| {
            d.as_secs_f64() / base.as_secs_f64().max(f64::MIN_POSITIVE)
        };
        if let Some(&memory) = means.get("saga_in_memory") {
            println!(
                "  saga, in-memory store       {:>12.3?}   {:>10.1}x direct calls",
                memory,
                ratio(memory, direct)
            );
        }
        if let (Some(&pg), Some(&raw)) =
            (means.get("saga_postgres"), means.get("raw_sqlx_13_writes"))
        {
            println!(
                "  raw sqlx, same 13 writes    {:>12.3?}   {:>10.1}x direct calls",
                raw,
                ratio(raw, direct)
            );
            println!(
                "  saga, PostgreSQL store      {:>12.3?}   {:>10.1}x direct calls, {:.2}x raw sqlx",
                pg,
                ratio(pg, direct),
                ratio(pg, raw)
            );
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
