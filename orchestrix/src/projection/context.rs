//! What a projection handler knows about the event it is applying.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::message::Metadata;
use crate::store::RecordedEvent;

/// Whether a projection is following the store or rebuilding its read
/// model from the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProjectionMode {
    /// Catching up from the checkpoint and following new events.
    Live,
    /// Replaying history into a fresh read model: handlers may skip side
    /// effects (emails, webhooks) that already happened the first time.
    Rebuild,
}

/// The event being applied and how: its position, stream, metadata, the
/// attempt, live or rebuild.
///
/// Cheap to clone (the event's parts are shared).
#[derive(Clone, Debug)]
pub struct ProjectionContext {
    projection: Arc<str>,
    mode: ProjectionMode,
    attempt: u32,
    event: RecordedEvent,
    #[cfg(feature = "postgres")]
    transaction: Option<super::ProjectionTransaction>,
}

impl ProjectionContext {
    pub(crate) fn new(
        projection: Arc<str>,
        mode: ProjectionMode,
        attempt: u32,
        event: RecordedEvent,
    ) -> Self {
        Self {
            projection,
            mode,
            attempt,
            event,
            #[cfg(feature = "postgres")]
            transaction: None,
        }
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn with_transaction(
        mut self,
        transaction: Option<&super::ProjectionTransaction>,
    ) -> Self {
        self.transaction = transaction.cloned();
        self
    }

    /// The transaction the event is applied in, for a projection built with
    /// [`ProjectionEngine::transactional`](super::ProjectionEngine::transactional)
    /// or [`ProjectionEngine::transactional_read_model`](super::ProjectionEngine::transactional_read_model)
    /// (a `#[projection]` handler reaches it through its `&ProjectionContext`
    /// parameter): read-model writes made through it commit together with
    /// the checkpoint. `None` for other projections.
    #[cfg(feature = "postgres")]
    pub fn transaction(&self) -> Option<&super::ProjectionTransaction> {
        self.transaction.as_ref()
    }

    /// The projection's name.
    pub fn projection(&self) -> &str {
        &self.projection
    }

    /// Live or rebuild.
    pub fn mode(&self) -> ProjectionMode {
        self.mode
    }

    /// Whether this is a rebuild (skip side effects).
    pub fn is_rebuild(&self) -> bool {
        self.mode == ProjectionMode::Rebuild
    }

    /// Which try this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The event's global position.
    pub fn position(&self) -> u64 {
        self.event.position
    }

    /// The event's stream (aggregate id).
    pub fn stream_id(&self) -> &str {
        &self.event.stream_id
    }

    /// The event's version in its stream.
    pub fn version(&self) -> u64 {
        self.event.version
    }

    /// The event's registered name.
    pub fn event_type(&self) -> &'static str {
        self.event.event_type()
    }

    /// The event's id (metadata `id`).
    pub fn event_id(&self) -> Uuid {
        self.event.metadata().id
    }

    /// The event's metadata.
    pub fn metadata(&self) -> &Metadata {
        self.event.metadata()
    }

    /// When the store accepted the event.
    pub fn recorded_at(&self) -> OffsetDateTime {
        self.event.recorded_at
    }

    /// The whole recorded event.
    pub fn event(&self) -> &RecordedEvent {
        &self.event
    }
}
