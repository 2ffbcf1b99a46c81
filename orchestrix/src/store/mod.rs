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
//!   `read_all_filtered(from_position, limit, filter)` is the same read
//!   restricted to some event types, and `wait_for_append` lets a follower
//!   sleep until the next append (see [`global`]);
//! * one snapshot per stream is kept, the one with the highest version: a
//!   snapshot older than the kept one is ignored (one at the same version
//!   replaces it);
//! * what a store accepts, it reads back equal; what it could not read back
//!   is refused before anything is written, with the same
//!   [`StoreError::Limit`] on every store (ids, JSON depth, NUL characters:
//!   see [`crate::limits`] and [`checks`]); `recorded_at`, snapshot and saga
//!   times are kept at whole microseconds
//!   ([`crate::limits::stored_precision`]), while PostgreSQL and SQLite
//!   loads return an event's metadata time exactly;
//! * a stored event that does not decode is a [`StoreError::Decode`] naming
//!   its stream, version, global position and type; `read_all_raw` reads
//!   it undecoded, so a reader of the global stream can get past it (see
//!   [`StoreError::Decode`]).

pub mod checks;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) mod context;
pub mod global;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod types;

pub use global::{EventTypeFilter, GlobalPage};

pub use memory::{InMemoryAsyncEventStore, InMemoryEventStore};
pub use types::{
    AppendOutcome, RawRecordedEvent, RecordedEvent, ReplayedEvent, Snapshot, StoreError,
};

use std::ops::ControlFlow;
use std::sync::Arc;

pub use crate::error::ConcurrencyError;
use crate::message::{AnyEnvelope, AnyMessage};

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

    /// Hands the stream's events with `from_version <= version <=
    /// to_version` to `apply`, in version order, as [`ReplayedEvent`]s,
    /// until `apply` breaks: what loading an aggregate needs, and all it
    /// needs (`to_version` = `u64::MAX` reads the whole rest of the
    /// stream). Errors are those of [`load`](Self::load); an unknown
    /// stream hands nothing.
    ///
    /// It exists because a load is mostly replay: an aggregate's `#[apply]`
    /// methods read each event's message, never its metadata, so building
    /// a [`RecordedEvent`] per event (and its metadata) only to drop it is
    /// most of a load's cost. The aggregate repository loads through this
    /// method. The default collects [`load`](Self::load) (or
    /// [`load_range`](Self::load_range) when `to_version` is bounded), so a
    /// custom store works unchanged; the crate's stores override it to
    /// decode only the messages (the in-memory stores share the messages
    /// they keep and call `apply` after releasing their lock, so `apply`
    /// may use the store). Stores that skip the metadata do not check it
    /// either: on PostgreSQL, and in an in-memory store for the events it
    /// keeps decoded, an event whose stored metadata does not decode still
    /// replays; SQLite and imported in-memory events replay through
    /// `load_range`, which decodes (and checks) the metadata.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use orchestrix::prelude::*;
    /// use orchestrix::store::InMemoryEventStore;
    ///
    /// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
    /// struct Deposited { amount: u64 }
    ///
    /// let store = InMemoryEventStore::new();
    /// let events: Vec<AnyEnvelope> =
    ///     (1..=3).map(|amount| Envelope::new(Deposited { amount }).into()).collect();
    /// store.save("acc-1", &events, Some(0))?;
    ///
    /// let mut balance = 0;
    /// store.replay("acc-1", 2, u64::MAX, &mut |event| {
    ///     balance += event.downcast_ref::<Deposited>().map_or(0, |d| d.amount);
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(balance, 5);
    /// # Ok::<(), StoreError>(())
    /// ```
    fn replay(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
        apply: &mut dyn FnMut(ReplayedEvent<'_>) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let events = match to_version {
            u64::MAX => self.load(aggregate_id, from_version)?,
            _ => self.load_range(aggregate_id, from_version, to_version)?,
        };
        replay_recorded(&events, apply);
        Ok(())
    }

    /// At most `limit` events of all streams with position `>= from_position`,
    /// in position order.
    fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// At most `limit` events of all streams with position `>= from_position`
    /// whose type passes `filter`, in position order, and how far the store
    /// scanned (see [`GlobalPage`]).
    ///
    /// The default filters a plain [`read_all`](Self::read_all) of `limit`
    /// events: it decodes every event, also those of other types (so an
    /// event this process cannot decode still fails the read). Stores
    /// override it to skip other types without decoding them.
    fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        let batch = self.read_all(from_position, limit)?;
        Ok(GlobalPage::from_unfiltered(from_position, batch, filter))
    }

    /// Keeps `snapshot` as the stream's snapshot, unless the kept one has a
    /// higher version.
    fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;

    /// The stream's latest snapshot, if any.
    fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError>;

    /// At most `limit` stored events of all streams with position
    /// `>= from_position`, in position order, **not decoded**: the same
    /// rows as [`read_all`](Self::read_all), even those that do not decode,
    /// so a reader can get past a poison event. A store that keeps
    /// serialized rows overrides it to skip decoding; the default serializes
    /// what `read_all` returns (fine for stores that keep decoded events,
    /// which never have a poison row).
    fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        self.read_all(from_position, limit)?
            .iter()
            .map(RawRecordedEvent::from_recorded)
            .collect()
    }

    /// The stream's current version: 0 for a stream that does not exist.
    /// The default loads the stream; stores override it with a cheap read.
    fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        Ok(self
            .load(aggregate_id, 1)?
            .last()
            .map_or(0, |event| event.version))
    }

    /// Checks that the store can be reached: `Ok`, or
    /// [`StoreError::Unavailable`] (within the store's connect timeout). The
    /// default answers `Ok`: a store without a remote backend is always
    /// there.
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
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

    /// Hands the stream's events with `from_version <= version <=
    /// to_version` to `apply`, in version order, as [`ReplayedEvent`]s,
    /// until `apply` breaks: what loading an aggregate needs, and all it
    /// needs. See [`EventStore::replay`] for why it exists and what the
    /// default does; PostgreSQL's selects neither the context nor the time
    /// the store accepted the event, and decodes each payload straight
    /// from its row.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use orchestrix::prelude::*;
    /// use orchestrix::store::InMemoryAsyncEventStore;
    ///
    /// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
    /// struct Deposited { amount: u64 }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = InMemoryAsyncEventStore::new();
    /// let events: Vec<AnyEnvelope> =
    ///     (1..=3).map(|amount| Envelope::new(Deposited { amount }).into()).collect();
    /// store.save("acc-1", &events, Some(0)).await?;
    ///
    /// let mut seen = Vec::new();
    /// store.replay("acc-1", 1, 2, &mut |event| {
    ///     seen.push(event.version);
    ///     ControlFlow::Continue(())
    /// }).await?;
    /// assert_eq!(seen, [1, 2]);
    /// # Ok::<(), StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn replay(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
        apply: &mut (dyn for<'e> FnMut(ReplayedEvent<'e>) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        let events = match to_version {
            u64::MAX => self.load(aggregate_id, from_version).await?,
            _ => {
                self.load_range(aggregate_id, from_version, to_version)
                    .await?
            }
        };
        replay_recorded(&events, apply);
        Ok(())
    }

    /// At most `limit` events of all streams with position `>= from_position`,
    /// in position order.
    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// At most `limit` events of all streams with position `>= from_position`
    /// whose type passes `filter`, in position order, and how far the store
    /// scanned (see [`GlobalPage`]).
    ///
    /// The default filters a plain [`read_all`](Self::read_all) of `limit`
    /// events: it decodes every event, also those of other types (so an
    /// event this process cannot decode still fails the read). Stores
    /// override it to skip other types without decoding them.
    async fn read_all_filtered(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        let batch = self.read_all(from_position, limit).await?;
        Ok(GlobalPage::from_unfiltered(from_position, batch, filter))
    }

    /// Returns when an event with position `> after_position` may have been
    /// appended, or after `max_wait` at the latest (a follower then reads
    /// again: the polling fallback). Spurious wake-ups are allowed.
    ///
    /// The default cannot observe appends: it sleeps `max_wait`, but no
    /// longer than [`DEFAULT_POLL_INTERVAL`](global::DEFAULT_POLL_INTERVAL),
    /// so a follower of such a store polls. Stores override it to wake
    /// followers on append.
    async fn wait_for_append(
        &self,
        after_position: u64,
        max_wait: std::time::Duration,
    ) -> Result<(), StoreError> {
        let _ = after_position;
        tokio::time::sleep(max_wait.min(global::DEFAULT_POLL_INTERVAL)).await;
        Ok(())
    }

    /// Keeps `snapshot` as the stream's snapshot, unless the kept one has a
    /// higher version.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;

    /// The stream's latest snapshot, if any.
    async fn load_snapshot(&self, aggregate_id: &str) -> Result<Option<Snapshot>, StoreError>;

    /// At most `limit` stored events of all streams with position
    /// `>= from_position`, in position order, **not decoded**: the same
    /// rows as [`read_all`](Self::read_all), even those that do not decode,
    /// so a reader can get past a poison event. A store that keeps
    /// serialized rows overrides it to skip decoding; the default serializes
    /// what `read_all` returns (fine for stores that keep decoded events,
    /// which never have a poison row).
    async fn read_all_raw(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RawRecordedEvent>, StoreError> {
        self.read_all(from_position, limit)
            .await?
            .iter()
            .map(RawRecordedEvent::from_recorded)
            .collect()
    }

    /// The stream's current version: 0 for a stream that does not exist.
    /// The default loads the stream; stores override it with a cheap read.
    async fn stream_version(&self, aggregate_id: &str) -> Result<u64, StoreError> {
        Ok(self
            .load(aggregate_id, 1)
            .await?
            .last()
            .map_or(0, |event| event.version))
    }

    /// Checks that the store can be reached: `Ok`, or
    /// [`StoreError::Unavailable`] (within the store's connect timeout). The
    /// default answers `Ok`: a store without a remote backend is always
    /// there.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Hands `events` to `apply` until it breaks: the default
/// [`EventStore::replay`] and [`AsyncEventStore::replay`], and a store's
/// replay of events it decodes as a load does.
pub(crate) fn replay_recorded(
    events: &[RecordedEvent],
    apply: &mut dyn FnMut(ReplayedEvent<'_>) -> ControlFlow<()>,
) {
    for event in events {
        if apply(ReplayedEvent::of(event)).is_break() {
            return;
        }
    }
}

/// Hands each `(version, message)` to `apply` until it breaks: a store's
/// replay of the messages it collected (with no lock or connection held).
pub(crate) fn replay_messages(
    messages: &[(u64, Arc<dyn AnyMessage>)],
    apply: &mut dyn FnMut(ReplayedEvent<'_>) -> ControlFlow<()>,
) {
    for (version, message) in messages {
        if apply(ReplayedEvent::new(*version, &**message)).is_break() {
            return;
        }
    }
}
