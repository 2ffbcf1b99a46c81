//! The blocking face of the in-memory store.

use std::ops::ControlFlow;
use std::sync::Arc;

use super::state::MemoryState;
use crate::message::AnyEnvelope;
use crate::store::{
    AppendOutcome, EventStore, EventTypeFilter, GlobalPage, RawRecordedEvent, RecordedEvent,
    ReplayedEvent, Snapshot, StoreError,
};

/// A thread-safe, blocking [`EventStore`] that keeps everything in memory.
///
/// For tests, prototypes and single-process programs. Nothing is
/// serialized: `load` gives back the very same message `Arc`s that were
/// saved, with metadata equal to the saved metadata (kept compactly and
/// built back, so not the same `Arc`). Cloning the store shares its
/// contents.
///
/// ```
/// use orchestrix::prelude::*;
/// use orchestrix::store::memory::InMemoryEventStore;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct Opened;
///
/// let store = InMemoryEventStore::new();
/// store.save("acc-1", &[Envelope::new(Opened).into()], Some(0))?;
/// // A second "create" of the same stream is a concurrency conflict.
/// let again = store.save("acc-1", &[Envelope::new(Opened).into()], Some(0));
/// assert!(matches!(again, Err(StoreError::Concurrency(_))));
/// # Ok::<(), StoreError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct InMemoryEventStore {
    state: Arc<MemoryState>,
}

impl InMemoryEventStore {
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

impl EventStore for InMemoryEventStore {
    fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.state.save(aggregate_id, events, expected_version)
    }

    fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.state.load(aggregate_id, from_version)
    }

    fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.state
            .load_range(aggregate_id, from_version, to_version)
    }

    fn replay(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
        apply: &mut dyn FnMut(ReplayedEvent<'_>) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.state
            .replay(aggregate_id, from_version, to_version, apply)
    }

    fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.state.read_all(from_position, limit)
    }

    fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        self.state.read_all_filtered(from_position, limit, filter)
    }

    fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.state.save_snapshot(snapshot)
    }

    fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.state.load_snapshot(aggregate_id)
    }

    fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        self.state.read_all_raw(from_position, limit)
    }

    fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        self.state.stream_version(aggregate_id)
    }
}
