//! Where durable delivery keeps what it knows: the checkpoints of its
//! handler groups (a projection state store), the parked events and the
//! ids idempotent handlers have processed.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::BoxError;
use crate::projection::{ProjectionStateStore, ProjectionStoreError};

/// An event a handler gave up on after its last attempt: parked, so the
/// handler's later events go on, until it is replayed or discarded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParkedEvent {
    /// The handler that failed on it.
    pub handler: String,
    /// The handler's durable group.
    pub group: String,
    /// The event's global position (how to read it again).
    pub position: u64,
    /// The event's stream.
    pub stream_id: String,
    /// The event's version in its stream.
    pub version: u64,
    /// The event's registered name.
    pub event_type: String,
    /// The event's id (metadata `id`); `None` when the event does not decode.
    pub event_id: Option<Uuid>,
    /// The last error, as text (the decode error for an event that does
    /// not decode).
    pub error: String,
    /// How many times the handler ran on it (0: it never could, the event
    /// does not decode).
    pub attempts: u32,
    /// When the first attempt failed.
    #[serde(with = "time::serde::rfc3339")]
    pub first_failed_at: OffsetDateTime,
    /// When it was (last) parked.
    #[serde(with = "time::serde::rfc3339")]
    pub parked_at: OffsetDateTime,
}

/// A delivery store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryStoreError {
    /// The checkpoint store failed.
    #[error(transparent)]
    Checkpoints(#[from] ProjectionStoreError),
    /// A stored row does not decode.
    #[error("delivery store: stored {what} of handler `{handler}` does not decode: {source}")]
    Malformed {
        /// The handler.
        handler: String,
        /// What was being read.
        what: &'static str,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// The backend failed while doing `operation`.
    #[error("delivery store failed to {operation}: {source}")]
    Backend {
        /// What the store was doing.
        operation: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

/// What a [`Dispatcher`](super::Dispatcher) keeps: checkpoints and leases
/// of its handler groups, parked events, processed event ids.
///
/// The rules every implementation keeps (checked by the conformance suite
/// in `orchestrix-tests`, run on every store):
///
/// * parked events are kept per handler and position: parking one at a
///   position again replaces it; they are listed in (handler, position)
///   order, handlers compared by their bytes (as Rust compares `str`,
///   whatever the database's collation), for one handler or all;
/// * `remove_parked` says whether there was one;
/// * `mark_processed` returns `true` the first time for a (handler, event
///   id), `false` after; `is_processed` says whether it was marked; handlers
///   do not share ids.
#[async_trait::async_trait]
pub trait DeliveryStore: Send + Sync + std::fmt::Debug {
    /// Prepares the store (creates tables); safe to call more than once.
    async fn initialize(&self) -> Result<(), DeliveryStoreError>;

    /// Where the handler groups keep their checkpoints and leases.
    fn checkpoints(&self) -> Arc<dyn ProjectionStateStore>;

    /// Parks an event a handler gave up on.
    async fn park(&self, parked: &ParkedEvent) -> Result<(), DeliveryStoreError>;

    /// The parked events of `handler` (all handlers when `None`), in
    /// (handler, position) order, handlers in byte order.
    async fn parked(&self, handler: Option<&str>) -> Result<Vec<ParkedEvent>, DeliveryStoreError>;

    /// Removes a parked event; whether there was one.
    async fn remove_parked(&self, handler: &str, position: u64)
    -> Result<bool, DeliveryStoreError>;

    /// Whether `handler` processed the event `event_id`.
    async fn is_processed(&self, handler: &str, event_id: Uuid)
    -> Result<bool, DeliveryStoreError>;

    /// Records that `handler` processed `event_id`; `false` if it was
    /// recorded already.
    async fn mark_processed(
        &self,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError>;
}

#[async_trait::async_trait]
impl<T: DeliveryStore + ?Sized> DeliveryStore for Arc<T> {
    async fn initialize(&self) -> Result<(), DeliveryStoreError> {
        (**self).initialize().await
    }

    fn checkpoints(&self) -> Arc<dyn ProjectionStateStore> {
        (**self).checkpoints()
    }

    async fn park(&self, parked: &ParkedEvent) -> Result<(), DeliveryStoreError> {
        (**self).park(parked).await
    }

    async fn parked(&self, handler: Option<&str>) -> Result<Vec<ParkedEvent>, DeliveryStoreError> {
        (**self).parked(handler).await
    }

    async fn remove_parked(
        &self,
        handler: &str,
        position: u64,
    ) -> Result<bool, DeliveryStoreError> {
        (**self).remove_parked(handler, position).await
    }

    async fn is_processed(
        &self,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        (**self).is_processed(handler, event_id).await
    }

    async fn mark_processed(
        &self,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        (**self).mark_processed(handler, event_id).await
    }
}
