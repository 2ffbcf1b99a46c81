//! The seed's performance table, reproduced in one run, plus the pure
//! dispatch cost of the buses.
//!
//! * I/O table: 100 messages x 5 handlers, each handler waiting 200 µs of
//!   simulated I/O — sequential (the sync bus, and the same 5 sync handler
//!   fns called in turn; direct awaits of the async handlers one after
//!   another are printed as an extra row), concurrent per message (the async bus, and `join_all` of the
//!   5 direct calls), and all 100 messages at once.
//! * Dispatch: publishing to 5 no-op handlers, beside calling the same 5 fns
//!   directly (the raw baseline), and beside a hand-written `join_all` of the
//!   5 calls' futures, each boxed (what type-erased handlers cost at least).
//!
//! The simulated I/O is a precise wait, not `tokio::time::sleep` (1 ms
//! resolution on these machines): async handlers loop on
//! `tokio::task::yield_now()` until an `Instant` deadline (so the task lets
//! the others run, as real I/O would), sync handlers spin until the deadline.
//! Everything runs on a current-thread tokio runtime. The printed means
//! leave out criterion's warm-up: they are the mean time per iteration over
//! the measurement samples only, as criterion's own "mean" estimate.
//!
//! `cargo bench -p orchestrix-benches --bench dispatch`

use std::collections::BTreeMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::future::join_all;
use orchestrix::prelude::*;

const MESSAGES: usize = 100;
const IO: Duration = Duration::from_micros(200);

#[derive(Event, Debug, Serialize, Deserialize)]
struct IoEvent {
    index: usize,
}

#[derive(Event, Debug, Serialize, Deserialize)]
struct NoopEvent {
    index: usize,
}

async fn simulated_io() {
    let deadline = Instant::now() + IO;
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

fn blocking_io() {
    let deadline = Instant::now() + IO;
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

// ---- 5 async I/O handlers, 5 sync I/O handlers ----

macro_rules! io_handlers {
    ($($async_name:ident, $sync_name:ident;)*) => {$(
        #[event_handler]
        async fn $async_name(event: &IoEvent) {
            black_box(event.index);
            simulated_io().await;
        }

        #[event_handler]
        fn $sync_name(event: &IoEvent) {
            black_box(event.index);
            blocking_io();
        }
    )*};
}

io_handlers! {
    io_a, io_a_sync;
    io_b, io_b_sync;
    io_c, io_c_sync;
    io_d, io_d_sync;
    io_e, io_e_sync;
}

// ---- 5 no-op handlers of each kind ----

macro_rules! noop_handlers {
    ($($async_name:ident, $sync_name:ident;)*) => {$(
        #[event_handler]
        #[inline(never)]
        async fn $async_name(event: &NoopEvent) {
            black_box(event);
        }

        #[event_handler]
        #[inline(never)]
        fn $sync_name(event: &NoopEvent) {
            black_box(event);
        }
    )*};
}

noop_handlers! {
    noop_a, noop_a_sync;
    noop_b, noop_b_sync;
    noop_c, noop_c_sync;
    noop_d, noop_d_sync;
    noop_e, noop_e_sync;
}

/// Samples kept per benchmark in the I/O table (slow routines).
const IO_SAMPLES: usize = 10;
/// Samples kept per benchmark in the dispatch group.
const DISPATCH_SAMPLES: usize = 50;

/// Every timed call of each routine, `(elapsed, iterations)`, in order:
/// criterion's warm-up calls first, then exactly one call per sample.
static RUNS: Mutex<BTreeMap<&'static str, Vec<(Duration, u64)>>> = Mutex::new(BTreeMap::new());

fn record(name: &'static str, elapsed: Duration, iterations: u64) -> Duration {
    let mut runs = RUNS.lock().expect("runs");
    runs.entry(name).or_default().push((elapsed, iterations));
    elapsed
}

/// Criterion's "mean" of the measurement samples only: the mean of each
/// sample's time per iteration over the last `samples` calls (the
/// measurement phase makes exactly one call per sample, after the warm-up).
fn mean(name: &str, samples: usize) -> Option<Duration> {
    let runs = RUNS.lock().expect("runs");
    let calls = runs.get(name)?;
    let measured = &calls[calls.len().saturating_sub(samples)..];
    let per_iteration: Vec<f64> = measured
        .iter()
        .filter(|(_, iterations)| *iterations > 0)
        .map(|(elapsed, iterations)| elapsed.as_secs_f64() / *iterations as f64)
        .collect();
    if per_iteration.is_empty() {
        return None;
    }
    Some(Duration::from_secs_f64(
        per_iteration.iter().sum::<f64>() / per_iteration.len() as f64,
    ))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn buses() -> (InMemoryAsyncMessageBus, InMemoryMessageBus) {
    // The async handlers only: `register_handlers()` would add the plain
    // fns too (run inline), and their blocking I/O is not what is measured.
    let async_bus = orchestrix::registry::async_handlers()
        .into_iter()
        .fold(
            InMemoryAsyncMessageBus::builder(),
            |builder, registration| builder.registration(*registration),
        )
        .build()
        .expect("async bus");
    let sync_bus = InMemoryMessageBus::builder()
        .register_plain_fn_handlers()
        .build()
        .expect("sync bus");
    assert_eq!(async_bus.handler_count::<IoEvent>(), 5);
    assert_eq!(async_bus.handler_count::<NoopEvent>(), 5);
    assert_eq!(sync_bus.handler_count::<IoEvent>(), 5);
    (async_bus, sync_bus)
}

fn io_envelopes() -> Vec<AnyEnvelope> {
    (0..MESSAGES)
        .map(|index| Envelope::new(IoEvent { index }).into_any())
        .collect()
}

async fn direct_io_calls_concurrently(event: &IoEvent) {
    futures::join!(
        io_a(event),
        io_b(event),
        io_c(event),
        io_d(event),
        io_e(event)
    );
}

fn io_table(c: &mut Criterion) {
    let runtime = runtime();
    let (async_bus, sync_bus) = buses();
    let envelopes = io_envelopes();
    let events: Vec<IoEvent> = (0..MESSAGES).map(|index| IoEvent { index }).collect();

    let mut group = c.benchmark_group("io_100_messages_x_5_handlers_200us");
    group
        .sample_size(IO_SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    group.bench_function("raw_sequential_awaits", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let events = &events;
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    for event in events {
                        io_a(event).await;
                        io_b(event).await;
                        io_c(event).await;
                        io_d(event).await;
                        io_e(event).await;
                    }
                }
                record("raw_sequential_awaits", started.elapsed(), iterations)
            }
        });
    });
    group.bench_function("raw_sequential_sync_calls", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                for event in &events {
                    io_a_sync(event);
                    io_b_sync(event);
                    io_c_sync(event);
                    io_d_sync(event);
                    io_e_sync(event);
                }
            }
            record("raw_sequential_sync_calls", started.elapsed(), iterations)
        });
    });
    group.bench_function("sync_bus_sequential", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                for envelope in &envelopes {
                    sync_bus
                        .publish_envelope(envelope.clone())
                        .expect("no failure");
                }
            }
            record("sync_bus_sequential", started.elapsed(), iterations)
        });
    });
    group.bench_function("raw_concurrent_per_message", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let events = &events;
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    for event in events {
                        direct_io_calls_concurrently(event).await;
                    }
                }
                record("raw_concurrent_per_message", started.elapsed(), iterations)
            }
        });
    });
    group.bench_function("async_bus_concurrent_per_message", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let (bus, envelopes) = (&async_bus, &envelopes);
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    for envelope in envelopes {
                        bus.publish_envelope(envelope.clone())
                            .await
                            .expect("no failure");
                    }
                }
                record(
                    "async_bus_concurrent_per_message",
                    started.elapsed(),
                    iterations,
                )
            }
        });
    });
    group.bench_function("raw_all_messages_at_once", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let events = &events;
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    join_all(events.iter().map(direct_io_calls_concurrently)).await;
                }
                record("raw_all_messages_at_once", started.elapsed(), iterations)
            }
        });
    });
    group.bench_function("async_bus_all_messages_at_once", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let (bus, envelopes) = (&async_bus, &envelopes);
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    let outcomes = join_all(
                        envelopes
                            .iter()
                            .map(|envelope| bus.publish_envelope(envelope.clone())),
                    )
                    .await;
                    assert!(outcomes.iter().all(Result::is_ok));
                }
                record(
                    "async_bus_all_messages_at_once",
                    started.elapsed(),
                    iterations,
                )
            }
        });
    });
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let runtime = runtime();
    let (async_bus, sync_bus) = buses();
    let event = NoopEvent { index: 7 };
    let envelope = Envelope::new(NoopEvent { index: 7 }).into_any();

    let mut group = c.benchmark_group("dispatch_to_5_noop_handlers");
    group
        .sample_size(DISPATCH_SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    group.bench_function("raw_direct_async_calls", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let event = &event;
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    let event = black_box(event);
                    noop_a(event).await;
                    noop_b(event).await;
                    noop_c(event).await;
                    noop_d(event).await;
                    noop_e(event).await;
                }
                record("raw_direct_async_calls", started.elapsed(), iterations)
            }
        });
    });
    group.bench_function("raw_boxed_join_all", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let event = &event;
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    let event = black_box(event);
                    let calls: Vec<Pin<Box<dyn Future<Output = ()> + Send + '_>>> = vec![
                        Box::pin(noop_a(event)),
                        Box::pin(noop_b(event)),
                        Box::pin(noop_c(event)),
                        Box::pin(noop_d(event)),
                        Box::pin(noop_e(event)),
                    ];
                    join_all(calls).await;
                }
                record("raw_boxed_join_all", started.elapsed(), iterations)
            }
        });
    });
    group.bench_function("async_bus_publish_envelope", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let (bus, envelope) = (&async_bus, &envelope);
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    bus.publish_envelope(black_box(envelope.clone()))
                        .await
                        .expect("no failure");
                }
                record("async_bus_publish_envelope", started.elapsed(), iterations)
            }
        });
    });
    group.bench_function("async_bus_publish_with_new_metadata", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let bus = &async_bus;
            async move {
                let started = Instant::now();
                for index in 0..iterations {
                    bus.publish(NoopEvent {
                        index: index as usize,
                    })
                    .await
                    .expect("no failure");
                }
                record(
                    "async_bus_publish_with_new_metadata",
                    started.elapsed(),
                    iterations,
                )
            }
        });
    });
    group.bench_function("raw_direct_sync_calls", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                let event = black_box(&event);
                noop_a_sync(event);
                noop_b_sync(event);
                noop_c_sync(event);
                noop_d_sync(event);
                noop_e_sync(event);
            }
            record("raw_direct_sync_calls", started.elapsed(), iterations)
        });
    });
    group.bench_function("sync_bus_publish_envelope", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                sync_bus
                    .publish_envelope(black_box(envelope.clone()))
                    .expect("no failure");
            }
            record("sync_bus_publish_envelope", started.elapsed(), iterations)
        });
    });
    group.finish();
}

fn summary() {
    type Rows<'a> = &'a [(&'a str, &'a str)];
    let show = |name: &str, samples| {
        mean(name, samples).map_or_else(|| "-".to_owned(), |d| format!("{d:.2?}"))
    };
    let ratio = |a: &str, b: &str, samples| match (mean(a, samples), mean(b, samples)) {
        (Some(a), Some(b)) if !b.is_zero() => format!("{:.2}", a.as_secs_f64() / b.as_secs_f64()),
        _ => "-".to_owned(),
    };
    let table = |rows: Rows<'_>, samples| {
        println!(
            "{:<40} {:>12}   {:<30} {:>12}   {:>7}",
            "framework", "time", "raw baseline", "time", "ratio"
        );
        for (framework, raw) in rows {
            println!(
                "{framework:<40} {:>12}   {raw:<30} {:>12}   {:>7}",
                show(framework, samples),
                show(raw, samples),
                ratio(framework, raw, samples)
            );
        }
    };
    println!();
    println!(
        "== 100 messages x 5 handlers x 200 µs simulated I/O \
         (mean per run of 100 messages, measurement samples only)"
    );
    table(
        &[
            ("sync_bus_sequential", "raw_sequential_sync_calls"),
            (
                "async_bus_concurrent_per_message",
                "raw_concurrent_per_message",
            ),
            ("async_bus_all_messages_at_once", "raw_all_messages_at_once"),
        ],
        IO_SAMPLES,
    );
    println!(
        "extra: async handlers awaited one after another (no bus): {}",
        show("raw_sequential_awaits", IO_SAMPLES)
    );
    println!(
        "speed-up over the sync bus: concurrent per message x{}, all at once x{}",
        ratio(
            "sync_bus_sequential",
            "async_bus_concurrent_per_message",
            IO_SAMPLES
        ),
        ratio(
            "sync_bus_sequential",
            "async_bus_all_messages_at_once",
            IO_SAMPLES
        ),
    );
    println!();
    println!(
        "== pure dispatch: one message to 5 no-op handlers \
         (mean per publish, measurement samples only)"
    );
    table(
        &[
            ("async_bus_publish_envelope", "raw_direct_async_calls"),
            ("async_bus_publish_envelope", "raw_boxed_join_all"),
            (
                "async_bus_publish_with_new_metadata",
                "raw_direct_async_calls",
            ),
            ("sync_bus_publish_envelope", "raw_direct_sync_calls"),
        ],
        DISPATCH_SAMPLES,
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    io_table(&mut criterion);
    dispatch(&mut criterion);
    criterion.final_summary();
    summary();
}
