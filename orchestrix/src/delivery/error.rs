//! What can go wrong when building or running durable delivery.

use crate::bus::BusBuildError;
use crate::error::BoxError;
use crate::projection::ProjectionError;
use crate::store::StoreError;

use super::store::DeliveryStoreError;

/// Why a [`Dispatcher`](super::Dispatcher) could not be built, or a call on
/// it failed. Each variant names the handler and position concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// Building: a handler needs a dependency the dispatcher lacks, two
    /// event types share a name, ...
    #[error("durable delivery: {0}")]
    Build(#[from] BusBuildError),
    /// Building: two different handlers share a name (their parked events
    /// and processed ids are kept under it).
    #[error(
        "durable delivery: two handlers are named `{name}` ({first} and {second}); give one another name with `#[event_handler(name = \"...\")]`"
    )]
    DuplicateHandler {
        /// The name.
        name: String,
        /// One handler's Rust path.
        first: &'static str,
        /// The other's.
        second: &'static str,
    },
    /// No durable handler is named so.
    #[error("durable delivery: no durable handler is named `{handler}`")]
    UnknownHandler {
        /// The name asked for.
        handler: String,
    },
    /// The handler has no parked event at that position.
    #[error("durable delivery: handler `{handler}` has no parked event at position {position}")]
    NotParked {
        /// The handler.
        handler: String,
        /// The position.
        position: u64,
    },
    /// The parked event is no longer in the event store.
    #[error("durable delivery: the event at position {position} is not in the event store")]
    EventGone {
        /// The position.
        position: u64,
    },
    /// The handler failed again on a replayed event (it stays parked).
    #[error(
        "durable delivery: handler `{handler}` failed on the event at position {position} after {attempts} attempt(s): {source}"
    )]
    HandlerFailed {
        /// The handler.
        handler: String,
        /// The event's position.
        position: u64,
        /// How many attempts this replay made.
        attempts: u32,
        /// The last error.
        #[source]
        source: BoxError,
    },
    /// The delivery store failed.
    #[error(transparent)]
    Store(#[from] DeliveryStoreError),
    /// The event store failed.
    #[error("durable delivery: reading the event store failed: {0}")]
    Events(#[from] StoreError),
    /// A handler group stopped.
    #[error(transparent)]
    Group(#[from] ProjectionError),
    /// The task a [`RunningDispatcher`](super::RunningDispatcher) ran on
    /// panicked or was cancelled.
    #[error("durable delivery: the dispatcher's task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}
