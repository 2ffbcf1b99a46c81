//! The values event stores take and give back.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{BoxError, ConcurrencyError, DecodeError, RegistryError};
use crate::message::{AnyEnvelope, Envelope, Event, Metadata};

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
    #[error("stream `{stream_id}` version {version}: {source}")]
    Decode {
        /// The stream.
        stream_id: String,
        /// The event's version in the stream.
        version: u64,
        /// What went wrong.
        #[source]
        source: DecodeError,
    },
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

/// A stored event, not decoded: what a reader gets for a row it cannot (or
/// need not) decode.
#[derive(Clone, Debug)]
pub struct RawRecordedEvent {
    /// The stream the event belongs to.
    pub stream_id: Arc<str>,
    /// Its version in the stream, from 1.
    pub version: u64,
    /// Its position in the global stream, from 1.
    pub position: u64,
    /// When the store accepted it.
    pub recorded_at: OffsetDateTime,
    /// The registered event name it was stored under.
    pub event_type: String,
    /// The schema version of its payload.
    pub schema_version: u32,
    /// The stored JSON text of the event.
    pub payload: String,
    /// The stored JSON text of its metadata.
    pub metadata: String,
}
