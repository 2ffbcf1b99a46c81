//! Event stores: append-only streams of events with optimistic concurrency,
//! a global ordered read, and snapshots.
//!
//! [`EventStore`] is the blocking contract, [`AsyncEventStore`] the async
//! one; both keep the same rules:
//!
//! * versions in a stream start at 1 and have no gaps;
//! * `save(stream, events, expected_version)`: `None` appends whatever the
//!   version, `Some(0)` demands that the stream does not exist yet,
//!   `Some(n)` that it is at exactly `n`; a mismatch is a
//!   [`ConcurrencyError`] and nothing is written;
//! * an append is all-or-nothing;
//! * `load(stream, from_version)` returns the events whose version is
//!   `>= from_version`, in order (an unknown stream is empty);
//!   `load_range(stream, from_version, to_version)` the ones with
//!   `from_version <= version <= to_version` (a provided method that filters
//!   `load`; stores override it to stop reading at `to_version`);
//! * `read_all(from_position, limit)` returns events of every stream in
//!   global position order (positions start at 1, `>= from_position`);
//!   a reader following it never skips an event;
//! * one snapshot per stream is kept, the one with the highest version: a
//!   snapshot older than the kept one is ignored (one at the same version
//!   replaces it).

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod types;

pub use memory::{InMemoryAsyncEventStore, InMemoryEventStore};
pub use types::{AppendOutcome, RecordedEvent, Snapshot, StoreError};

pub use crate::error::ConcurrencyError;
use crate::message::AnyEnvelope;

/// The blocking event-store contract. See the [module docs](self) for the rules.
pub trait EventStore: Send + Sync {
    /// Appends `events` to the stream `aggregate_id`, checking
    /// `expected_version` first.
    fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError>;

    /// The stream's events with version `>= from_version`, in order.
    fn load(&self, aggregate_id: &str, from_version: u64)
    -> Result<Vec<RecordedEvent>, StoreError>;

    /// The stream's events with `from_version <= version <= to_version`, in
    /// order: what loading an aggregate as of a past version needs. The
    /// default filters [`load`](Self::load), which still reads the rest of
    /// the stream; override it to stop reading at `to_version`.
    fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.load(aggregate_id, from_version)?;
        events.retain(|event| event.version <= to_version);
        Ok(events)
    }

    /// At most `limit` events of all streams with position `>= from_position`,
    /// in position order.
    fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Keeps `snapshot` as the stream's snapshot, unless the kept one has a
    /// higher version.
    fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;

    /// The stream's latest snapshot, if any.
    fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError>;
}

/// The async event-store contract. See the [module docs](self) for the rules.
#[async_trait::async_trait]
pub trait AsyncEventStore: Send + Sync {
    /// Appends `events` to the stream `aggregate_id`, checking
    /// `expected_version` first.
    async fn save(
        &self,
        aggregate_id: &str,
        events: &[AnyEnvelope],
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError>;

    /// The stream's events with version `>= from_version`, in order.
    async fn load(
        &self,
        aggregate_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The stream's events with `from_version <= version <= to_version`, in
    /// order: what loading an aggregate as of a past version needs. The
    /// default filters [`load`](Self::load), which still reads the rest of
    /// the stream; override it to stop reading at `to_version`.
    async fn load_range(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.load(aggregate_id, from_version).await?;
        events.retain(|event| event.version <= to_version);
        Ok(events)
    }

    /// At most `limit` events of all streams with position `>= from_position`,
    /// in position order.
    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Keeps `snapshot` as the stream's snapshot, unless the kept one has a
    /// higher version.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;

    /// The stream's latest snapshot, if any.
    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError>;
}
