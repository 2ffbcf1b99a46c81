//! Snapshots: written by policy, used on load (fewer events replayed),
//! ignored with a full replay when they no longer decode.

mod support;

use std::sync::{Arc, Mutex};

use orchestrix::prelude::*;
use orchestrix::store::{InMemoryAsyncEventStore, InMemoryEventStore};
use support::*;

fn save_deposits(
    repo: &AggregateRepository<CountingStore<InMemoryEventStore>>,
    id: &str,
    count: u64,
) {
    let mut account = AggregateRoot::<BankAccount>::new(id);
    open(&mut account, "Ada");
    repo.save(&mut account).expect("open");
    for _ in 0..count {
        let mut account = repo.load::<BankAccount>(id).expect("load");
        deposit(&mut account, 1).expect("open account");
        repo.save(&mut account).expect("save");
    }
}

#[test]
fn a_snapshot_is_written_every_n_events() {
    let repo = AggregateRepository::new(InMemoryEventStore::new())
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(5));
    let id = account_id("policy");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    for _ in 0..3 {
        deposit(&mut account, 2).expect("open");
    }
    repo.save(&mut account).expect("save to version 4");
    assert_eq!(
        repo.store().load_snapshot(&id).expect("load snapshot"),
        None,
        "below 5: none"
    );

    for _ in 0..3 {
        deposit(&mut account, 2).expect("open");
    }
    repo.save(&mut account).expect("save to version 7");
    let snapshot = repo
        .store()
        .load_snapshot(&id)
        .expect("load snapshot")
        .expect("crossed 5");
    assert_eq!(snapshot.version, 7, "taken at the version the save reached");
    assert_eq!(snapshot.aggregate_type, "BankAccount");
    assert_eq!(
        snapshot.state,
        serde_json::json!({ "owner": "Ada", "balance": 12, "open": true })
    );
}

#[test]
fn loading_starts_from_the_snapshot_and_replays_fewer_events() {
    let repo = AggregateRepository::new(CountingStore::new(InMemoryEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(10));
    let id = account_id("fewer");
    save_deposits(&repo, &id, 24); // versions 1..=25; snapshots at 10, 20
    repo.store().take_loaded();

    let account = repo.load::<BankAccount>(&id).expect("load");
    assert_eq!((account.balance, account.version()), (24, 25));
    assert_eq!(
        repo.store().take_loaded(),
        5,
        "only the events after the snapshot at 20"
    );

    let full = AggregateRepository::shared(std::sync::Arc::clone(repo.store()));
    let account = full
        .load::<BankAccount>(&id)
        .expect("load without snapshots");
    assert_eq!(
        (account.balance, account.version()),
        (24, 25),
        "the same state either way"
    );
    assert_eq!(
        repo.store().take_loaded(),
        25,
        "without snapshots every event is replayed"
    );
}

#[tokio::test]
async fn async_loading_uses_snapshots_too() {
    let repo = AggregateRepository::new(CountingStore::new(InMemoryAsyncEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(3));
    let id = account_id("fewer-async");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    for _ in 0..3 {
        deposit(&mut account, 10).expect("open");
    }
    repo.save_async(&mut account).await.expect("save to 4");
    deposit(&mut account, 1).expect("open");
    repo.save_async(&mut account).await.expect("save to 5");
    repo.store().take_loaded();

    let loaded = repo.load_async::<BankAccount>(&id).await.expect("load");
    assert_eq!((loaded.balance, loaded.version()), (31, 5));
    assert_eq!(
        repo.store().take_loaded(),
        1,
        "snapshot at 4, one event after it"
    );
}

/// A log sink for one test: everything `tracing` writes while `capture`
/// runs.
fn capture_logs<T>(run: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log sink").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, run);
    let logs = String::from_utf8_lossy(&sink.0.lock().expect("log sink")).into_owned();
    (result, logs)
}

#[test]
fn an_undecodable_snapshot_is_ignored_and_the_stream_replayed() {
    let repo = AggregateRepository::new(CountingStore::new(InMemoryEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(2));
    let id = account_id("stale-snapshot");
    save_deposits(&repo, &id, 3); // versions 1..=4, snapshot at 4
    let mut snapshot = repo
        .store()
        .load_snapshot(&id)
        .expect("load")
        .expect("a snapshot");
    snapshot.state = serde_json::json!({ "balance": "no longer a number" });
    repo.store()
        .save_snapshot(snapshot)
        .expect("overwrite snapshot");
    repo.store().take_loaded();

    let (account, logs) = capture_logs(|| repo.load::<BankAccount>(&id));
    let account = account.expect("falls back to a full replay");
    assert_eq!(
        (account.balance, account.version(), account.owner.as_str()),
        (3, 4, "Ada")
    );
    assert_eq!(repo.store().take_loaded(), 4, "every event was replayed");
    assert!(
        logs.contains("WARN")
            && logs.contains("snapshot state no longer decodes")
            && logs.contains(&id),
        "a warning names the aggregate: {logs}"
    );
}

#[test]
fn a_snapshot_of_another_aggregate_type_is_ignored() {
    let repo = AggregateRepository::new(CountingStore::new(InMemoryEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(2));
    let id = account_id("other-type");
    save_deposits(&repo, &id, 1); // versions 1..=2, snapshot at 2
    let mut snapshot = repo
        .store()
        .load_snapshot(&id)
        .expect("load")
        .expect("a snapshot");
    snapshot.aggregate_type = "SomethingElse".into();
    snapshot.state = serde_json::json!({ "owner": "Mallory", "balance": 999, "open": true });
    repo.store()
        .save_snapshot(snapshot)
        .expect("overwrite snapshot");

    let account = repo.load::<BankAccount>(&id).expect("load");
    assert_eq!((account.owner.as_str(), account.balance), ("Ada", 1));
}

#[test]
fn time_travel_before_the_snapshot_replays_from_the_start() {
    let repo = AggregateRepository::new(CountingStore::new(InMemoryEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(4));
    let id = account_id("travel-snapshot");
    save_deposits(&repo, &id, 5); // versions 1..=6, snapshot at 4
    repo.store().take_loaded();

    let past = repo
        .load_at::<BankAccount>(&id, 2)
        .expect("before the snapshot");
    assert_eq!((past.version(), past.balance), (2, 1));
    assert_eq!(
        repo.store().take_loaded(),
        2,
        "the snapshot is newer than asked: replay from the start, but only up to version 2"
    );

    let later = repo
        .load_at::<BankAccount>(&id, 5)
        .expect("after the snapshot");
    assert_eq!((later.version(), later.balance), (5, 4));
    assert_eq!(
        repo.store().take_loaded(),
        1,
        "from the snapshot at 4: only event 5 loaded, not 6"
    );
}

/// The account's state, version 2: the balance is now kept in cents. Its
/// JSON has the same shape as version 1's, so an old snapshot would decode
/// into a wrong balance; `snapshot_version = 2` makes loads skip it.
#[derive(Default, Debug, Serialize, Deserialize)]
struct BankAccountInCents {
    owner: String,
    balance: u64,
    open: bool,
}

#[aggregate(name = "BankAccount", snapshot_version = 2)]
impl BankAccountInCents {
    #[apply]
    fn opened(&mut self, event: &AccountOpened) {
        self.owner.clone_from(&event.owner);
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount * 100;
    }

    #[apply]
    fn withdrawn(&mut self, event: &Withdrawn) {
        self.balance = self.balance.saturating_sub(event.amount * 100);
    }
}

#[test]
fn a_snapshot_of_another_snapshot_version_is_ignored_and_the_stream_replayed() {
    assert_eq!(BankAccount::SNAPSHOT_VERSION, 1);
    assert_eq!(BankAccountInCents::SNAPSHOT_VERSION, 2);
    let repo = AggregateRepository::new(CountingStore::new(InMemoryEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(2))
        .with_snapshots::<BankAccountInCents>(SnapshotPolicy::every(2));
    let id = account_id("state-version");
    save_deposits(&repo, &id, 3); // versions 1..=4, a version-1 snapshot at 4
    let old = repo
        .store()
        .load_snapshot(&id)
        .expect("load")
        .expect("a snapshot");
    assert_eq!(
        (old.aggregate_type.as_str(), old.version),
        ("BankAccount", 4),
        "version 1 keeps the plain name"
    );
    repo.store().take_loaded();

    let (account, logs) = capture_logs(|| repo.load::<BankAccountInCents>(&id));
    let mut account = account.expect("falls back to a full replay");
    assert_eq!(
        (account.balance, account.version()),
        (300, 4),
        "3 deposits of 1, in cents: not the old snapshot's 3"
    );
    assert_eq!(repo.store().take_loaded(), 4, "every event was replayed");
    assert!(
        logs.contains("WARN") && logs.contains("snapshot_version") && logs.contains(&id),
        "a warning names the aggregate and the reason: {logs}"
    );

    // The next snapshot is written with the new version, and used.
    account.record(Deposited { amount: 1 });
    account.record(Deposited { amount: 1 });
    repo.save(&mut account).expect("save");
    let new = repo
        .store()
        .load_snapshot(&id)
        .expect("load")
        .expect("a snapshot");
    assert_eq!(
        (new.aggregate_type.as_str(), new.version),
        ("BankAccount@v2", 6)
    );
    repo.store().take_loaded();
    let account = repo.load::<BankAccountInCents>(&id).expect("load");
    assert_eq!((account.balance, account.version()), (500, 6));
    assert_eq!(repo.store().take_loaded(), 0, "loaded from the snapshot");

    // And version 1 of the state ignores the version-2 snapshot in turn.
    let account = repo.load::<BankAccount>(&id).expect("load");
    assert_eq!((account.balance, account.version()), (5, 6));
    assert_eq!(repo.store().take_loaded(), 6, "every event was replayed");
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "tests.snapshots.Scaled")]
struct Scaled {
    factor: f64,
}

/// A state that finite events can push to infinity.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Gauge {
    level: f64,
}

#[aggregate]
impl Gauge {
    #[apply]
    fn scaled(&mut self, event: &Scaled) {
        self.level = if self.level == 0.0 {
            event.factor
        } else {
            self.level * event.factor
        };
    }
}

#[test]
fn a_state_holding_an_infinite_float_is_not_snapshotted_as_null() {
    let repo = AggregateRepository::new(InMemoryEventStore::new())
        .with_snapshots::<Gauge>(SnapshotPolicy::every(2));
    let id = account_id("infinite-gauge");
    let mut gauge = AggregateRoot::<Gauge>::new(&id);
    gauge.record(Scaled { factor: 1e300 });
    gauge.record(Scaled { factor: 1e300 });
    let (saved, logs) = capture_logs(|| repo.save(&mut gauge));
    saved.expect("the finite events are kept");
    assert!(gauge.level.is_infinite());
    assert_eq!(
        repo.store().load_snapshot(&id).expect("load snapshot"),
        None,
        "no snapshot whose state would read back as null"
    );
    assert!(
        logs.contains("WARN") && logs.contains("NaN or infinite") && logs.contains(&id),
        "a warning says why: {logs}"
    );
    let loaded = repo.load::<Gauge>(&id).expect("the stream replays");
    assert!(loaded.level.is_infinite());
}

/// An aggregate with no serde at all: a repository loads and saves it as
/// long as it is not snapshotted.
#[derive(Default, Debug)]
struct Tally {
    count: u64,
}

#[derive(Event, Clone, Debug, Serialize, Deserialize)]
#[event(name = "tests.snapshots.Tallied")]
struct Tallied;

#[aggregate(name = "tests.snapshots.Tally")]
impl Tally {
    #[apply]
    fn tallied(&mut self, _event: &Tallied) {
        self.count += 1;
    }
}

#[test]
fn snapshots_are_per_aggregate_type_and_one_without_serde_is_never_snapshotted() {
    let repo = AggregateRepository::new(CountingStore::new(InMemoryEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(1));
    assert_eq!(
        repo.snapshot_policy::<BankAccount>(),
        SnapshotPolicy::every(1)
    );
    assert_eq!(repo.snapshot_policy::<Tally>(), SnapshotPolicy::Never);

    let id = account_id("tally");
    let mut tally = AggregateRoot::<Tally>::new(&id);
    tally.record(Tallied);
    tally.record(Tallied);
    repo.save(&mut tally).expect("save");
    assert_eq!(
        repo.store().load_snapshot(&id).expect("load snapshot"),
        None,
        "Tally has no policy: no snapshot"
    );
    repo.store().take_loaded();
    let loaded = repo.load::<Tally>(&id).expect("load");
    assert_eq!((loaded.count, loaded.version()), (2, 2));
    assert_eq!(repo.store().take_loaded(), 2, "the whole stream replayed");

    // The other type of the same repository is snapshotted.
    let account = account_id("tally-neighbour");
    save_deposits(&repo, &account, 1);
    assert!(
        repo.store()
            .load_snapshot(&account)
            .expect("load snapshot")
            .is_some()
    );

    // `Never` turns a type's snapshots off again.
    let repo = repo.with_snapshots::<BankAccount>(SnapshotPolicy::Never);
    assert_eq!(repo.snapshot_policy::<BankAccount>(), SnapshotPolicy::Never);
}

#[test]
fn time_travel_to_the_snapshots_own_version_starts_from_it() {
    let repo = AggregateRepository::new(CountingStore::new(InMemoryEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(4));
    let id = account_id("travel-at-snapshot");
    save_deposits(&repo, &id, 5); // versions 1..=6, snapshot at 4
    repo.store().take_loaded();
    let at = repo
        .load_at::<BankAccount>(&id, 4)
        .expect("at the snapshot");
    assert_eq!((at.version(), at.balance), (4, 3));
    assert_eq!(
        repo.store().take_loaded(),
        0,
        "the snapshot is the version asked for: no event replayed"
    );
}

#[test]
fn a_repository_that_keeps_no_snapshots_of_a_type_never_reads_one() {
    let store = Arc::new(CountingStore::new(InMemoryEventStore::new()));
    let snapshotting = AggregateRepository::shared(Arc::clone(&store))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(2));
    let id = account_id("never-read");
    save_deposits(&snapshotting, &id, 3); // versions 1..=4, snapshot at 4
    store.take_loaded();
    store.take_snapshot_reads();

    let without = AggregateRepository::shared(Arc::clone(&store));
    let never = AggregateRepository::shared(Arc::clone(&store))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(0));
    for repo in [&without, &never] {
        let account = repo.load::<BankAccount>(&id).expect("load");
        assert_eq!((account.version(), account.balance), (4, 3));
        assert_eq!(store.take_snapshot_reads(), 0, "{repo:?}");
        assert_eq!(store.take_loaded(), 4, "every event replayed");
    }

    snapshotting.load::<BankAccount>(&id).expect("load");
    assert_eq!(store.take_snapshot_reads(), 1);
    assert_eq!(store.take_loaded(), 0, "from the snapshot at 4");
}

/// Its snapshot writes fail; everything else is the in-memory store's.
struct SnapshotsFail(InMemoryEventStore);

impl orchestrix::store::EventStore for SnapshotsFail {
    fn save(
        &self,
        aggregate_id: &str,
        events: &[orchestrix::message::AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<orchestrix::store::AppendOutcome, StoreError> {
        self.0.save(aggregate_id, events, expected_version)
    }

    fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<orchestrix::store::RecordedEvent>, StoreError> {
        self.0.load(aggregate_id, from_version)
    }

    fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<orchestrix::store::RecordedEvent>, StoreError> {
        self.0.read_all(from_position, limit)
    }

    fn save_snapshot(&self, _snapshot: orchestrix::store::Snapshot) -> Result<(), StoreError> {
        Err(StoreError::Configuration(
            "the snapshot table is read-only".into(),
        ))
    }

    fn load_snapshot(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<orchestrix::store::Snapshot>, StoreError> {
        self.0.load_snapshot(aggregate_id)
    }
}

#[test]
fn a_snapshot_that_cannot_be_written_is_a_warning_and_the_events_are_saved() {
    let repo = AggregateRepository::new(SnapshotsFail(InMemoryEventStore::new()))
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(1));
    let id = account_id("snapshot-fails");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    let (saved, logs) = capture_logs(|| repo.save(&mut account));
    assert_eq!(saved.expect("the events are saved").new_version, 1);
    assert!(
        logs.contains("events saved, but the snapshot was not")
            && logs.contains(&id)
            && logs.contains("the snapshot table is read-only"),
        "{logs}"
    );
    assert_eq!(repo.load::<BankAccount>(&id).expect("load").version(), 1);
}

#[test]
fn a_repository_shows_its_snapshot_policies() {
    let repo = AggregateRepository::new(InMemoryEventStore::new())
        .with_snapshots::<BankAccount>(SnapshotPolicy::every(3));
    let shown = format!("{repo:?}");
    assert!(
        shown.contains("snapshots: {\"BankAccount\": EveryNEvents(3)}"),
        "{shown}"
    );
}
