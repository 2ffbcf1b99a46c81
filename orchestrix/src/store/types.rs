//! The values event stores take and give back.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{BoxError, ConcurrencyError, DecodeError, RegistryError};
use crate::limits::LimitError;
use crate::message::{AnyEnvelope, AnyMessage, Envelope, Event, Metadata};

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The stream's version after the append (unchanged for an empty append).
    pub new_version: u64,
    /// The global position given to each appended event, in order.
    pub positions: Vec<u64>,
}

/// One event as the store keeps it: where it sits (stream, version, global
/// position) and the event itself with its metadata.
#[derive(Clone, Debug)]
pub struct RecordedEvent {
    /// The stream (aggregate id) the event belongs to; shared by every
    /// event of the stream that a store hands out together, so loading a
    /// stream allocates its id once, not once per event.
    pub stream_id: Arc<str>,
    /// Its version in the stream, from 1.
    pub version: u64,
    /// Its position in the global stream, from 1.
    pub position: u64,
    /// When the store accepted it.
    pub recorded_at: OffsetDateTime,
    /// The event and its metadata.
    pub envelope: AnyEnvelope,
}

impl RecordedEvent {
    /// The event's registered name.
    pub fn event_type(&self) -> &'static str {
        self.envelope.message_name()
    }

    /// The event's metadata.
    pub fn metadata(&self) -> &Metadata {
        self.envelope.metadata()
    }

    /// The event as an `E`, if it is one.
    pub fn downcast_ref<E: Event>(&self) -> Option<&E> {
        self.envelope.downcast_ref::<E>()
    }

    /// The typed envelope, if the event is an `E`.
    pub fn downcast<E: Event>(&self) -> Option<Envelope<E>> {
        self.envelope.downcast::<E>()
    }
}

/// One event of a stream replay ([`EventStore::replay`](super::EventStore::replay),
/// [`AsyncEventStore::replay`](super::AsyncEventStore::replay)): what
/// rebuilding an aggregate needs of a stored event, its version and its
/// decoded message, borrowed for the time of one call of the replay's
/// callback.
///
/// It exists so that a load need not build a [`RecordedEvent`] per event:
/// an aggregate's `#[apply]` methods read the message only, never the
/// metadata, the global position or the time the store accepted it, so a
/// replay leaves them undecoded (a store that keeps the message decoded
/// hands it out as it is, without a copy).
///
/// A [`RecordedEvent`] converts into one (`ReplayedEvent::from(&recorded)`
/// or [`ReplayedEvent::of`]), e.g. to apply it by hand with
/// [`Aggregate::apply_replayed`](crate::aggregate::Aggregate::apply_replayed).
/// It is `#[non_exhaustive]` (fields may be added): build one with
/// [`new`](Self::new).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ReplayedEvent<'a> {
    /// Its version in the stream, from 1 (the events an upcaster split one
    /// stored event into share its version).
    pub version: u64,
    /// The event.
    pub message: &'a dyn AnyMessage,
}

impl<'a> ReplayedEvent<'a> {
    /// The event at `version`.
    pub fn new(version: u64, message: &'a dyn AnyMessage) -> Self {
        Self { version, message }
    }

    /// The replayed form of a recorded event.
    pub fn of(event: &'a RecordedEvent) -> Self {
        Self::new(event.version, event.envelope.message())
    }

    /// The event's registered name.
    pub fn event_type(&self) -> &'static str {
        self.message.message_name()
    }

    /// The event as an `E`, if it is one.
    pub fn downcast_ref<E: Event>(&self) -> Option<&'a E> {
        let message: &'a dyn std::any::Any = self.message;
        message.downcast_ref::<E>()
    }
}

impl<'a> From<&'a RecordedEvent> for ReplayedEvent<'a> {
    fn from(event: &'a RecordedEvent) -> Self {
        Self::of(event)
    }
}

/// A stored event as it is kept, not decoded: what a reader gets for a row
/// it cannot (or need not) decode, e.g. to park a poison event and carry on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecordedEvent {
    /// The stream (aggregate id) the event belongs to.
    pub stream_id: Arc<str>,
    /// Its version in the stream, from 1.
    pub version: u64,
    /// Its position in the global stream, from 1.
    pub position: u64,
    /// When the store accepted it.
    pub recorded_at: OffsetDateTime,
    /// The stored event type name.
    pub event_type: String,
    /// The stored schema version of the payload.
    pub schema_version: u32,
    /// The stored JSON text of the event.
    pub payload: String,
    /// The stored JSON text of its metadata (a CloudEvents context), as
    /// [`Metadata`] serializes it.
    ///
    /// A store that keeps the metadata in a binary form (PostgreSQL's
    /// `context` column, the only copy of it in rows appended since schema
    /// version 4) gives it as that JSON. When those bytes do not decode,
    /// the row is still read (raw reads are how a reader gets past a
    /// poison event): its metadata is then the JSON object
    /// `{"undecodable_context": "<the stored bytes in hex>", "error":
    /// "<why they do not decode>"}`, which is not a CloudEvents context;
    /// a load or [`read_all`](crate::store::AsyncEventStore::read_all) of the
    /// row fails with [`StoreError::Decode`].
    pub metadata: String,
}

impl RawRecordedEvent {
    /// The raw form of a decoded event: its payload and metadata serialized
    /// as a store keeps them.
    pub fn from_recorded(event: &RecordedEvent) -> Result<Self, StoreError> {
        let message = event.envelope.message();
        let failed = |source| StoreError::Serialize {
            stream_id: event.stream_id.to_string(),
            event_type: event.event_type().to_owned(),
            source,
        };
        let payload = message.to_json_bytes().map_err(failed)?;
        Ok(Self {
            stream_id: Arc::clone(&event.stream_id),
            version: event.version,
            position: event.position,
            recorded_at: event.recorded_at,
            event_type: event.event_type().to_owned(),
            schema_version: message.message_version(),
            payload: String::from_utf8_lossy(&payload).into_owned(),
            metadata: serde_json::to_string(event.metadata()).map_err(failed)?,
        })
    }
}

/// The serialized state of an aggregate at a version, so loading can skip
/// replaying the events up to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The stream (aggregate id).
    pub aggregate_id: String,
    /// The aggregate's type name.
    pub aggregate_type: String,
    /// The stream version the state includes.
    pub version: u64,
    /// The aggregate's state, serialized.
    pub state: serde_json::Value,
    /// When the snapshot was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
}

/// Why an event-store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stream was not at the expected version; nothing was written.
    #[error(transparent)]
    Concurrency(#[from] ConcurrencyError),
    /// A stored event could not be turned back into its Rust type.
    ///
    /// It names the row, so a reader of the global stream is never stuck
    /// behind it: read the events before it (`read_all(from, position -
    /// from)`), read the row itself undecoded with
    /// [`read_all_raw(position, 1)`](super::AsyncEventStore::read_all_raw)
    /// (to park or repair it), and continue at `position + 1`.
    #[error(
        "stream `{stream_id}` version {version}{}: event `{event_type}` does not decode: {source}",
        position.map(|p| format!(" (global position {p})")).unwrap_or_default()
    )]
    Decode {
        /// The stream.
        stream_id: String,
        /// The event's version in the stream.
        version: u64,
        /// The event's global position, when the store knows it.
        position: Option<u64>,
        /// The stored event type name.
        event_type: String,
        /// What went wrong.
        #[source]
        source: DecodeError,
    },
    /// An id, a JSON value or a text breaks one of the store
    /// [limits](crate::limits) (the same on every backend); nothing was
    /// written.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// An event or snapshot could not be serialized; nothing was written.
    #[error("stream `{stream_id}`: event `{event_type}` does not serialize: {source}")]
    Serialize {
        /// The stream.
        stream_id: String,
        /// The event's name.
        event_type: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The store's configuration is invalid.
    #[error("invalid event store configuration: {0}")]
    Configuration(String),
    /// The event-type registry is inconsistent (two Rust types under one
    /// event name), found when the store is initialized: events under that
    /// name could not be read back unambiguously.
    #[error("event store not initialized: {0}")]
    Registry(#[from] RegistryError),
    /// The store could not be reached.
    #[error("event store unreachable at {target}: {source}")]
    Unavailable {
        /// What was tried (a host and port, a URL with the password removed).
        target: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The backend failed while doing `operation`; the call had no effect
    /// unless the backend says otherwise.
    #[error("event store failed to {operation}: {source}")]
    Backend {
        /// What the store was doing, e.g. "append to stream `acc-1`".
        operation: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}
