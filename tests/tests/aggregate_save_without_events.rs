//! Saving an aggregate with no new events writes nothing: it is `Ok` even
//! when the aggregate is out of date (a save would conflict), and the store
//! is not called at all. Checked with a store that counts its `save` calls,
//! since the in-memory store ignores empty appends anyway.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use orchestrix::aggregate::testing::AggregateTest;
use orchestrix::message::AnyEnvelope;
use orchestrix::prelude::*;
use orchestrix::store::{
    AppendOutcome, AsyncEventStore, EventStore, InMemoryAsyncEventStore, InMemoryEventStore,
    RecordedEvent, Snapshot, StoreError,
};
use support::*;

/// Counts `save` calls; everything else is the inner store's.
#[derive(Debug, Default)]
struct SaveCounter<S> {
    inner: S,
    saves: AtomicUsize,
}

impl<S> SaveCounter<S> {
    fn saves(&self) -> usize {
        self.saves.load(Ordering::SeqCst)
    }
}

impl<S: EventStore> EventStore for SaveCounter<S> {
    fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(aggregate_id, events, expected_version)
    }
    fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.load(aggregate_id, from_version)
    }
    fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from_position, limit)
    }
    fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot)
    }
    fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(aggregate_id)
    }
}

#[orchestrix::__private::async_trait::async_trait]
impl<S: AsyncEventStore> AsyncEventStore for SaveCounter<S> {
    async fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner
            .save(aggregate_id, events, expected_version)
            .await
    }
    async fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.load(aggregate_id, from_version).await
    }
    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from_position, limit).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(aggregate_id).await
    }
}

#[test]
fn an_out_of_date_aggregate_with_no_new_events_saves_without_calling_the_store() {
    let repo = AggregateRepository::new(SaveCounter::<InMemoryEventStore>::default());
    let id = account_id("stale-nothing");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    repo.save(&mut account).expect("opened");
    let mut stale = repo.load::<BankAccount>(&id).expect("loads");
    let mut current = repo.load::<BankAccount>(&id).expect("loads");
    deposit(&mut current, 5).expect("deposits");
    repo.save(&mut current).expect("deposited");
    let saves = repo.store().saves();

    let outcome = repo
        .save(&mut stale)
        .expect("nothing to save is no conflict");
    assert_eq!(outcome.new_version, 1, "the aggregate's own version");
    assert!(outcome.positions.is_empty());
    assert_eq!(repo.store().saves(), saves, "the store was not called");
    assert_eq!(stale.version(), 1);
}

#[tokio::test]
async fn an_out_of_date_aggregate_with_no_new_events_saves_without_calling_the_async_store() {
    let repo = AggregateRepository::new(SaveCounter::<InMemoryAsyncEventStore>::default());
    let id = account_id("stale-nothing-async");
    let mut account = AggregateRoot::<BankAccount>::new(&id);
    open(&mut account, "Ada");
    repo.save_async(&mut account).await.expect("opened");
    let mut stale = repo.load_async::<BankAccount>(&id).await.expect("loads");
    let mut current = repo.load_async::<BankAccount>(&id).await.expect("loads");
    deposit(&mut current, 5).expect("deposits");
    repo.save_async(&mut current).await.expect("deposited");
    let saves = repo.store().saves();

    let outcome = repo
        .save_async(&mut stale)
        .await
        .expect("nothing to save is no conflict");
    assert_eq!(outcome.new_version, 1, "the aggregate's own version");
    assert!(outcome.positions.is_empty());
    assert_eq!(repo.store().saves(), saves, "the store was not called");
}

#[test]
fn given_events_advance_the_aggregate_version() {
    let outcome = AggregateTest::<BankAccount>::with_id("acc-given")
        .given(AccountOpened {
            owner: "Ada".into(),
        })
        .given(Deposited { amount: 50 })
        .given_events([envelope(Deposited { amount: 1 })])
        .when(|account| deposit(account, 20))
        .then_expect_events(&[&Deposited { amount: 20 }]);
    let root = outcome.into_root();
    assert_eq!(root.version(), 3, "three past events");
    assert_eq!(root.pending_version(), 4);
    assert_eq!(root.state().balance, 71);
}
