//! AggregateRepository over both in-memory stores: round trip, NotFound,
//! concurrent modification, time travel, unknown event types.

mod support;

use orchestrix::aggregate::{RepositoryError, UnknownEventError};
use orchestrix::prelude::*;
use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};
use support::*;

#[test]
fn round_trip_with_the_blocking_store() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    let id = account_id("round-trip");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    deposit(&mut account, 100).expect("open account");
    withdraw(&mut account, 30).expect("enough funds");
    assert_eq!(account.pending_version(), 3);

    let outcome = repo.save(&mut account).expect("save");
    assert_eq!(outcome.new_version, 3);
    assert_eq!(account.version(), 3);
    assert!(
        account.uncommitted_events().is_empty(),
        "saved events are committed"
    );

    let loaded = repo.load::<BankAccount>(&id).expect("load");
    assert_eq!(loaded.id(), id);
    assert_eq!(loaded.version(), 3);
    assert_eq!(
        *loaded.state(),
        BankAccount {
            owner: "Ada".into(),
            balance: 70,
            open: true
        }
    );
    assert!(loaded.uncommitted_events().is_empty());

    let stored = repo.store().load(&id, 0).expect("raw load");
    assert!(
        stored
            .iter()
            .all(|e| e.metadata().subject.as_deref() == Some(id.as_str())),
        "recorded events name the aggregate as their subject"
    );
}

#[tokio::test]
async fn round_trip_with_the_async_store() {
    let repo = AggregateRepository::new(InMemoryAsyncEventStore::new());
    let id = account_id("round-trip-async");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Grace");
    deposit(&mut account, 10).expect("open account");
    repo.save_async(&mut account).await.expect("save");

    let mut loaded = repo.load_async::<BankAccount>(&id).await.expect("load");
    assert_eq!((loaded.balance, loaded.version()), (10, 2));

    deposit(&mut loaded, 5).expect("open account");
    let outcome = repo.save_async(&mut loaded).await.expect("second save");
    assert_eq!(outcome.new_version, 3);
    let reloaded = repo.load_async::<BankAccount>(&id).await.expect("reload");
    assert_eq!((reloaded.balance, reloaded.version()), (15, 3));
}

#[test]
fn saving_without_new_events_writes_nothing() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    let id = account_id("no-op");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    let outcome = repo.save(&mut account).expect("empty save");
    assert_eq!(outcome.new_version, 0);
    assert!(outcome.positions.is_empty());
    assert!(matches!(
        repo.load::<BankAccount>(&id),
        Err(RepositoryError::NotFound { .. })
    ));
}

#[test]
fn loading_an_unknown_id_is_not_found() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    match repo.load::<BankAccount>("acc-nobody") {
        Err(RepositoryError::NotFound {
            aggregate_type,
            aggregate_id,
        }) => {
            assert_eq!(
                (aggregate_type, aggregate_id.as_str()),
                ("BankAccount", "acc-nobody")
            );
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn loading_an_unknown_id_async_is_not_found() {
    let repo = AggregateRepository::new(InMemoryAsyncEventStore::new());
    let result = repo.load_async::<BankAccount>("acc-nobody").await;
    assert!(
        matches!(result, Err(RepositoryError::NotFound { .. })),
        "{result:?}"
    );
}

#[test]
fn concurrent_modification_is_detected_and_writes_nothing() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    let id = account_id("conflict");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    deposit(&mut account, 100).expect("open");
    repo.save(&mut account).expect("save");

    let mut first = repo.load::<BankAccount>(&id).expect("load first");
    let mut second = repo.load::<BankAccount>(&id).expect("load second");
    withdraw(&mut first, 80).expect("funds");
    withdraw(&mut second, 80).expect("funds, as far as this copy knows");
    repo.save(&mut first).expect("the first save wins");

    let error = repo
        .save(&mut second)
        .expect_err("the second save must not overwrite");
    let conflict = error.as_concurrency().expect("a concurrency error");
    assert_eq!(
        (
            conflict.aggregate_id.as_str(),
            conflict.expected,
            conflict.actual
        ),
        (id.as_str(), 2, 3)
    );
    assert_eq!(second.version(), 2, "the loser is unchanged");
    assert_eq!(
        second.uncommitted_events().len(),
        1,
        "the loser keeps its events"
    );

    let stored = repo.load::<BankAccount>(&id).expect("reload");
    assert_eq!(
        (stored.balance, stored.version()),
        (20, 3),
        "no lost update, no overdraft"
    );
}

#[tokio::test]
async fn concurrent_creation_async_is_detected() {
    let repo = AggregateRepository::new(InMemoryAsyncEventStore::new());
    let id = account_id("conflict-async");
    let mut first = AggregateRoot::<BankAccount>::new(&id);
    let mut second = AggregateRoot::<BankAccount>::new(&id);
    open(&mut first, "Ada");
    open(&mut second, "Eve");
    repo.save_async(&mut first)
        .await
        .expect("the first creation wins");
    let error = repo
        .save_async(&mut second)
        .await
        .expect_err("a second creation fails");
    assert!(
        matches!(error, RepositoryError::Concurrency(ref c) if c.expected == 0 && c.actual == 1),
        "{error:?}"
    );
    let stored = repo.load_async::<BankAccount>(&id).await.expect("load");
    assert_eq!(stored.owner, "Ada");
}

#[test]
fn load_at_rebuilds_past_versions() {
    let repo = AggregateRepository::new(InMemoryEventStore::new());
    let id = account_id("time-travel");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    for amount in [10, 20, 30] {
        deposit(&mut account, amount).expect("open");
    }
    repo.save(&mut account).expect("save");

    let balances: Vec<(u64, u64)> = (1..=4)
        .map(|version| {
            let past = repo.load_at::<BankAccount>(&id, version).expect("load_at");
            (past.version(), past.balance)
        })
        .collect();
    assert_eq!(balances, [(1, 0), (2, 10), (3, 30), (4, 60)]);

    for (requested, current) in [(5, 4), (0, 0)] {
        match repo.load_at::<BankAccount>(&id, requested) {
            Err(RepositoryError::VersionNotFound {
                requested: r,
                current: c,
                ..
            }) => assert_eq!((r, c), (requested, current)),
            other => panic!("expected VersionNotFound for {requested}, got {other:?}"),
        }
    }
    assert!(matches!(
        repo.load_at::<BankAccount>("acc-nobody", 1),
        Err(RepositoryError::NotFound { .. })
    ));
}

#[tokio::test]
async fn load_at_async_rebuilds_past_versions() {
    let repo = AggregateRepository::new(InMemoryAsyncEventStore::new());
    let id = account_id("time-travel-async");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    deposit(&mut account, 10).expect("open");
    withdraw(&mut account, 4).expect("funds");
    repo.save_async(&mut account).await.expect("save");

    let past = repo
        .load_at_async::<BankAccount>(&id, 2)
        .await
        .expect("load_at");
    assert_eq!((past.version(), past.balance), (2, 10));
    let now = repo
        .load_at_async::<BankAccount>(&id, 3)
        .await
        .expect("load_at latest");
    assert_eq!((now.version(), now.balance), (3, 6));
}

#[test]
fn an_unknown_event_type_is_an_error_naming_stream_version_and_type() {
    let store = InMemoryEventStore::new();
    let id = account_id("unknown-event");
    store
        .save(
            &id,
            &[
                envelope(AccountOpened {
                    owner: "Ada".into(),
                }),
                envelope(AuditNoted {
                    note: "checked".into(),
                }),
            ],
            Some(0),
        )
        .expect("raw append");
    let repo = AggregateRepository::new(store);
    let error = repo
        .load::<BankAccount>(&id)
        .expect_err("the aggregate cannot apply AuditNoted");
    let RepositoryError::UnknownEvent(unknown) = &error else {
        panic!("expected UnknownEvent, got {error:?}");
    };
    assert_eq!(
        *unknown,
        UnknownEventError {
            aggregate_type: "BankAccount",
            stream_id: id.clone(),
            version: 2,
            event_type: "tests.bank.AuditNoted".into(),
        }
    );
    let message = error.to_string();
    assert!(
        message.contains(&id)
            && message.contains("version 2")
            && message.contains("tests.bank.AuditNoted")
    );
    assert!(
        message.contains("ignore_unknown_events"),
        "the message says how to opt out: {message}"
    );
}

#[test]
fn an_aggregate_that_opts_in_skips_unknown_event_types() {
    let store = InMemoryEventStore::new();
    let id = account_id("lenient");
    store
        .save(
            &id,
            &[
                envelope(Deposited { amount: 5 }),
                envelope(AuditNoted {
                    note: "checked".into(),
                }),
                envelope(Deposited { amount: 7 }),
            ],
            Some(0),
        )
        .expect("raw append");
    let repo = AggregateRepository::new(store);
    let account = repo
        .load::<LenientAccount>(&id)
        .expect("unknown events are skipped");
    assert_eq!(account.balance, 12);
    assert_eq!(
        account.version(),
        3,
        "skipped events still count for the version"
    );
}

#[test]
fn the_macro_lists_names_and_event_types() {
    assert_eq!(BankAccount::AGGREGATE_TYPE, "BankAccount");
    assert_eq!(
        BankAccount::EVENT_TYPES,
        [
            "tests.bank.AccountOpened",
            "tests.bank.Deposited",
            "tests.bank.Withdrawn"
        ]
    );
    const { assert!(!BankAccount::IGNORE_UNKNOWN_EVENTS) };
    assert_eq!(LenientAccount::AGGREGATE_TYPE, "LenientBankAccount");
    const { assert!(LenientAccount::IGNORE_UNKNOWN_EVENTS) };

    let mut account = BankAccount::default();
    assert!(account.apply_message(&Deposited { amount: 3 }));
    assert!(!account.apply_message(&AuditNoted { note: "x".into() }));
    assert_eq!(account.balance, 3);
}

#[test]
fn a_shared_dyn_store_works_too() {
    let store: std::sync::Arc<dyn EventStore> = std::sync::Arc::new(InMemoryEventStore::new());
    let repo = AggregateRepository::shared(store);
    let id = account_id("dyn");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    repo.save(&mut account).expect("save");
    assert_eq!(repo.load::<BankAccount>(&id).expect("load").owner, "Ada");
}

/// A store that implements only the required methods: `load_range` is the
/// trait's default, which filters `load`.
struct WithoutLoadRange(InMemoryEventStore);

impl EventStore for WithoutLoadRange {
    fn save(
        &self,
        aggregate_id: &str,
        events: &[orchestrix::message::AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.0.save(aggregate_id, events, expected_version)
    }

    fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.load(aggregate_id, from_version)
    }

    fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_all(from_position, limit)
    }

    fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.0.save_snapshot(snapshot)
    }

    fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.0.load_snapshot(aggregate_id)
    }
}

#[test]
fn the_default_load_range_serves_time_travel() {
    let store = WithoutLoadRange(InMemoryEventStore::new());
    let id = account_id("default-range");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    for amount in [10, 20, 30] {
        deposit(&mut account, amount).expect("open");
    }
    let repo = AggregateRepository::new(store);
    repo.save(&mut account).expect("save");

    let versions = |from, to| -> Vec<u64> {
        repo.store()
            .load_range(&id, from, to)
            .expect("load_range")
            .iter()
            .map(|event| event.version)
            .collect()
    };
    assert_eq!(versions(2, 3), [2, 3]);
    assert_eq!(versions(3, 99), [3, 4]);
    assert!(versions(3, 2).is_empty());

    let past = repo.load_at::<BankAccount>(&id, 3).expect("version 3");
    assert_eq!((past.version(), past.balance), (3, 30));
    assert!(matches!(
        repo.load_at::<BankAccount>(&id, 5),
        Err(RepositoryError::VersionNotFound {
            requested: 5,
            current: 4,
            ..
        })
    ));
}

/// The repository loads through `EventStore::replay`: the trait's default
/// (over `load` / `load_range`, for a custom store) and the in-memory
/// store's own (which lends the kept messages) rebuild the same aggregate
/// and fail alike, with the same `UnknownEvent` naming the stream, version
/// and type.
#[test]
fn the_default_replay_and_the_stores_own_load_alike() {
    fn loads<S: EventStore>(store: S, id: &str) -> (String, String, String) {
        let repo = AggregateRepository::new(store);
        let id = id.to_owned();
        let mut account = AggregateRoot::<BankAccount>::new(&id);
        open(&mut account, "Ada");
        for amount in [10, 20, 30] {
            deposit(&mut account, amount).expect("open");
        }
        repo.save(&mut account).expect("save");
        let whole = repo.load::<BankAccount>(&id).expect("load");
        let past = repo.load_at::<BankAccount>(&id, 3).expect("load_at");
        repo.store()
            .save(
                &id,
                &[envelope(AuditNoted {
                    note: "checked".into(),
                })],
                Some(4),
            )
            .expect("raw append");
        let unknown = repo
            .load::<BankAccount>(&id)
            .expect_err("the aggregate cannot apply AuditNoted");
        assert!(
            matches!(&unknown, RepositoryError::UnknownEvent(e) if e.version == 5),
            "{unknown:?}"
        );
        (
            format!("{} {:?}", whole.version(), whole.state()),
            format!("{} {:?}", past.version(), past.state()),
            unknown.to_string(),
        )
    }
    let id = account_id("replay-kinds");
    let own = loads(InMemoryEventStore::new(), &id);
    let default = loads(WithoutLoadRange(InMemoryEventStore::new()), &id);
    assert_eq!(own, default);
    assert!(
        own.0.starts_with("4 ") && own.1.starts_with("3 "),
        "{own:?}"
    );
}

/// A store whose `replay` ignores `to_version` and hands out the whole
/// rest of the stream (a custom store may read more than asked) unless
/// told to stop; it counts the events it handed out.
struct ReplaysTooMuch(InMemoryEventStore, std::sync::atomic::AtomicU64);

impl EventStore for ReplaysTooMuch {
    fn save(
        &self,
        aggregate_id: &str,
        events: &[orchestrix::message::AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.0.save(aggregate_id, events, expected_version)
    }

    fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.load(aggregate_id, from_version)
    }

    fn replay(
        &self,
        aggregate_id: &str,
        from_version: u64,
        _to_version: u64,
        apply: &mut dyn FnMut(orchestrix::store::ReplayedEvent<'_>) -> std::ops::ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.0
            .replay(aggregate_id, from_version, u64::MAX, &mut |event| {
                self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                apply(event)
            })
    }

    fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_all(from_position, limit)
    }

    fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.0.save_snapshot(snapshot)
    }

    fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.0.load_snapshot(aggregate_id)
    }
}

/// Time travel applies nothing past the version asked for, even when the
/// store replays further, and stops the replay at the first event past it.
#[test]
fn load_at_applies_nothing_past_its_version_whatever_the_store_hands_out() {
    let repo = AggregateRepository::new(ReplaysTooMuch(
        InMemoryEventStore::new(),
        std::sync::atomic::AtomicU64::new(0),
    ));
    let id = account_id("replays-too-much");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    for amount in [10, 20, 30] {
        deposit(&mut account, amount).expect("open");
    }
    repo.save(&mut account).expect("save");
    let past = repo.load_at::<BankAccount>(&id, 2).expect("version 2");
    assert_eq!((past.version(), past.balance), (2, 10));
    assert_eq!(
        repo.store().1.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "versions 1 and 2, then version 3 stops the replay (4 is never handed out)"
    );
}

/// The first error stops the replay and is the one returned: with unknown
/// events at versions 2 and 3, the error names version 2.
#[test]
fn the_first_unknown_event_stops_the_load() {
    let store = InMemoryEventStore::new();
    let id = account_id("first-error");
    store
        .save(
            &id,
            &[
                envelope(AccountOpened {
                    owner: "Ada".into(),
                }),
                envelope(AuditNoted {
                    note: "first".into(),
                }),
                envelope(AuditNoted {
                    note: "second".into(),
                }),
            ],
            Some(0),
        )
        .expect("append");
    let repo = AggregateRepository::new(store);
    let error = repo.load::<BankAccount>(&id).expect_err("unknown events");
    assert!(
        matches!(&error, RepositoryError::UnknownEvent(unknown) if unknown.version == 2),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_first_unknown_event_stops_the_async_load() {
    let store = InMemoryAsyncEventStore::new();
    let id = account_id("first-error-async");
    store
        .save(
            &id,
            &[
                envelope(AccountOpened {
                    owner: "Ada".into(),
                }),
                envelope(AuditNoted {
                    note: "first".into(),
                }),
                envelope(AuditNoted {
                    note: "second".into(),
                }),
            ],
            Some(0),
        )
        .await
        .expect("append");
    let repo = AggregateRepository::new(store);
    let error = repo
        .load_async::<BankAccount>(&id)
        .await
        .expect_err("unknown events");
    assert!(
        matches!(&error, RepositoryError::UnknownEvent(unknown) if unknown.version == 2),
        "{error:?}"
    );
}

/// A hand-written aggregate overriding `Aggregate::apply_replayed`: it
/// counts its calls and skips the types it does not know (a rule of its
/// own, without `IGNORE_UNKNOWN_EVENTS`).
#[derive(Default, Debug)]
struct HandWritten {
    balance: u64,
    replayed: Vec<u64>,
}

impl orchestrix::aggregate::Aggregate for HandWritten {
    const AGGREGATE_TYPE: &'static str = "HandWritten";
    const EVENT_TYPES: &'static [&'static str] = &["tests.bank.Deposited"];

    fn apply_message(&mut self, event: &dyn orchestrix::message::AnyMessage) -> bool {
        let event: &dyn std::any::Any = event;
        match event.downcast_ref::<Deposited>() {
            Some(deposited) => {
                self.balance += deposited.amount;
                true
            }
            None => false,
        }
    }

    fn apply_replayed(
        &mut self,
        _stream_id: &str,
        event: orchestrix::store::ReplayedEvent<'_>,
    ) -> Result<(), UnknownEventError> {
        self.replayed.push(event.version);
        self.apply_message(event.message);
        Ok(())
    }
}

/// Loads call the overridden hook, once per event, in version order, with
/// and without time travel, blocking and async; a recorded event converts
/// into a replayed one to apply by hand.
#[test]
fn loads_call_an_overridden_apply_replayed() {
    let store = InMemoryEventStore::new();
    let id = account_id("hand-written");
    let events = [
        envelope(Deposited { amount: 5 }),
        envelope(AuditNoted { note: "x".into() }),
        envelope(Deposited { amount: 7 }),
    ];
    store.save(&id, &events, Some(0)).expect("append");
    let recorded = store.load(&id, 1).expect("load");
    let repo = AggregateRepository::new(store);

    let loaded = repo
        .load::<HandWritten>(&id)
        .expect("the override skips AuditNoted");
    assert_eq!(loaded.state().replayed, [1, 2, 3]);
    assert_eq!(loaded.state().balance, 12);
    assert_eq!(loaded.version(), 3);

    let past = repo.load_at::<HandWritten>(&id, 2).expect("load_at");
    assert_eq!(past.state().replayed, [1, 2]);
    assert_eq!(past.state().balance, 5);

    let mut by_hand = HandWritten::default();
    for event in &recorded {
        orchestrix::aggregate::Aggregate::apply_replayed(&mut by_hand, &id, event.into())
            .expect("applied");
    }
    assert_eq!(by_hand.replayed, [1, 2, 3]);
    assert_eq!(by_hand.balance, 12);

    let store = InMemoryAsyncEventStore::new();
    let repo = AggregateRepository::new(store);
    futures::executor::block_on(async {
        repo.store()
            .save(&id, &events, Some(0))
            .await
            .expect("append");
        let loaded = repo
            .load_async::<HandWritten>(&id)
            .await
            .expect("the override skips AuditNoted");
        assert_eq!(loaded.state().replayed, [1, 2, 3]);
        assert_eq!(loaded.state().balance, 12);
    });
}

static REENTRANT_STORE: std::sync::OnceLock<std::sync::Arc<InMemoryEventStore>> =
    std::sync::OnceLock::new();
type Signal =
    std::sync::Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>;
/// The first apply's line to the writer thread: "save now", "saved".
static REENTRANT_WRITER: std::sync::OnceLock<Signal> = std::sync::OnceLock::new();

/// Whose first `#[apply]` has another thread save to the store and waits
/// (at most 10 s) for that save to finish, then reads and writes the store
/// itself: what it saw is its state.
#[derive(Default, Debug)]
struct UsesTheStore {
    applied: u64,
    writer_saved: bool,
    read_back: usize,
    wrote: bool,
}

#[aggregate]
impl UsesTheStore {
    #[apply]
    fn deposited(&mut self, _event: &Deposited) {
        if self.applied == 0 {
            let store = REENTRANT_STORE.get().expect("the store");
            let signal = REENTRANT_WRITER.get().and_then(|signal| {
                signal
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
            });
            if let Some((save_now, saved)) = signal {
                save_now.send(()).expect("the writer listens");
                // While the replay held the store's lock, this save waited
                // for the whole replay: the wait times out.
                self.writer_saved = saved
                    .recv_timeout(std::time::Duration::from_secs(10))
                    .is_ok();
            }
            // A read while the writer's save waits (when it still does)
            // queued behind the writer: a deadlock.
            self.read_back = store.load("reentrant-writer", 1).map_or(0, |e| e.len());
            // A write under the replay's own read lock: a deadlock.
            self.wrote = store
                .save(
                    "reentrant-own",
                    &[envelope(Deposited { amount: 1 })],
                    Some(0),
                )
                .is_ok();
        }
        self.applied += 1;
    }
}

/// `#[apply]` code may use the store: the in-memory replay applies after
/// releasing its lock, so another thread's save finishes while the replay
/// applies, and a read or a write from inside `#[apply]` neither waits for
/// it nor deadlocks. A deadlock fails the test after 20 s instead of
/// hanging it.
#[test]
fn an_apply_that_reads_the_store_while_a_save_waits_does_not_deadlock() {
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::Duration;

    let store = Arc::new(InMemoryEventStore::new());
    REENTRANT_STORE.set(Arc::clone(&store)).expect("set once");
    store
        .save(
            "reentrant",
            &[
                envelope(Deposited { amount: 1 }),
                envelope(Deposited { amount: 2 }),
            ],
            Some(0),
        )
        .expect("append");

    let (save_now_tx, save_now_rx) = mpsc::channel();
    let (saved_tx, saved_rx) = mpsc::channel();
    REENTRANT_WRITER
        .set(Mutex::new(Some((save_now_tx, saved_rx))))
        .expect("set once");
    let writer_store = Arc::clone(&store);
    std::thread::spawn(move || {
        if save_now_rx.recv().is_ok() {
            writer_store
                .save(
                    "reentrant-writer",
                    &[envelope(Deposited { amount: 1 })],
                    Some(0),
                )
                .expect("the writer's save");
            let _ = saved_tx.send(());
        }
    });

    let (done_tx, done_rx) = mpsc::channel();
    let loader_store = Arc::clone(&store);
    std::thread::spawn(move || {
        let repo = AggregateRepository::shared(loader_store);
        let _ = done_tx.send(repo.load::<UsesTheStore>("reentrant"));
    });
    let loaded = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the load finishes: a deadlock under the store's lock would hang it")
        .expect("the load succeeds");
    assert_eq!(loaded.state().applied, 2);
    assert!(
        loaded.state().writer_saved,
        "another thread's save finished while the replay applied"
    );
    assert_eq!(loaded.state().read_back, 1, "the apply read the store");
    assert!(loaded.state().wrote, "the apply wrote to the store");
}
