//! The PostgreSQL soak run: many concurrent writers and a few followers of
//! the global stream, on a pool smaller than the writers, for a set time;
//! then the rows are counted to prove nothing was lost or duplicated.
//!
//! Not part of the normal test run (it is `#[ignore]`d and takes minutes).
//! Run it with (see `docs/postgres.md`, "Soak run"):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/orchestrix_soak \
//! SOAK_SECS=300 nice -n 10 cargo test -p orchestrix-tests --release \
//!     --test soak_postgres -- --ignored --nocapture
//! ```
//!
//! Knobs (environment): `SOAK_SECS` (default 30), `SOAK_WRITERS` (64),
//! `SOAK_FOLLOWERS` (4), `SOAK_POOL` (16), `SOAK_STREAMS` (16). Each writer
//! appends 1 to 3 events per call, nine calls in ten to its own stream and
//! one in ten to one of the `SOAK_STREAMS` shared streams, where writers
//! race and conflicts happen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orchestrix::postgres::PostgresOptions;
use orchestrix::prelude::*;
use orchestrix::store::postgres::PostgreSQLEventStore;
use orchestrix_tests::conformance::ConformanceEvent;
use orchestrix_tests::postgres::{database_url, unique_schema};
use tokio::sync::Barrier;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default, Debug)]
struct WriterReport {
    latencies_us: Vec<u64>,
    appends: u64,
    events: u64,
    conflicts: u64,
    /// Appends that failed otherwise: they may or may not have committed.
    uncertain_events: u64,
    errors: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct FollowerReport {
    seen: u64,
    /// Per event read: from when its append began (`recorded_at`) to when
    /// the follower had it, in microseconds.
    delays_us: Vec<u64>,
    max_lag: u64,
    lag_sum: u64,
    lag_samples: u64,
    errors: BTreeMap<String, u64>,
}

fn kind(error: &StoreError) -> String {
    let name = format!("{error:?}");
    name.split([' ', '(', '{']).next().unwrap_or("?").to_owned()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a soak run of minutes: run it on purpose, see the file's docs"]
async fn soak_many_writers_and_followers() {
    let Some(url) = database_url("soak_many_writers_and_followers") else {
        return;
    };
    let secs = knob("SOAK_SECS", 30);
    let writers = knob("SOAK_WRITERS", 64);
    let followers = knob("SOAK_FOLLOWERS", 4);
    let pool = u32::try_from(knob("SOAK_POOL", 16)).expect("small");
    let streams = knob("SOAK_STREAMS", 16);
    let schema = unique_schema("soak");
    let options = PostgresOptions::builder(url)
        .pool_min_size(1)
        .pool_max_size(pool)
        .acquire_timeout(Duration::from_secs(30))
        .schema(schema.clone())
        .build()
        .expect("valid options");
    let store = Arc::new(
        PostgreSQLEventStore::connect_with(options)
            .await
            .expect("connects"),
    );
    store.initialize().await.expect("migrates");
    println!(
        "soak: {secs} s, {writers} writers, {followers} followers, pool {pool}, {streams} streams, schema {schema}"
    );

    let head = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(
        usize::try_from(writers + followers + 1).expect("small"),
    ));

    let mut writer_tasks = Vec::new();
    for writer in 0..writers {
        let (store, head, stop, start) = (
            Arc::clone(&store),
            Arc::clone(&head),
            Arc::clone(&stop),
            Arc::clone(&start),
        );
        writer_tasks.push(tokio::spawn(async move {
            let mut report = WriterReport::default();
            let mut known: BTreeMap<u64, u64> = BTreeMap::new();
            let mut seq = 0u32;
            start.wait().await;
            let mut n = writer;
            while !stop.load(Ordering::Relaxed) {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Nine appends in ten go to the writer's own stream (its
                // version known: no conflict); one in ten to a shared one,
                // where the writer's idea of the version may be stale.
                let stream_no = if (n >> 40) % 10 == 0 {
                    writers + (n >> 33) % streams
                } else {
                    writer
                };
                let stream = format!("soak-{stream_no}");
                let expected = *known.get(&stream_no).unwrap_or(&0);
                let batch = 1 + (n >> 60) % 3;
                let events: Vec<AnyEnvelope> = (0..batch)
                    .map(|_| {
                        seq += 1;
                        ConformanceEvent::envelope(u32::try_from(writer).unwrap_or(u32::MAX), seq)
                    })
                    .collect();
                let began = Instant::now();
                let result = store.save(&stream, &events, Some(expected)).await;
                let took = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
                report.latencies_us.push(took);
                match result {
                    Ok(outcome) => {
                        report.appends += 1;
                        report.events += batch;
                        known.insert(stream_no, outcome.new_version);
                        if let Some(&last) = outcome.positions.last() {
                            head.fetch_max(last, Ordering::Relaxed);
                        }
                    }
                    Err(StoreError::Concurrency(conflict)) => {
                        report.conflicts += 1;
                        known.insert(stream_no, conflict.actual);
                    }
                    Err(error) => {
                        report.uncertain_events += batch;
                        *report.errors.entry(kind(&error)).or_default() += 1;
                        known.remove(&stream_no);
                    }
                }
            }
            report
        }));
    }

    let mut follower_tasks = Vec::new();
    for _ in 0..followers {
        let (store, head, stop, start) = (
            Arc::clone(&store),
            Arc::clone(&head),
            Arc::clone(&stop),
            Arc::clone(&start),
        );
        follower_tasks.push(tokio::spawn(async move {
            let mut report = FollowerReport {
                seen: 0,
                delays_us: Vec::new(),
                max_lag: 0,
                lag_sum: 0,
                lag_samples: 0,
                errors: BTreeMap::new(),
            };
            let mut next = 1u64;
            let mut last_position = 0u64;
            start.wait().await;
            loop {
                let stopping = stop.load(Ordering::Relaxed);
                match store.read_all(next, 500).await {
                    Ok(page) => {
                        let now = time::OffsetDateTime::now_utc();
                        let target = head.load(Ordering::Relaxed);
                        for event in &page {
                            let delay = (now - event.recorded_at).whole_microseconds();
                            report.delays_us.push(u64::try_from(delay).unwrap_or(0));
                            assert!(
                                event.position > last_position,
                                "no position twice, in order"
                            );
                            last_position = event.position;
                        }
                        report.seen += page.len() as u64;
                        if let Some(last) = page.last() {
                            next = last.position + 1;
                        }
                        let lag = target.saturating_sub(last_position);
                        report.max_lag = report.max_lag.max(lag);
                        report.lag_sum += lag;
                        report.lag_samples += 1;
                        if page.is_empty() {
                            if stopping && last_position >= head.load(Ordering::Relaxed) {
                                return report;
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    Err(error) => {
                        *report.errors.entry(kind(&error)).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }

    start.wait().await;
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = WriterReport::default();
    for task in writer_tasks {
        let report = task.await.expect("writer");
        total.latencies_us.extend(report.latencies_us);
        total.appends += report.appends;
        total.events += report.events;
        total.conflicts += report.conflicts;
        total.uncertain_events += report.uncertain_events;
        for (kind, n) in report.errors {
            *total.errors.entry(kind).or_default() += n;
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    let mut follower_reports = Vec::new();
    for task in follower_tasks {
        follower_reports.push(task.await.expect("follower"));
    }

    total.latencies_us.sort_unstable();
    let calls = total.latencies_us.len();
    println!(
        "appends: {} ok ({:.0}/s, {} events, {:.0} events/s) of {calls} calls; conflicts {}; errors {:?}",
        total.appends,
        total.appends as f64 / elapsed,
        total.events,
        total.events as f64 / elapsed,
        total.conflicts,
        total.errors
    );
    println!(
        "append latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&total.latencies_us, 0.50) as f64 / 1000.0,
        percentile(&total.latencies_us, 0.99) as f64 / 1000.0,
        total.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    for (index, follower) in follower_reports.iter_mut().enumerate() {
        follower.delays_us.sort_unstable();
        println!(
            "follower {index}: saw {} events; behind the newest acknowledged append by {:.1} events on average, {} at most; \
             append start to read: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; errors {:?}",
            follower.seen,
            follower.lag_sum as f64 / follower.lag_samples.max(1) as f64,
            follower.max_lag,
            percentile(&follower.delays_us, 0.50) as f64 / 1000.0,
            percentile(&follower.delays_us, 0.99) as f64 / 1000.0,
            follower.delays_us.last().copied().unwrap_or(0) as f64 / 1000.0,
            follower.errors
        );
    }

    // Count the rows: nothing lost, nothing twice, no gaps in any stream.
    let (rows, distinct_versions, distinct_ids): (i64, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), count(DISTINCT (stream_id, version)), count(DISTINCT \"{schema}\".context_event_id(context)) FROM \"{schema}\".events"
        )))
        .fetch_one(store.pool())
        .await
        .expect("count");
    let gaps: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM (SELECT stream_id FROM \"{schema}\".events GROUP BY stream_id \
         HAVING max(version) <> count(*)) g"
    )))
    .fetch_one(store.pool())
    .await
    .expect("gaps");
    println!(
        "rows {rows}, distinct (stream, version) {distinct_versions}, distinct event ids {distinct_ids}, streams with gaps {gaps}; acknowledged events {}, uncertain {}",
        total.events, total.uncertain_events
    );
    let rows = u64::try_from(rows).expect("count");
    assert!(
        rows >= total.events && rows <= total.events + total.uncertain_events,
        "every acknowledged event is stored, and only appended ones"
    );
    assert_eq!(i64::try_from(rows).expect("count"), distinct_versions);
    assert_eq!(distinct_versions, distinct_ids, "no event stored twice");
    assert_eq!(gaps, 0, "no stream has a gap");
    for follower in &follower_reports {
        assert_eq!(follower.seen, rows, "every follower saw every event once");
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(store.pool())
    .await
    .expect("drop");
}
