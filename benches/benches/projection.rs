//! Projections beside their raw baselines, in the same run.
//!
//! * Catch-up of 100,000 events, in memory: a `ProjectionEngine` rebuilding
//!   a sum from the in-memory store (filtered page reads, checkpoint per
//!   page, handler per event) against a plain loop folding the same events
//!   from a `Vec` (criterion, then a closing note of medians).
//! * Catch-up of 100,000 events on PostgreSQL (`DATABASE_URL`; skipped with
//!   a notice when unset): the engine over `PostgreSQLEventStore` against
//!   hand-written sqlx reading the same rows in pages (`SELECT position,
//!   payload, context ... ORDER BY position LIMIT`) and decoding the
//!   payloads with serde. Goal: at least 0.6 of raw.
//! * Live latency on PostgreSQL under 8 concurrent writers (followers woken
//!   by LISTEN/NOTIFY): from the start of an append, and from its commit (as
//!   its writer saw `save` return), to the read model having the event, p50
//!   and p99, beside the append's own latency.
//!
//! `cargo bench -p orchestrix-benches --bench projection`

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use orchestrix::postgres::{PgPool, PostgresOptions};
use orchestrix::prelude::*;
use orchestrix::store::postgres::PostgreSQLEventStore;
use sqlx::AssertSqlSafe;
use tokio::runtime::Runtime;

const EVENTS: u64 = 100_000;
const PAGE: usize = 500;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bench.projection.Deposited")]
struct Deposited {
    amount: u64,
}

/// Carries when its append started, in nanoseconds since `EPOCH`.
#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bench.projection.Pinged")]
struct Pinged {
    sent_nanos: u64,
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn deposits() -> Vec<AnyEnvelope> {
    (0..EVENTS)
        .map(|amount| Envelope::new(Deposited { amount }).into())
        .collect()
}

/// A projection summing the deposits into `sum`.
fn summing(sum: &Arc<AtomicU64>) -> ProjectionEngine {
    let mut engine = ProjectionEngine::new("bench-sum", InMemoryProjectionStateStore::new())
        .with_batch_size(PAGE);
    let sum = Arc::clone(sum);
    engine.on_sync::<Deposited, _, _>(move |event, _context| {
        sum.fetch_add(event.amount, Ordering::Relaxed);
    });
    engine
}

fn expected_sum() -> u64 {
    (0..EVENTS).sum()
}

/// The raw baseline in memory: fold the same events from a `Vec`.
fn raw_fold(events: &[Deposited]) -> u64 {
    events.iter().map(|event| black_box(event.amount)).sum()
}

async fn engine_catch_up<S: AsyncEventStore + ?Sized>(store: &S) -> u64 {
    let sum = Arc::new(AtomicU64::new(0));
    let engine = summing(&sum);
    let state = engine.rebuild(store).await.expect("catch up");
    assert_eq!(state.processed, EVENTS);
    sum.load(Ordering::Relaxed)
}

fn bench_in_memory(c: &mut Criterion, rt: &Runtime) {
    let store = InMemoryAsyncEventStore::new();
    rt.block_on(store.save("bench", &deposits(), None))
        .expect("fill");
    let raw: Vec<Deposited> = (0..EVENTS).map(|amount| Deposited { amount }).collect();

    let mut group = c.benchmark_group("projection_catch_up_100k");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.bench_function("raw_vec_fold", |b| b.iter(|| black_box(raw_fold(&raw))));
    group.bench_function("engine_in_memory", |b| {
        b.iter(|| black_box(rt.block_on(engine_catch_up(&store))))
    });
    group.finish();

    let raw_time = median(11, || {
        assert_eq!(raw_fold(&raw), expected_sum());
    });
    let engine_time = median(11, || {
        assert_eq!(rt.block_on(engine_catch_up(&store)), expected_sum());
    });
    println!("\nprojection catch-up of {EVENTS} events, in memory (median of 11):");
    row("raw loop over a Vec", raw_time, raw_time);
    row("ProjectionEngine, in-memory store", engine_time, raw_time);
}

fn median(runs: usize, mut routine: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            routine();
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[runs / 2]
}

fn row(label: &str, time: Duration, baseline: Duration) {
    println!(
        "  {label:<42} {:>12.0} events/s   {:>7.4} of raw",
        EVENTS as f64 / time.as_secs_f64(),
        baseline.as_secs_f64() / time.as_secs_f64()
    );
}

// ---- PostgreSQL ----

/// The raw baseline on PostgreSQL: the same rows, paged by position, the
/// payload decoded with serde and the context column read, undecoded (the
/// only copy of the metadata a current writer fills), folded.
async fn raw_catch_up(pool: &PgPool, schema: &str) -> u64 {
    let query = format!(
        "SELECT position, payload::text, context FROM \"{schema}\".events \
         WHERE position >= $1 ORDER BY position LIMIT $2"
    );
    let (mut next, mut sum, mut seen) = (1_i64, 0_u64, 0_u64);
    loop {
        type Row = (i64, String, Vec<u8>);
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(query.as_str()))
            .bind(next)
            .bind(PAGE as i64)
            .fetch_all(pool)
            .await
            .expect("raw select");
        let Some(last) = rows.last() else {
            break;
        };
        next = last.0 + 1;
        for (_, payload, context) in &rows {
            let event: Deposited = serde_json::from_str(payload).expect("payload");
            black_box(context);
            sum += event.amount;
            seen += 1;
        }
    }
    assert_eq!(seen, EVENTS);
    sum
}

async fn postgres(url: &str) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("bench_projection_{}", &run[..8]);
    let options = PostgresOptions::builder(url)
        .pool_min_size(2)
        .pool_max_size(10)
        .schema(schema.clone())
        .build()
        .expect("valid options");
    let store = PostgreSQLEventStore::connect_with(options)
        .await
        .expect("connect");
    store.initialize().await.expect("initialize");
    let events = deposits();
    let mut head = 0;
    for (stream, chunk) in events.chunks(1_000).enumerate() {
        let outcome = store
            .save(&format!("bench-{stream}"), chunk, None)
            .await
            .expect("fill");
        head = outcome.positions.last().copied().unwrap_or(head);
    }

    // Statistics, as autovacuum would gather them after a bulk load: without
    // them the planner reads a type-filtered page through the
    // (event_type, position) index and sorts the rest of the stream, each
    // page (about 30x slower here); see docs/projections.md.
    sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE \"{schema}\".events")))
        .execute(store.pool())
        .await
        .expect("analyze the bench events");

    const RUNS: usize = 5;
    let (mut raw_runs, mut engine_runs) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        // Take turns going first, so a shared machine's noise hits both.
        for turn in 0..2 {
            let start = Instant::now();
            if (turn == 0) == (run % 2 == 0) {
                assert_eq!(raw_catch_up(store.pool(), &schema).await, expected_sum());
                raw_runs.push(start.elapsed());
            } else {
                assert_eq!(engine_catch_up(&store).await, expected_sum());
                engine_runs.push(start.elapsed());
            }
        }
    }
    raw_runs.sort_unstable();
    engine_runs.sort_unstable();
    let (raw_time, engine_time) = (raw_runs[RUNS / 2], engine_runs[RUNS / 2]);
    println!("\nprojection catch-up of {EVENTS} events, PostgreSQL (median of {RUNS}):");
    row("raw sqlx SELECT + serde decode", raw_time, raw_time);
    row(
        "ProjectionEngine, PostgreSQLEventStore",
        engine_time,
        raw_time,
    );

    live_latency(&store, head).await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(store.pool())
        .await
        .expect("drop the bench schema");
}

/// 8 writers append 250 events each while a projection follows live; each
/// event carries when its append started, the handler notes when it saw it.
/// The writers start once the projection has caught up to `head` (past the
/// 100,000 events of the catch-up benchmark).
async fn live_latency(store: &PostgreSQLEventStore, head: u64) {
    const WRITERS: u64 = 8;
    const PER_WRITER: u64 = 250;
    let epoch = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut engine = ProjectionEngine::new("bench-live", InMemoryProjectionStateStore::new());
    {
        let latencies = Arc::clone(&latencies);
        engine.on_sync::<Pinged, _, _>(move |event, context| {
            let now = epoch.elapsed().as_nanos() as u64;
            latencies
                .lock()
                .expect("latencies")
                .push((context.position(), event.sent_nanos, now));
        });
    }
    let engine = Arc::new(engine);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn({
        let (engine, store) = (Arc::clone(&engine), store.clone());
        async move {
            engine
                .run(&store, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let mut states = engine.watch_state();
    tokio::time::timeout(
        Duration::from_secs(120),
        states.wait_for(|s| s.position >= head),
    )
    .await
    .expect("the projection caught up with the earlier events")
    .expect("alive");
    let appends = Arc::new(Mutex::new(Vec::new()));
    let commits = Arc::new(Mutex::new(HashMap::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, appends, commits) =
                (store.clone(), Arc::clone(&appends), Arc::clone(&commits));
            tokio::spawn(async move {
                for seq in 0..PER_WRITER {
                    let started = Instant::now();
                    let sent_nanos = epoch.elapsed().as_nanos() as u64;
                    let outcome = store
                        .save(
                            &format!("live-{writer}-{seq}"),
                            &[Envelope::new(Pinged { sent_nanos }).into()],
                            None,
                        )
                        .await
                        .expect("append");
                    let committed_nanos = epoch.elapsed().as_nanos() as u64;
                    appends.lock().expect("appends").push(started.elapsed());
                    commits
                        .lock()
                        .expect("commits")
                        .extend(outcome.positions.iter().map(|&p| (p, committed_nanos)));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let writing = epoch.elapsed();
    tokio::time::timeout(
        Duration::from_secs(60),
        states.wait_for(|s| s.processed == WRITERS * PER_WRITER),
    )
    .await
    .expect("the projection caught up")
    .expect("alive");
    let _ = stop.send(());
    runner.await.expect("runner").expect("clean stop");
    let quantiles = |values: &Mutex<Vec<Duration>>| {
        let mut values = values.lock().expect("values").clone();
        values.sort_unstable();
        let at = |q: f64| values[((values.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        (at(0.5), at(0.99))
    };
    // From the append's start, and from its commit as its writer saw it
    // return (0 when the projection saw the event first).
    let seen = latencies.lock().expect("latencies").clone();
    let commits = commits.lock().expect("commits").clone();
    let from_start = Mutex::new(
        seen.iter()
            .map(|&(_, sent, now)| Duration::from_nanos(now.saturating_sub(sent)))
            .collect(),
    );
    let from_commit = Mutex::new(
        seen.iter()
            .map(|(position, _, now)| Duration::from_nanos(now.saturating_sub(commits[position])))
            .collect(),
    );
    let (p50, p99) = quantiles(&from_start);
    let (commit_p50, commit_p99) = quantiles(&from_commit);
    let (append_p50, append_p99) = quantiles(&appends);
    println!(
        "\nlive latency on PostgreSQL, {WRITERS} writers x {PER_WRITER} appends ({:.2} s of writing):",
        writing.as_secs_f64()
    );
    println!("  append start -> read model updated   p50 {p50:>8.2} ms   p99 {p99:>8.2} ms");
    println!(
        "  append commit -> read model updated  p50 {commit_p50:>8.2} ms   p99 {commit_p99:>8.2} ms"
    );
    println!(
        "  the append alone (raw baseline)      p50 {append_p50:>8.2} ms   p99 {append_p99:>8.2} ms"
    );
}

fn main() {
    let rt = runtime();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    bench_in_memory(&mut criterion, &rt);
    criterion.final_summary();
    match std::env::var("DATABASE_URL") {
        Ok(url) => rt.block_on(postgres(&url)),
        Err(_) => println!(
            "\nprojection on PostgreSQL: skipped, set DATABASE_URL to benchmark against PostgreSQL"
        ),
    }
}
