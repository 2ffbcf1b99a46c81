//! Running the async conformance cases on a blocking store.

use orchestrix::message::AnyEnvelope;
use orchestrix::store::{
    AppendOutcome, AsyncEventStore, EventStore, EventTypeFilter, GlobalPage, RawRecordedEvent,
    RecordedEvent, ReplayedEvent, Snapshot, StoreError,
};
use std::ops::ControlFlow;

/// Wraps a blocking [`EventStore`] as an [`AsyncEventStore`] by calling it
/// inline, so the one conformance suite also checks blocking stores.
///
/// Only for stores whose calls are short (in-memory ones): a store that
/// blocks on I/O would stall the test runtime's worker.
#[derive(Debug, Default)]
pub struct BlockingStore<S>(pub S);

#[async_trait::async_trait]
impl<S: EventStore> AsyncEventStore for BlockingStore<S> {
    async fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        self.0.save(aggregate_id, events, expected_version)
    }

    async fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.load(aggregate_id, from_version)
    }

    async fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.load_range(aggregate_id, from_version, to_version)
    }

    async fn replay(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
        apply: &mut (dyn for<'e> FnMut(ReplayedEvent<'e>) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        self.0.replay(aggregate_id, from_version, to_version, apply)
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_all(from_position, limit)
    }

    async fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        self.0.read_all_filtered(from_position, limit, filter)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.0.save_snapshot(snapshot)
    }

    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.0.load_snapshot(aggregate_id)
    }

    async fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        self.0.read_all_raw(from_position, limit)
    }

    async fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        self.0.stream_version(aggregate_id)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping()
    }
}
