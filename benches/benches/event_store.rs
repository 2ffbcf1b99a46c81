//! In-memory event stores: append 10,000 events one save at a time (and,
//! for scale, in one batch), and
//! load + replay a 10,000-event stream through the repository, with both
//! stores, beside raw baselines in the same run: a plain `Vec` push and a
//! plain fold (the floor), and the fair baseline, a hand-written store
//! (`Mutex<HashMap<String, Vec<Event>>>` plus a global `Vec`, the expected
//! version checked). The load baseline is the one issue 12 names, a fold
//! over that store's `Vec` (under its lock, in place); a second row times
//! the same store handing out a clone of the stream's events, then the
//! fold, as a load that returns the events does.
//!
//! `cargo bench -p orchestrix-benches --bench event_store`
//!
//! Criterion measures every routine; a closing note then times each one
//! again (median of several runs) and prints ns per event and the ratio to
//! the raw baseline.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use orchestrix::message::AnyEnvelope;
use orchestrix::prelude::*;
use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};
use orchestrix_benches::hand_written::HandWritten;
use tokio::runtime::Runtime;

const EVENTS: usize = 10_000;
const STREAM: &str = "bench-account";

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "bench.Deposited")]
struct Deposited {
    amount: u64,
}

#[derive(Default, Debug, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

#[aggregate]
impl Account {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn envelopes() -> Vec<AnyEnvelope> {
    (0..EVENTS as u64)
        .map(|amount| Envelope::new(Deposited { amount }).into())
        .collect()
}

fn raw_events() -> Vec<Deposited> {
    (0..EVENTS as u64)
        .map(|amount| Deposited { amount })
        .collect()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
}

// ---- the routines, each handling EVENTS events ----

fn raw_push(events: &[Deposited]) -> Vec<Deposited> {
    let mut log = Vec::new();
    for event in events {
        log.push(event.clone());
    }
    log
}

/// The fair baseline (see [`HandWritten`]).
type HandWrittenStore = HandWritten<Deposited>;

fn hand_written_append(store: &HandWrittenStore, events: &[Deposited]) {
    for (version, event) in events.iter().enumerate() {
        store
            .save(STREAM, std::slice::from_ref(event), version as u64)
            .expect("append");
    }
}

/// The load baseline: a fold over the hand-written store's `Vec`.
fn hand_written_fold(store: &HandWrittenStore) -> u64 {
    store.fold(STREAM, raw_fold)
}

/// The hand-written store's load (a clone of the stream's events), folded.
fn hand_written_replay(store: &HandWrittenStore) -> u64 {
    raw_fold(&store.load(STREAM))
}

fn filled_hand_written() -> HandWrittenStore {
    let store = HandWrittenStore::default();
    store.save(STREAM, &raw_events(), 0).expect("fill");
    store
}

fn append_sync(store: &InMemoryEventStore, events: &[AnyEnvelope]) {
    for (version, event) in events.iter().enumerate() {
        store
            .save(STREAM, std::slice::from_ref(event), Some(version as u64))
            .expect("append");
    }
}

fn append_batch_sync(store: &InMemoryEventStore, events: &[AnyEnvelope]) {
    store.save(STREAM, events, Some(0)).expect("append");
}

async fn append_async(store: &InMemoryAsyncEventStore, events: &[AnyEnvelope]) {
    for (version, event) in events.iter().enumerate() {
        store
            .save(STREAM, std::slice::from_ref(event), Some(version as u64))
            .await
            .expect("append");
    }
}

fn raw_fold(events: &[Deposited]) -> u64 {
    let mut account = Account::default();
    for event in events {
        account.deposited(event);
    }
    account.balance
}

/// `InMemoryEventStore::load` alone: the events handed out, then dropped.
fn load_sync(repo: &AggregateRepository<InMemoryEventStore>) -> usize {
    repo.store().load(STREAM, 0).expect("load").len()
}

fn replay_sync(repo: &AggregateRepository<InMemoryEventStore>) -> u64 {
    repo.load::<Account>(STREAM).expect("load").balance
}

async fn replay_async(repo: &AggregateRepository<InMemoryAsyncEventStore>) -> u64 {
    repo.load_async::<Account>(STREAM)
        .await
        .expect("load")
        .balance
}

fn filled_sync() -> AggregateRepository<InMemoryEventStore> {
    let store = InMemoryEventStore::new();
    store.save(STREAM, &envelopes(), Some(0)).expect("fill");
    AggregateRepository::new(store)
}

fn filled_async(rt: &Runtime) -> AggregateRepository<InMemoryAsyncEventStore> {
    let store = InMemoryAsyncEventStore::new();
    rt.block_on(store.save(STREAM, &envelopes(), Some(0)))
        .expect("fill");
    AggregateRepository::new(store)
}

// ---- criterion ----

fn bench_append(c: &mut Criterion, rt: &Runtime) {
    let mut group = c.benchmark_group("append_10k");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let raw = raw_events();
    // Outputs (the pushed Vec, the filled stores) are dropped outside the
    // timing: only the appends are measured, on both sides.
    group.bench_function("raw_vec_push", |b| {
        b.iter_batched(|| (), |()| raw_push(&raw), BatchSize::LargeInput)
    });
    group.bench_function("hand_written_mutex_hashmap", |b| {
        b.iter_batched(
            HandWrittenStore::default,
            |store| {
                hand_written_append(&store, &raw);
                store
            },
            BatchSize::LargeInput,
        )
    });
    let events = envelopes();
    group.bench_function("in_memory_sync", |b| {
        b.iter_batched(
            InMemoryEventStore::new,
            |store| {
                append_sync(&store, &events);
                store
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("in_memory_sync_one_batch", |b| {
        b.iter_batched(
            InMemoryEventStore::new,
            |store| {
                append_batch_sync(&store, &events);
                store
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("in_memory_async", |b| {
        b.iter_batched(
            InMemoryAsyncEventStore::new,
            |store| {
                rt.block_on(append_async(&store, &events));
                store
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn bench_replay(c: &mut Criterion, rt: &Runtime) {
    let mut group = c.benchmark_group("load_replay_10k");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let raw = raw_events();
    group.bench_function("raw_vec_fold", |b| b.iter(|| black_box(raw_fold(&raw))));
    let hand_written = filled_hand_written();
    group.bench_function("hand_written_fold_in_place", |b| {
        b.iter(|| black_box(hand_written_fold(&hand_written)))
    });
    group.bench_function("hand_written_clone_and_fold", |b| {
        b.iter(|| black_box(hand_written_replay(&hand_written)))
    });
    let sync_repo = filled_sync();
    group.bench_function("in_memory_sync_load_only", |b| {
        b.iter(|| black_box(load_sync(&sync_repo)))
    });
    group.bench_function("in_memory_sync", |b| {
        b.iter(|| black_box(replay_sync(&sync_repo)))
    });
    let async_repo = filled_async(rt);
    group.bench_function("in_memory_async", |b| {
        b.iter(|| black_box(rt.block_on(replay_async(&async_repo))))
    });
    group.finish();
}

// ---- the closing note ----

/// Median wall time of `runs` calls of `routine`, each given a fresh input.
/// Neither making the input nor dropping it (or the routine's output) is
/// timed: a store's figure is its appends, not its teardown.
fn median<I, O>(
    runs: usize,
    mut setup: impl FnMut() -> I,
    mut routine: impl FnMut(&I) -> O,
) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let input = setup();
            let start = Instant::now();
            let output = routine(&input);
            let elapsed = start.elapsed();
            drop(black_box((output, input)));
            elapsed
        })
        .collect();
    times.sort_unstable();
    times[runs / 2]
}

fn per_event(time: Duration) -> f64 {
    time.as_nanos() as f64 / EVENTS as f64
}

/// One figure, with its ratio to the floor (`raw`) and to the fair
/// hand-written baseline (`fair`).
fn print_row(label: &str, time: Duration, raw: Duration, fair: Duration) {
    println!(
        "  {label:<36} {:>9.1} ns/event   {:>7.1}x the floor   {:>6.2}x the hand-written store",
        per_event(time),
        time.as_secs_f64() / raw.as_secs_f64(),
        time.as_secs_f64() / fair.as_secs_f64()
    );
}

fn closing_note(rt: &Runtime) {
    const RUNS: usize = 31;
    let raw = raw_events();
    let events = envelopes();

    let raw_push_time = median(RUNS, || (), |()| raw_push(&raw));
    let fair_append = median(RUNS, HandWrittenStore::default, |store| {
        hand_written_append(store, &raw)
    });
    let sync_append = median(RUNS, InMemoryEventStore::new, |store| {
        append_sync(store, &events)
    });
    let batch_append = median(RUNS, InMemoryEventStore::new, |store| {
        append_batch_sync(store, &events)
    });
    let async_append = median(RUNS, InMemoryAsyncEventStore::new, |store| {
        rt.block_on(append_async(store, &events))
    });

    let raw_fold_time = median(RUNS, || (), |()| black_box(raw_fold(&raw)));
    let hand_written = filled_hand_written();
    let fair_fold = median(
        RUNS,
        || (),
        |()| black_box(hand_written_fold(&hand_written)),
    );
    let fair_replay = median(
        RUNS,
        || (),
        |()| black_box(hand_written_replay(&hand_written)),
    );
    let sync_repo = filled_sync();
    let sync_load = median(RUNS, || (), |()| black_box(load_sync(&sync_repo)));
    let sync_replay = median(RUNS, || (), |()| black_box(replay_sync(&sync_repo)));
    let async_repo = filled_async(rt);
    let async_replay = median(
        RUNS,
        || (),
        |()| black_box(rt.block_on(replay_async(&async_repo))),
    );

    println!();
    println!("event_store closing note ({EVENTS} events, median of {RUNS} runs):");
    println!("append, one save per event:");
    let append_row = |label: &str, time| print_row(label, time, raw_push_time, fair_append);
    append_row("floor: Vec::push", raw_push_time);
    append_row("fair: Mutex<HashMap> + global Vec", fair_append);
    append_row("InMemoryEventStore::save", sync_append);
    append_row("InMemoryAsyncEventStore::save", async_append);
    append_row("InMemoryEventStore::save, 1 batch", batch_append);
    println!("load + replay through AggregateRepository (fair: the issue's baseline, a fold");
    println!("over the hand-written store's Vec under its lock):");
    let replay_row = |label: &str, time| print_row(label, time, raw_fold_time, fair_fold);
    replay_row("floor: fold over a Vec", raw_fold_time);
    replay_row("fair: fold over the store's Vec", fair_fold);
    replay_row("hand-written: clone stream's Vec, fold", fair_replay);
    replay_row("InMemoryEventStore::load alone", sync_load);
    replay_row("repo.load (InMemoryEventStore)", sync_replay);
    replay_row("repo.load_async (InMemoryAsync…)", async_replay);
}

fn main() {
    let rt = runtime();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    bench_append(&mut criterion, &rt);
    bench_replay(&mut criterion, &rt);
    criterion.final_summary();
    closing_note(&rt);
}
