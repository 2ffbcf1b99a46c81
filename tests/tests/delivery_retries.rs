//! Retries, dead letters, replay, strict order and idempotency of event
//! handlers, inline (on the buses) and durable (from the store), on the
//! in-memory stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use orchestrix::delivery::{
    DeliveryError, DeliveryStore, DeliveryStoreError, Dispatcher, GROUP_PREFIX,
    InMemoryDeliveryStore, ParkedEvent,
};
use orchestrix::prelude::*;
use orchestrix::projection::{ProjectionState, ProjectionStateStore};
use orchestrix::retry::RetryPolicy;
use orchestrix_tests::delivery::Journal;

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "delivery_test.Job")]
struct Job {
    n: u64,
    /// The handlers under test fail on it until fixed.
    poisoned: bool,
}

/// Attempts per handler, and whether the poisoned jobs are fixed.
#[derive(Debug, Default)]
struct Faults {
    attempts: AtomicU32,
    fixed: AtomicBool,
}

impl Faults {
    fn attempt(&self, job: &Job) -> Result<(), String> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if job.poisoned && !self.fixed.load(Ordering::SeqCst) {
            Err(format!("job {} is poisoned (attempt {attempt})", job.n))
        } else {
            Ok(())
        }
    }
}

fn job(n: u64, poisoned: bool) -> AnyEnvelope {
    Envelope::new(Job { n, poisoned }).into()
}

async fn append(store: &InMemoryAsyncEventStore, jobs: &[AnyEnvelope]) -> u64 {
    let mut last = 0;
    for (i, job) in jobs.iter().enumerate() {
        last = store
            .save(
                &format!("job-{i}-{}", uuid::Uuid::new_v4()),
                std::slice::from_ref(job),
                None,
            )
            .await
            .expect("append")
            .positions
            .last()
            .copied()
            .expect("one position");
    }
    last
}

// ---- inline ----

#[event_handler(name = "inline_flaky", retry = fixed(delay_ms = 1, max_attempts = 3))]
async fn inline_flaky(job: &Job, faults: Dep<Faults>) -> Result<(), String> {
    let result = faults.attempt(job);
    // Fixed by its second failure: the third attempt succeeds.
    if faults.attempts.load(Ordering::SeqCst) >= 2 {
        faults.fixed.store(true, Ordering::SeqCst);
    }
    result
}

#[tokio::test]
async fn an_inline_handler_is_retried_until_it_succeeds() {
    let faults = Arc::new(Faults::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(faults.clone())
        .handler(inline_flaky)
        .build()
        .expect("bus");
    bus.publish(Job {
        n: 1,
        poisoned: true,
    })
    .await
    .expect("the third attempt succeeds");
    assert_eq!(faults.attempts.load(Ordering::SeqCst), 3);
}

#[event_handler(name = "inline_panics", retry = linear(base_ms = 1, max_attempts = 2))]
async fn inline_panics(_job: &Job, faults: Dep<Faults>) {
    faults.attempts.fetch_add(1, Ordering::SeqCst);
    panic!("inline handler panicked");
}

#[tokio::test]
async fn an_inline_handler_that_panics_uses_up_its_attempts_and_fails_the_publish() {
    let faults = Arc::new(Faults::default());
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(faults.clone())
        .handler(inline_panics)
        .build()
        .expect("bus");
    let error = bus
        .publish(Job {
            n: 1,
            poisoned: false,
        })
        .await
        .expect_err("every attempt panics");
    assert_eq!(faults.attempts.load(Ordering::SeqCst), 2);
    assert_eq!(error.failures[0].handler, "inline_panics");
    assert!(error.to_string().contains("panicked"), "{error}");
    // The last try's own error, not a wrapper of the bus's.
    let panicked = error.failures[0]
        .error
        .downcast_ref::<orchestrix::bus::HandlerPanicked>()
        .expect("a HandlerPanicked");
    assert_eq!(panicked.message, "inline handler panicked");
}

#[event_handler(name = "inline_blocking_flaky", retry = fixed(delay_ms = 1, max_attempts = 4))]
fn inline_blocking_flaky(job: &Job, faults: Dep<Faults>) -> Result<(), String> {
    faults.attempt(job)
}

#[test]
fn a_blocking_handler_is_retried_on_the_sync_bus() {
    let faults = Arc::new(Faults::default());
    let bus = InMemoryMessageBus::builder()
        .dependency_arc(faults.clone())
        .handler(inline_blocking_flaky)
        .build()
        .expect("bus");
    bus.publish(Job {
        n: 1,
        poisoned: true,
    })
    .expect_err("never fixed");
    assert_eq!(faults.attempts.load(Ordering::SeqCst), 4);
}

// ---- durable ----

#[event_handler(name = "durable_flaky", durable, retry = fixed(delay_ms = 1, max_attempts = 3))]
async fn durable_flaky(
    job: &Job,
    faults: Dep<Faults>,
    journal: Dep<Journal>,
) -> Result<(), String> {
    faults.attempt(job)?;
    journal.record("durable_flaky", job.n);
    Ok(())
}

fn dispatcher_with(
    store: &Arc<InMemoryAsyncEventStore>,
    delivery: Arc<InMemoryDeliveryStore>,
    faults: &Arc<Faults>,
    journal: &Arc<Journal>,
) -> orchestrix::delivery::DispatcherBuilder {
    Dispatcher::builder(store.clone(), delivery)
        .dependency_arc(faults.clone())
        .dependency_arc(journal.clone())
        .restart_backoff(RetryPolicy::fixed(Duration::from_millis(1), u32::MAX))
}

#[tokio::test]
async fn a_durable_handler_retries_then_parks_and_goes_on_and_a_replay_after_the_fix_succeeds() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let delivery = Arc::new(InMemoryDeliveryStore::new());
    let (faults, journal) = (Arc::new(Faults::default()), Arc::new(Journal::new()));
    let dispatcher = dispatcher_with(&store, delivery.clone(), &faults, &journal)
        .handler(durable_flaky)
        .build()
        .expect("dispatcher");
    let running = dispatcher.start();

    let last = append(&store, &[job(1, false), job(2, true), job(3, false)]).await;
    dispatcher.caught_up(last).await;
    // The poisoned job did not block the one after it.
    assert_eq!(journal.of("durable_flaky"), vec![1, 3]);
    // 1 + 3 (all failed) + 1.
    assert_eq!(faults.attempts.load(Ordering::SeqCst), 5);

    let parked = dispatcher
        .parked(Some("durable_flaky"))
        .await
        .expect("list");
    assert_eq!(parked.len(), 1, "{parked:?}");
    let letter = &parked[0];
    assert_eq!(letter.handler, "durable_flaky");
    assert_eq!(letter.group, "durable_flaky");
    assert_eq!(letter.position, last - 1);
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.event_type, "delivery_test.Job");
    assert!(
        letter.error.contains("job 2 is poisoned (attempt 4)"),
        "{}",
        letter.error
    );
    assert!(letter.first_failed_at <= letter.parked_at);

    // Replaying while still broken keeps it parked, with the attempts added.
    let error = dispatcher
        .replay("durable_flaky", letter.position)
        .await
        .expect_err("still poisoned");
    assert!(
        matches!(error, DeliveryError::HandlerFailed { attempts: 3, .. }),
        "{error}"
    );
    let again = dispatcher.parked(None).await.expect("list");
    assert_eq!(again[0].attempts, 6);

    faults.fixed.store(true, Ordering::SeqCst);
    dispatcher
        .replay("durable_flaky", letter.position)
        .await
        .expect("fixed now");
    assert_eq!(journal.of("durable_flaky"), vec![1, 3, 2]);
    assert!(dispatcher.parked(None).await.expect("list").is_empty());
    assert!(matches!(
        dispatcher.replay("durable_flaky", letter.position).await,
        Err(DeliveryError::NotParked { .. })
    ));
    running.stop().await.expect("stops");
}

#[event_handler(name = "durable_panics", durable, retry = exponential(base_ms = 1, max_attempts = 2))]
async fn durable_panics(job: &Job, faults: Dep<Faults>, journal: Dep<Journal>) {
    if faults.attempt(job).is_err() {
        panic!("cannot handle job {}", job.n);
    }
    journal.record("durable_panics", job.n);
}

#[tokio::test]
async fn a_panicking_durable_handler_is_parked_and_the_dispatcher_goes_on() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let (faults, journal) = (Arc::new(Faults::default()), Arc::new(Journal::new()));
    let dispatcher = dispatcher_with(&store, Arc::default(), &faults, &journal)
        .handler(durable_panics)
        .build()
        .expect("dispatcher");
    let running = dispatcher.start();
    let last = append(&store, &[job(1, true), job(2, true), job(3, false)]).await;
    dispatcher.caught_up(last).await;
    assert_eq!(journal.of("durable_panics"), vec![3]);
    let parked = dispatcher.parked(None).await.expect("list");
    assert_eq!(parked.len(), 2);
    assert!(
        parked
            .iter()
            .all(|p| p.attempts == 2 && p.error.contains("panicked")),
        "{parked:?}"
    );

    // Discard one, replay the other once fixed.
    assert!(
        dispatcher
            .discard("durable_panics", parked[0].position)
            .await
            .expect("discard")
    );
    assert!(
        !dispatcher
            .discard("durable_panics", parked[0].position)
            .await
            .expect("discard")
    );
    faults.fixed.store(true, Ordering::SeqCst);
    let report = dispatcher.replay_all(None).await.expect("replay");
    assert_eq!(report.replayed.len(), 1);
    assert!(report.failed.is_empty());
    assert_eq!(journal.of("durable_panics"), vec![3, 2]);
    running.stop().await.expect("stops");
}

#[event_handler(name = "durable_strict", durable, strict_order, retry = fixed(delay_ms = 1, max_attempts = 2))]
async fn durable_strict(
    job: &Job,
    faults: Dep<Faults>,
    journal: Dep<Journal>,
) -> Result<(), String> {
    journal.record("durable_strict attempt", job.n);
    faults.attempt(job)?;
    journal.record("durable_strict", job.n);
    Ok(())
}

#[tokio::test]
async fn a_strict_order_handler_holds_back_later_events_until_the_failing_one_succeeds() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let (faults, journal) = (Arc::new(Faults::default()), Arc::new(Journal::new()));
    let dispatcher = dispatcher_with(&store, Arc::default(), &faults, &journal)
        .handler(durable_strict)
        .build()
        .expect("dispatcher");
    let running = dispatcher.start();
    let last = append(&store, &[job(1, true), job(2, false)]).await;
    // Two runs of the group, two attempts each, all on job 1.
    journal.wait_for("durable_strict attempt", 4).await;
    assert!(journal.of("durable_strict attempt").iter().all(|n| *n == 1));
    assert!(journal.of("durable_strict").is_empty());
    assert!(dispatcher.parked(None).await.expect("list").is_empty());

    faults.fixed.store(true, Ordering::SeqCst);
    dispatcher.caught_up(last).await;
    assert_eq!(journal.of("durable_strict"), vec![1, 2]);
    running.stop().await.expect("stops");
}

#[event_handler(name = "durable_counted", durable, idempotent, group = "counting")]
async fn durable_counted(job: &Job, journal: Dep<Journal>) {
    journal.record("durable_counted", job.n);
}

#[event_handler(name = "durable_uncounted", durable, group = "counting")]
async fn durable_uncounted(job: &Job, journal: Dep<Journal>) {
    journal.record("durable_uncounted", job.n);
}

#[tokio::test]
async fn after_a_redelivery_an_idempotent_handler_has_run_once_per_event() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let delivery = Arc::new(InMemoryDeliveryStore::new());
    let (faults, journal) = (Arc::new(Faults::default()), Arc::new(Journal::new()));
    let build = || {
        dispatcher_with(&store, delivery.clone(), &faults, &journal)
            .handler(durable_counted)
            .handler(durable_uncounted)
            .build()
            .expect("dispatcher")
    };
    let first = build();
    assert_eq!(first.groups(), vec!["counting"]);
    let running = first.start();
    let last = append(&store, &[job(1, false), job(2, false)]).await;
    first.caught_up(last).await;
    running.stop().await.expect("stops");

    // A restart goes on from the checkpoint: nothing runs twice.
    let second = build();
    let running = second.start();
    let later = append(&store, &[job(3, false)]).await;
    second.caught_up(later).await;
    running.stop().await.expect("stops");
    assert_eq!(journal.of("durable_counted"), vec![1, 2, 3]);
    assert_eq!(journal.of("durable_uncounted"), vec![1, 2, 3]);

    // The checkpoint is lost (a crash before it was saved): everything is
    // delivered again, at least once; the idempotent handler skips it.
    let checkpoints = delivery.checkpoints();
    let name = format!("{GROUP_PREFIX}counting");
    checkpoints
        .save(&ProjectionState::new(name), "test")
        .await
        .expect("reset");
    let third = build();
    let running = third.start();
    third.caught_up(later).await;
    running.stop().await.expect("stops");
    assert_eq!(journal.of("durable_counted"), vec![1, 2, 3]);
    assert_eq!(journal.of("durable_uncounted"), vec![1, 2, 3, 1, 2, 3]);
}

#[tokio::test]
async fn a_durable_handler_does_not_run_on_publish() {
    let journal = Arc::new(Journal::new());
    // Everything in this binary, durable ones left out.
    let bus = InMemoryAsyncMessageBus::builder()
        .dependency_arc(journal.clone())
        .dependency_arc(Arc::new(Faults::default()))
        .register_handlers()
        .build()
        .expect("bus");
    let _ = bus
        .publish(Job {
            n: 9,
            poisoned: false,
        })
        .await;
    assert!(journal.of("durable_counted").is_empty());
    assert!(journal.of("durable_flaky").is_empty());
    assert_eq!(
        bus.handler_count::<Job>(),
        3,
        "the three inline handlers only"
    );
}

#[tokio::test]
async fn two_handlers_under_one_name_are_refused() {
    #[event_handler(name = "durable_uncounted", durable)]
    async fn impostor(_job: &Job) {}

    let store = Arc::new(InMemoryAsyncEventStore::new());
    let error = Dispatcher::builder(store, InMemoryDeliveryStore::new())
        .dependency_arc(Arc::new(Journal::new()))
        .handler(durable_uncounted)
        .handler(impostor)
        .build()
        .expect_err("two handlers, one name");
    assert!(
        matches!(error, DeliveryError::DuplicateHandler { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("durable_uncounted"), "{error}");
}

#[tokio::test]
async fn a_missing_dependency_is_named_when_the_dispatcher_is_built() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let error = Dispatcher::builder(store, InMemoryDeliveryStore::new())
        .handler(durable_counted)
        .build()
        .expect_err("no journal");
    assert!(error.to_string().contains("Journal"), "{error}");
}

#[tokio::test]
async fn a_dispatcher_and_its_builder_show_what_they_hold() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let builder = dispatcher_with(
        &store,
        Arc::new(InMemoryDeliveryStore::new()),
        &Arc::new(Faults::default()),
        &Arc::new(Journal::new()),
    )
    .handler(durable_flaky);
    let shown = format!("{builder:?}");
    assert!(
        shown.starts_with("DispatcherBuilder") && shown.contains("handlers: 1"),
        "{shown}"
    );
    let dispatcher = builder.build().expect("a dispatcher");
    let shown = format!("{dispatcher:?}");
    assert!(
        shown.starts_with("Dispatcher") && shown.contains("\"durable_flaky\""),
        "{shown}"
    );
}

/// A delivery store that cannot be prepared the first `failures` times it
/// is asked (its database unreachable at start); the rest is in memory.
#[derive(Debug)]
struct Unprepared {
    inner: InMemoryDeliveryStore,
    failures: AtomicU32,
    asked: AtomicU32,
}

#[orchestrix::__private::async_trait::async_trait]
impl DeliveryStore for Unprepared {
    async fn initialize(&self) -> Result<(), DeliveryStoreError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let failed = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if failed {
            return Err(DeliveryStoreError::Backend {
                operation: "prepare the delivery tables".into(),
                source: "connection refused".into(),
            });
        }
        self.inner.initialize().await
    }
    fn checkpoints(&self) -> Arc<dyn ProjectionStateStore> {
        self.inner.checkpoints()
    }
    async fn park(&self, parked: &ParkedEvent) -> Result<(), DeliveryStoreError> {
        self.inner.park(parked).await
    }
    async fn parked(&self, handler: Option<&str>) -> Result<Vec<ParkedEvent>, DeliveryStoreError> {
        self.inner.parked(handler).await
    }
    async fn remove_parked(
        &self,
        handler: &str,
        position: u64,
    ) -> Result<bool, DeliveryStoreError> {
        self.inner.remove_parked(handler, position).await
    }
    async fn is_processed(
        &self,
        handler: &str,
        event_id: uuid::Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        self.inner.is_processed(handler, event_id).await
    }
    async fn mark_processed(
        &self,
        handler: &str,
        event_id: uuid::Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        self.inner.mark_processed(handler, event_id).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_delivery_store_that_cannot_be_prepared_is_tried_again_each_failure_counted() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let head = append(&store, &[job(1, false), job(2, false)]).await;
    let delivery = Arc::new(Unprepared {
        inner: InMemoryDeliveryStore::new(),
        failures: AtomicU32::new(3),
        asked: AtomicU32::new(0),
    });
    let journal = Arc::new(Journal::new());
    let dispatcher = Dispatcher::builder(store.clone(), delivery.clone())
        .dependency_arc(journal.clone())
        .restart_backoff(RetryPolicy::linear(Duration::from_secs(1), u32::MAX).with_jitter(false))
        .handler(durable_counted)
        .build()
        .expect("a dispatcher");
    assert_eq!(dispatcher.states()[0].position, 0, "nothing handled yet");
    let started = tokio::time::Instant::now();
    let running = dispatcher.start();
    tokio::time::timeout(Duration::from_secs(60), dispatcher.caught_up(head))
        .await
        .expect("the store is prepared at the fourth try, then every event handled");
    assert_eq!(delivery.asked.load(Ordering::SeqCst), 4);
    // The backoff grows with the failures: 1 s, 2 s, 3 s (the clock is
    // paused: the handling itself takes no time).
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(6) && waited < Duration::from_millis(6500),
        "{waited:?}"
    );
    assert_eq!(
        *dispatcher.watch_stops().borrow(),
        3,
        "each failure counted"
    );
    assert_eq!(journal.of("durable_counted"), [1, 2]);
    let states = dispatcher.states();
    assert_eq!(states.len(), 1, "{states:?}");
    assert_eq!(states[0].position, head, "{states:?}");
    running.stop().await.expect("stops");
}

#[event_handler(
    name = "durable_idempotent_flaky",
    durable,
    idempotent,
    retry = fixed(delay_ms = 1, max_attempts = 2)
)]
async fn durable_idempotent_flaky(
    job: &Job,
    faults: Dep<Faults>,
    journal: Dep<Journal>,
) -> Result<(), String> {
    faults.attempt(job)?;
    journal.record("durable_idempotent_flaky", job.n);
    Ok(())
}

#[tokio::test]
async fn a_replay_runs_an_idempotent_handler_that_never_processed_the_event() {
    let store = Arc::new(InMemoryAsyncEventStore::new());
    let delivery = Arc::new(InMemoryDeliveryStore::new());
    let (faults, journal) = (Arc::new(Faults::default()), Arc::new(Journal::new()));
    let dispatcher = dispatcher_with(&store, delivery.clone(), &faults, &journal)
        .handler(durable_idempotent_flaky)
        .build()
        .expect("dispatcher");
    let running = dispatcher.start();
    let last = append(&store, &[job(1, true)]).await;
    dispatcher.caught_up(last).await;
    assert_eq!(journal.of("durable_idempotent_flaky"), Vec::<u64>::new());
    faults.fixed.store(true, Ordering::SeqCst);
    dispatcher
        .replay("durable_idempotent_flaky", last)
        .await
        .expect("fixed now");
    assert_eq!(journal.of("durable_idempotent_flaky"), vec![1], "it ran");
    running.stop().await.expect("stops");
}

/// An event store whose global reads fail the first `failures` times (its
/// connection lost); the rest is in memory.
struct FailingReads {
    inner: InMemoryAsyncEventStore,
    failures: AtomicU32,
    /// When each read was asked for, and whether it failed.
    reads: std::sync::Mutex<Vec<(tokio::time::Instant, bool)>>,
}

#[orchestrix::async_trait]
impl AsyncEventStore for FailingReads {
    async fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.inner
            .save(aggregate_id, events, expected_version)
            .await
    }
    async fn load(&self, id: &str, from: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.load(id, from).await
    }
    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let failed = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        self.reads
            .lock()
            .expect("reads")
            .push((tokio::time::Instant::now(), failed));
        if failed {
            return Err(StoreError::Backend {
                operation: "read the global stream".into(),
                source: "connection reset".into(),
            });
        }
        self.inner.read_all(from, limit).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_snapshot(&self, id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(id).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_group_that_keeps_stopping_is_resumed_with_a_growing_backoff() {
    let inner = InMemoryAsyncEventStore::new();
    let head = append(&inner, &[job(1, false), job(2, false)]).await;
    let store = Arc::new(FailingReads {
        inner,
        failures: AtomicU32::new(3),
        reads: std::sync::Mutex::default(),
    });
    let journal = Arc::new(Journal::new());
    let dispatcher = Dispatcher::builder(store.clone(), InMemoryDeliveryStore::new())
        .dependency_arc(journal.clone())
        .restart_backoff(RetryPolicy::linear(Duration::from_secs(1), u32::MAX).with_jitter(false))
        .handler(durable_counted)
        .build()
        .expect("a dispatcher");
    let started = tokio::time::Instant::now();
    let running = dispatcher.start();
    tokio::time::timeout(Duration::from_secs(60), dispatcher.caught_up(head))
        .await
        .expect("the group resumes after each stop and catches up");
    assert_eq!(*dispatcher.watch_stops().borrow(), 3, "each stop counted");
    // Three quick stops in a row: 1 s, 2 s, 3 s (the clock is paused).
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(6) && waited < Duration::from_millis(6500),
        "{waited:?}"
    );
    assert_eq!(journal.of("durable_counted"), [1, 2]);

    // After a run longer than 10 s, a stop starts the backoff over: 1 s.
    tokio::time::sleep(Duration::from_secs(20)).await;
    store.failures.store(1, Ordering::SeqCst);
    let mut stops = dispatcher.watch_stops();
    tokio::time::timeout(Duration::from_secs(60), stops.wait_for(|stops| *stops == 4))
        .await
        .expect("the group stops again")
        .expect("the dispatcher runs");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let reads = store.reads.lock().expect("reads").clone();
    let failed_at = reads
        .iter()
        .rev()
        .find(|(_, failed)| *failed)
        .map(|(at, _)| *at)
        .expect("the last failed read");
    let resumed_at = reads
        .iter()
        .find(|(at, failed)| *at > failed_at && !failed)
        .map(|(at, _)| *at)
        .expect("a read after it");
    let delay = resumed_at - failed_at;
    assert!(
        delay >= Duration::from_secs(1) && delay < Duration::from_millis(1500),
        "{delay:?}"
    );
    running.stop().await.expect("stops");
}
