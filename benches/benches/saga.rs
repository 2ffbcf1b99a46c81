//! Overhead of a 5-step saga with no-op steps over calling the 5 fns
//! directly, with the in-memory and the PostgreSQL state store; in memory
//! also beside the floor of a persisted saga, a hand-written run keeping
//! the same ids, writes and lease (`orchestrix_benches::saga_hand_written`,
//! whose docs list what it keeps and what it does not); for
//! PostgreSQL also beside hand-written sqlx doing the same 13 writes a saga
//! does (create, running + completed per step, completed, lease release).
//!
//! Run: `cargo bench -p orchestrix-benches --bench saga`
//! (PostgreSQL part with `DATABASE_URL` set; skipped without it).
//!
//! Each in-memory saga runs on a store of its own (made before the clock
//! starts, dropped after it stops), so the figure is one saga's run, not
//! the growth of a map holding every earlier run. Criterion's figures
//! exclude its warm-up; the closing note times fixed batches again after a
//! warm-up of its own and prints the median beside the baseline.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use orchestrix::postgres::{PostgresOptions, connect_pool};
use orchestrix::prelude::*;
use orchestrix::saga::{PostgreSQLSagaStateStore, StepAction};
use orchestrix_benches::saga_hand_written;
use tokio::runtime::Runtime;

fn noop(_: &()) -> Result<(), StepFailure> {
    Ok(())
}

/// The same no-op as an `async fn` step: it runs on the saga's task, where
/// a plain fn step is handed to tokio's blocking pool (a thread handoff per
/// step), so this variant shows the executor and state store alone.
async fn noop_async(_: &()) -> Result<(), StepFailure> {
    Ok(())
}

async fn direct_calls() -> Result<(), StepFailure> {
    for _ in 0..5 {
        noop(black_box(&()))?;
    }
    Ok(())
}

fn five_steps() -> Vec<SagaStep<()>> {
    five_of(noop)
}

fn five_async_steps() -> Vec<SagaStep<()>> {
    five_of(noop_async)
}

/// Five steps, `step-1` .. `step-5`, each running `action`.
fn five_of<A: StepAction<(), M> + Copy, M>(action: A) -> Vec<SagaStep<()>> {
    (1..=5)
        .map(|n| {
            SagaStep::builder(format!("step-{n}"), action)
                .build()
                .expect("valid step")
        })
        .collect()
}

static RAW_IDS: AtomicU64 = AtomicU64::new(0);

/// `count` sagas, each on an in-memory store of its own.
fn fresh_sagas(count: u64) -> Vec<Saga<()>> {
    fresh_sagas_of(count, five_steps)
}

/// `count` sagas of `steps`, each on an in-memory store of its own.
fn fresh_sagas_of(count: u64, steps: fn() -> Vec<SagaStep<()>>) -> Vec<Saga<()>> {
    (0..count)
        .map(|_| {
            Saga::new("bench", steps(), Arc::new(InMemorySagaStateStore::new()))
                .expect("a valid saga")
        })
        .collect()
}

/// Runs each saga once; the time of the runs only (the sagas and their
/// stores are made before and dropped after).
async fn run_each(sagas: Vec<Saga<()>>) -> Duration {
    let start = Instant::now();
    for saga in &sagas {
        let state = saga.execute(()).await.expect("runs");
        assert_eq!(state.status, SagaStatus::Completed);
    }
    let elapsed = start.elapsed();
    drop(black_box(sagas));
    elapsed
}

/// The hand-written floor's no-op step, an `async fn` as the framework's
/// `noop_async`.
async fn noop_floor(_: usize) -> Result<(), saga_hand_written::StepFailed> {
    Ok(())
}

/// `count` stores of the hand-written floor, one per run.
fn fresh_floor_stores(count: u64) -> Vec<saga_hand_written::Store> {
    (0..count)
        .map(|_| saga_hand_written::Store::default())
        .collect()
}

/// Runs the hand-written floor once on each store; the time of the runs
/// only (the stores are made before and dropped after), as `run_each`.
async fn run_floor_each(stores: Vec<saga_hand_written::Store>) -> Duration {
    let start = Instant::now();
    for store in &stores {
        let state = saga_hand_written::execute(store, noop_floor)
            .await
            .expect("runs");
        assert_eq!(state.status, saga_hand_written::Status::Completed);
    }
    let elapsed = start.elapsed();
    drop(black_box(stores));
    elapsed
}

/// The time of `iters` direct calls of the 5 fns.
async fn direct(iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        direct_calls().await.expect("no-op");
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("saga_5_noop_steps");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);

    group.bench_function("direct_calls", |b| b.to_async(&runtime).iter_custom(direct));
    group.bench_function("saga_in_memory", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| run_each(fresh_sagas(iters)))
    });
    group.bench_function("saga_in_memory_async_steps", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| run_each(fresh_sagas_of(iters, five_async_steps)))
    });
    group.bench_function("hand_written_persisted_saga", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| run_floor_each(fresh_floor_stores(iters)))
    });

    match std::env::var("DATABASE_URL") {
        Ok(url) => bench_postgres(&mut group, &runtime, &url),
        Err(_) => {
            println!("saga bench: DATABASE_URL is not set; skipped the PostgreSQL state store")
        }
    }
    group.finish();
    closing_note(&runtime);
}

/// Median of 31 batches of 1,000 runs each, after 3 untimed batches: the
/// in-memory saga beside the direct calls and the hand-written persisted
/// saga, timed the same way, in turn.
fn closing_note(runtime: &Runtime) {
    const BATCHES: usize = 31;
    const RUNS: u64 = 1_000;
    let median = |mut times: Vec<Duration>| {
        times.sort_unstable();
        times[times.len() / 2] / u32::try_from(RUNS).expect("small")
    };
    let (direct_times, saga_times, async_times, floor_times) = runtime.block_on(async {
        for _ in 0..3 {
            direct(RUNS).await;
            run_each(fresh_sagas(RUNS)).await;
            run_each(fresh_sagas_of(RUNS, five_async_steps)).await;
            run_floor_each(fresh_floor_stores(RUNS)).await;
        }
        let mut times = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..BATCHES {
            times.0.push(direct(RUNS).await);
            times.1.push(run_each(fresh_sagas(RUNS)).await);
            times
                .2
                .push(run_each(fresh_sagas_of(RUNS, five_async_steps)).await);
            times.3.push(run_floor_each(fresh_floor_stores(RUNS)).await);
        }
        times
    });
    let (direct, memory, memory_async, floor) = (
        median(direct_times),
        median(saga_times),
        median(async_times),
        median(floor_times),
    );
    println!(
        "\nsaga closing note (median of {BATCHES} batches of {RUNS} runs after 3 warm-up batches; a fresh in-memory store per saga):"
    );
    println!("  direct calls (baseline)     {direct:>12.3?}");
    println!(
        "  saga, in-memory store       {memory:>12.3?}   {:>10.1}x direct calls",
        memory.as_secs_f64() / direct.as_secs_f64().max(f64::MIN_POSITIVE)
    );
    println!(
        "  saga, in-memory, async steps {memory_async:>12.3?}   {:>10.1}x direct calls",
        memory_async.as_secs_f64() / direct.as_secs_f64().max(f64::MIN_POSITIVE)
    );
    println!(
        "  hand-written persisted saga  {floor:>12.3?}   the async saga is {:.2}x this floor (same ids, 13 writes, lease; see saga_hand_written)",
        memory_async.as_secs_f64() / floor.as_secs_f64().max(f64::MIN_POSITIVE)
    );
    println!("  (PostgreSQL: see criterion's saga_postgres beside raw_sqlx_13_writes above)");
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
                start.elapsed()
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
                start.elapsed()
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

criterion_group!(benches, bench);
criterion_main!(benches);
