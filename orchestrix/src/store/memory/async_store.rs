//! The async face of the in-memory store.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use super::state::MemoryState;
use crate::message::AnyEnvelope;
use crate::store::{
    AppendOutcome, AsyncEventStore, EventTypeFilter, GlobalPage, RawRecordedEvent, RecordedEvent,
    ReplayedEvent, Snapshot, StoreError,
};

/// A thread-safe [`AsyncEventStore`] that keeps everything in memory.
///
/// The same core and the same rules as
/// [`InMemoryEventStore`](super::InMemoryEventStore); every call completes
/// without waiting (the lock is never held across an `.await`). Cloning the
/// store shares its contents.
///
/// ```
/// use orchestrix::prelude::*;
/// use orchestrix::store::memory::InMemoryAsyncEventStore;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct Deposited { amount: u64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// let store = InMemoryAsyncEventStore::new();
/// store.save("acc-1", &[Envelope::new(Deposited { amount: 5 }).into()], None).await?;
/// let events = store.load("acc-1", 1).await?;
/// assert_eq!(events.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct InMemoryAsyncEventStore {
    state: Arc<MemoryState>,
}

impl InMemoryAsyncEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends events in their stored form (name, schema version, JSON
    /// payload), e.g. rows of an older store or the old shape of an event
    /// in a test of its upcasters. They are kept undecoded and decoded when
    /// read, through the event registry, exactly as a database store reads
    /// its rows: upcasters, aliases and splits apply, and a row that does
    /// not decode is a [`StoreError::Decode`] on read. Same version rule as
    /// `save`.
    pub fn import(
        &self,
        aggregate_id: &str,
        events: &[crate::evolution::StoredEvent],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.state.import(aggregate_id, events, expected_version)
    }
}

#[async_trait::async_trait]
impl AsyncEventStore for InMemoryAsyncEventStore {
    async fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.state.save(aggregate_id, events, expected_version)
    }

    async fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.state.load(aggregate_id, from_version)
    }

    async fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.state
            .load_range(aggregate_id, from_version, to_version)
    }

    async fn replay(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
        apply: &mut (dyn for<'e> FnMut(ReplayedEvent<'e>) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        self.state
            .replay(aggregate_id, from_version, to_version, apply)
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.state.read_all(from_position, limit)
    }

    async fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        self.state.read_all_filtered(from_position, limit, filter)
    }

    async fn wait_for_append(
        &self,
        after_position: u64,
        max_wait: Duration,
    ) -> Result<(), StoreError> {
        self.state.wait_for_append(after_position, max_wait).await;
        Ok(())
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.state.save_snapshot(snapshot)
    }

    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.state.load_snapshot(aggregate_id)
    }

    async fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        self.state.read_all_raw(from_position, limit)
    }

    async fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        self.state.stream_version(aggregate_id)
    }
}
