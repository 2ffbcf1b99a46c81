//! A small bank domain shared by the aggregate tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use orchestrix::message::AnyEnvelope;
use orchestrix::prelude::*;

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "tests.bank.AccountOpened")]
pub struct AccountOpened {
    pub owner: String,
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "tests.bank.Deposited")]
pub struct Deposited {
    pub amount: u64,
}

#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "tests.bank.Withdrawn")]
pub struct Withdrawn {
    pub amount: u64,
}

/// An event the account has no #[apply] method for.
#[derive(Event, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[event(name = "tests.bank.AuditNoted")]
pub struct AuditNoted {
    pub note: String,
}

#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankAccount {
    pub owner: String,
    pub balance: u64,
    pub open: bool,
}

#[aggregate]
impl BankAccount {
    #[apply]
    fn opened(&mut self, event: &AccountOpened) {
        self.owner = event.owner.clone();
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }

    // Applying a recorded fact cannot fail: a replayed withdrawal never
    // underflows, whatever the stored history says.
    #[apply]
    fn withdrawn(&mut self, event: &Withdrawn) {
        self.balance = self.balance.saturating_sub(event.amount);
    }

    /// Decision: opening an account.
    pub fn open(&self, owner: &str) -> AccountOpened {
        AccountOpened {
            owner: owner.to_owned(),
        }
    }

    /// Decision: a deposit into an open account.
    pub fn deposit(&self, amount: u64) -> Result<Deposited, BankError> {
        if !self.open {
            return Err(BankError::Closed);
        }
        Ok(Deposited { amount })
    }

    /// Decision: a withdrawal the balance covers.
    pub fn withdraw(&self, amount: u64) -> Result<Withdrawn, BankError> {
        if !self.open {
            return Err(BankError::Closed);
        }
        if self.balance < amount {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                asked: amount,
            });
        }
        Ok(Withdrawn { amount })
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    #[error("account is closed")]
    Closed,
    #[error("insufficient funds: balance {balance}, asked {asked}")]
    InsufficientFunds { balance: u64, asked: u64 },
}

// Shorthands the tests call on a root: each executes the decision above.

pub fn open(account: &mut AggregateRoot<BankAccount>, owner: &str) {
    account.record(account.open(owner));
}

pub fn deposit(account: &mut AggregateRoot<BankAccount>, amount: u64) -> Result<(), BankError> {
    account.execute(|account| account.deposit(amount))
}

pub fn withdraw(account: &mut AggregateRoot<BankAccount>, amount: u64) -> Result<(), BankError> {
    account.execute(|account| account.withdraw(amount))
}

/// The same account state, tolerant of events it does not know.
#[derive(Default, Debug, Serialize, Deserialize)]
pub struct LenientAccount {
    pub balance: u64,
}

#[aggregate(name = "LenientBankAccount", ignore_unknown_events)]
impl LenientAccount {
    #[apply]
    fn deposited(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

/// A unique stream id per test.
pub fn account_id(test: &str) -> String {
    format!("acc-{test}-{}", uuid::Uuid::new_v4())
}

pub fn envelope<E: Event>(event: E) -> AnyEnvelope {
    Envelope::new(event).into()
}

/// Wraps a store and counts how many events its `load` and `load_range`
/// calls returned (how the snapshot tests prove fewer events were
/// replayed) and how many snapshots were asked for.
#[derive(Debug)]
pub struct CountingStore<S> {
    pub inner: S,
    pub loaded_events: Arc<AtomicU64>,
    pub snapshot_reads: Arc<AtomicU64>,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            loaded_events: Arc::new(AtomicU64::new(0)),
            snapshot_reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The events returned by `load` since the last call.
    pub fn take_loaded(&self) -> u64 {
        self.loaded_events.swap(0, Ordering::SeqCst)
    }

    /// The `load_snapshot` calls since the last call.
    pub fn take_snapshot_reads(&self) -> u64 {
        self.snapshot_reads.swap(0, Ordering::SeqCst)
    }
}

impl<S: EventStore> EventStore for CountingStore<S> {
    fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.inner.save(aggregate_id, events, expected_version)
    }

    fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.load(aggregate_id, from_version)?;
        self.loaded_events
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(events)
    }

    fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self
            .inner
            .load_range(aggregate_id, from_version, to_version)?;
        self.loaded_events
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(events)
    }

    fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from_position, limit)
    }

    fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot)
    }

    fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.snapshot_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_snapshot(aggregate_id)
    }
}

#[async_trait::async_trait]
impl<S: AsyncEventStore> AsyncEventStore for CountingStore<S> {
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

    async fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.load(aggregate_id, from_version).await?;
        self.loaded_events
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(events)
    }

    async fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self
            .inner
            .load_range(aggregate_id, from_version, to_version)
            .await?;
        self.loaded_events
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(events)
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
        self.snapshot_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_snapshot(aggregate_id).await
    }
}
