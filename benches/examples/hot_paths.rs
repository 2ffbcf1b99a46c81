//! The hot paths of the `dispatch`, `saga` and `event_store` benches, one at
//! a time, in a loop: for an instruction-counting profiler, whose figures do
//! not depend on the machine's load.
//!
//! ```text
//! cargo build --release -p orchestrix-benches --example hot_paths
//! valgrind --tool=callgrind target/release/examples/hot_paths async-publish 10000
//! ```
//!
//! Workloads: `async-publish`, `sync-publish` (one ready envelope to 5
//! no-op handlers; `async-publish-new` publishes a bare message, so each
//! publish also makes fresh metadata; `async-publish-lock` publishes to 5
//! handlers that each await an uncontended tokio `Mutex` lock), their baselines `async-direct`,
//! `sync-direct` (the 5 fns called in turn) and `async-join-all` (a
//! `join_all` of the 5 calls' futures, each boxed), `saga` (5 no-op async
//! steps, in-memory store; `saga-setup` makes and drops the same sagas
//! without running them), its floor `saga-hand-written` (the hand-written
//! persisted saga of `orchestrix_benches::saga_hand_written`, a fresh store
//! per run; `saga-hand-written-setup` makes and drops the stores),
//! `store-save` (one-event saves to the in-memory store), `store-load`
//! (`repo.load` + replay of a 1,000-event in-memory stream, filled in one
//! batch in the set-up; divide by 1,000 for a figure per event; the
//! repository replays through `EventStore::replay`), `store-load-events`
//! (`store.load` of the same stream, the `RecordedEvent`s folded),
//! `store-save-setup` (the envelopes `store-save` saves, built and
//! dropped, no store: subtract it from `store-save`), their fair baselines
//! on the hand-written store of the `event_store` bench
//! (`orchestrix_benches::hand_written`): `store-save-fair` (one-event
//! saves of the bare events; `store-save-fair-setup` builds and drops
//! them) and `store-load-fair` (a fold of the same 1,000-event stream where
//! that store keeps it, under its lock), and `none` (the
//! set-up alone, to subtract). Run each with two counts and divide the
//! difference of the instruction totals by the difference of the counts
//! to get the cost of one operation without the set-up.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;

use orchestrix::prelude::*;
use orchestrix::store::InMemoryEventStore;
use orchestrix_benches::hand_written::HandWritten;
use orchestrix_benches::saga_hand_written;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
struct NoopEvent {
    index: usize,
}

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

/// The event of `async-publish-lock`.
#[derive(Event, Debug, Serialize, Deserialize)]
struct CountedEvent {
    amount: u64,
}

/// The running total the `async-publish-lock` handlers add to.
type LockedTotal = tokio::sync::Mutex<u64>;

macro_rules! locking_handlers {
    ($($name:ident),*) => {$(
        /// A handler of a common shape: awaits a lock (never contended
        /// here), with the event and a `Dep`.
        #[event_handler]
        #[inline(never)]
        async fn $name(event: &CountedEvent, total: Dep<LockedTotal>) {
            *total.lock().await += event.amount;
        }
    )*};
}

locking_handlers!(lock_a, lock_b, lock_c, lock_d, lock_e);

/// The aggregate `store-load` replays.
#[derive(Default, Debug, Serialize, Deserialize)]
struct Tally {
    sum: usize,
}

#[aggregate]
impl Tally {
    #[apply]
    fn noop_event(&mut self, event: &NoopEvent) {
        self.sum += event.index;
    }
}

/// Events in the stream `store-load` replays.
const LOADED_EVENTS: usize = 1_000;

async fn noop_step(_: &()) -> Result<(), StepFailure> {
    Ok(())
}

/// The hand-written floor's no-op step.
async fn noop_floor_step(_: usize) -> Result<(), saga_hand_written::StepFailed> {
    Ok(())
}

/// `count` stores of the hand-written floor, one per run.
fn fresh_floor_stores(count: u64) -> Vec<saga_hand_written::Store> {
    (0..count)
        .map(|_| saga_hand_written::Store::default())
        .collect()
}

/// `count` sagas of 5 no-op async steps, each on an in-memory store of its
/// own.
fn fresh_sagas(count: u64) -> Vec<Saga<()>> {
    (0..count)
        .map(|_| {
            let steps = (1..=5)
                .map(|n| {
                    SagaStep::builder(format!("step-{n}"), noop_step)
                        .build()
                        .expect("valid step")
                })
                .collect();
            Saga::new("bench", steps, Arc::new(InMemorySagaStateStore::new()))
                .expect("a valid saga")
        })
        .collect()
}

/// `count` events to save, one `NoopEvent` each, numbered from 0.
fn noop_events(count: usize) -> Vec<AnyEnvelope> {
    (0..count)
        .map(|index| Envelope::new(NoopEvent { index }).into_any())
        .collect()
}

/// `count` bare events, numbered from 0: what the fair baseline saves.
fn bare_noop_events(count: usize) -> Vec<NoopEvent> {
    (0..count).map(|index| NoopEvent { index }).collect()
}

/// The 5 no-op async handlers' futures, each boxed: the `join_all`
/// baseline (what type-erased handlers cost at least).
fn boxed_noop_calls(event: &NoopEvent) -> Vec<Pin<Box<dyn Future<Output = ()> + Send + '_>>> {
    vec![
        Box::pin(noop_a(event)),
        Box::pin(noop_b(event)),
        Box::pin(noop_c(event)),
        Box::pin(noop_d(event)),
        Box::pin(noop_e(event)),
    ]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "none".to_owned());
    let count: u64 = args
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let async_bus = orchestrix::registry::async_handlers()
        .into_iter()
        .fold(
            InMemoryAsyncMessageBus::builder().dependency(LockedTotal::new(0)),
            |builder, registration| builder.registration(*registration),
        )
        .build()
        .expect("async bus");
    let sync_bus = InMemoryMessageBus::builder()
        .register_plain_fn_handlers()
        .build()
        .expect("sync bus");
    let envelope = Envelope::new(NoopEvent { index: 7 }).into_any();
    match workload.as_str() {
        "async-publish" => runtime.block_on(async {
            for _ in 0..count {
                async_bus
                    .publish_envelope(black_box(envelope.clone()))
                    .await
                    .expect("no failure");
            }
        }),
        "async-publish-lock" => runtime.block_on(async {
            let envelope = Envelope::new(CountedEvent { amount: 1 }).into_any();
            for _ in 0..count {
                async_bus
                    .publish_envelope(black_box(envelope.clone()))
                    .await
                    .expect("no failure");
            }
        }),
        "async-publish-new" => runtime.block_on(async {
            for index in 0..count {
                async_bus
                    .publish(NoopEvent {
                        index: index as usize,
                    })
                    .await
                    .expect("no failure");
            }
        }),
        "async-direct" => runtime.block_on(async {
            let event = NoopEvent { index: 7 };
            for _ in 0..count {
                let event = black_box(&event);
                noop_a(event).await;
                noop_b(event).await;
                noop_c(event).await;
                noop_d(event).await;
                noop_e(event).await;
            }
        }),
        "async-join-all" => runtime.block_on(async {
            let event = NoopEvent { index: 7 };
            for _ in 0..count {
                let event = black_box(&event);
                futures::future::join_all(boxed_noop_calls(event)).await;
            }
        }),
        "sync-direct" => {
            let event = NoopEvent { index: 7 };
            for _ in 0..count {
                let event = black_box(&event);
                noop_a_sync(event);
                noop_b_sync(event);
                noop_c_sync(event);
                noop_d_sync(event);
                noop_e_sync(event);
            }
        }
        "sync-publish" => {
            for _ in 0..count {
                sync_bus
                    .publish_envelope(black_box(envelope.clone()))
                    .expect("no failure");
            }
        }
        "saga" => runtime.block_on(async {
            for saga in &fresh_sagas(count) {
                let state = saga.execute(()).await.expect("runs");
                assert_eq!(state.status, SagaStatus::Completed);
            }
        }),
        "saga-setup" => {
            black_box(fresh_sagas(count));
        }
        "saga-hand-written" => runtime.block_on(async {
            for store in &fresh_floor_stores(count) {
                let state = saga_hand_written::execute(store, noop_floor_step)
                    .await
                    .expect("runs");
                assert_eq!(state.status, saga_hand_written::Status::Completed);
            }
        }),
        "saga-hand-written-setup" => {
            black_box(fresh_floor_stores(count));
        }
        "store-save" => {
            let store = InMemoryEventStore::new();
            let events = noop_events(count as usize);
            for (version, event) in events.iter().enumerate() {
                store
                    .save(
                        "bench-account",
                        std::slice::from_ref(event),
                        Some(version as u64),
                    )
                    .expect("append");
            }
        }
        "store-load" => {
            let store = InMemoryEventStore::new();
            let events = noop_events(LOADED_EVENTS);
            store.save("bench-tally", &events, Some(0)).expect("fill");
            let repo = AggregateRepository::new(store);
            for _ in 0..count {
                let tally = repo.load::<Tally>("bench-tally").expect("load");
                black_box(tally.sum);
            }
        }
        "store-load-events" => {
            let store = InMemoryEventStore::new();
            store
                .save("bench-tally", &noop_events(LOADED_EVENTS), Some(0))
                .expect("fill");
            for _ in 0..count {
                let events = store.load("bench-tally", 1).expect("load");
                let tally = events.iter().fold(Tally::default(), |mut tally, event| {
                    if let Some(event) = event.downcast_ref::<NoopEvent>() {
                        tally.noop_event(event);
                    }
                    tally
                });
                black_box(tally.sum);
            }
        }
        "store-save-fair" => {
            let store = HandWritten::default();
            let events = bare_noop_events(count as usize);
            for (version, event) in events.iter().enumerate() {
                store
                    .save("bench-account", std::slice::from_ref(event), version as u64)
                    .expect("append");
            }
        }
        "store-save-fair-setup" => {
            black_box(bare_noop_events(count as usize));
        }
        "store-load-fair" => {
            let store = HandWritten::default();
            store
                .save("bench-tally", &bare_noop_events(LOADED_EVENTS), 0)
                .expect("fill");
            for _ in 0..count {
                let sum = store.fold("bench-tally", |events| {
                    events.iter().fold(Tally::default(), |mut tally, event| {
                        tally.noop_event(event);
                        tally
                    })
                });
                black_box(sum.sum);
            }
        }
        "store-save-setup" => {
            let events = noop_events(count as usize);
            black_box(&events);
        }
        "none" => {}
        other => panic!("unknown workload `{other}`"),
    }
}
