//! What can go wrong while a projection runs, and in its state store.

use crate::error::BoxError;
use crate::store::StoreError;

/// A projection state store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionStoreError {
    /// The caller no longer holds the projection's lease: another runner
    /// took the projection over after the lease expired. The caller must
    /// stop running it.
    #[error("projection `{projection}`: lease of `{owner}` was lost (another runner took it over)")]
    LeaseLost {
        /// The projection.
        projection: String,
        /// The owner that lost it.
        owner: String,
    },
    /// A stored projection state or parked event does not decode.
    #[error("projection `{projection}`: stored {what} does not decode: {source}")]
    Malformed {
        /// The projection.
        projection: String,
        /// What was being read ("state", "dead letter").
        what: &'static str,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// The store's configuration is invalid.
    #[error("invalid projection state store configuration: {0}")]
    Configuration(String),
    /// The backend failed while doing `operation`.
    #[error("projection state store failed to {operation}: {source}")]
    Backend {
        /// What the store was doing.
        operation: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

/// Why a projection stopped (or could not start).
///
/// Each variant names the projection and, where there is one, the global
/// position and type of the event concerned, so a log line says what to
/// look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// A handler failed (or panicked) on an event, after every retry the
    /// projection allows; the checkpoint stays before the event.
    #[error(
        "projection `{projection}`: handler for `{event_type}` failed at position {position} after {attempts} attempt(s): {source}"
    )]
    Handler {
        /// The projection.
        projection: String,
        /// The event's global position.
        position: u64,
        /// The event's registered name.
        event_type: String,
        /// How many times the handler ran.
        attempts: u32,
        /// What the handler returned (or the panic message).
        #[source]
        source: BoxError,
    },
    /// Reading the event store failed, e.g. an event that no longer
    /// decodes, or the store went away.
    #[error(
        "projection `{projection}`: reading the event store from position {from_position} failed: {source}"
    )]
    Read {
        /// The projection.
        projection: String,
        /// Where the read started.
        from_position: u64,
        /// What the store said (a decode error names the event); boxed, as
        /// a store error is large and this one is rare.
        #[source]
        source: Box<StoreError>,
    },
    /// The checkpoint is beyond the last event of the store (the store was
    /// restored from an older backup, or the projection ran against another
    /// store): the projection refuses to run rather than skip events.
    #[error(
        "projection `{projection}`: checkpoint {checkpoint} is ahead of the event store (no event at or after position {checkpoint}); rebuild the projection or fix the store"
    )]
    CheckpointAhead {
        /// The projection.
        projection: String,
        /// The stored checkpoint.
        checkpoint: u64,
    },
    /// The projection state store failed.
    #[error("projection `{projection}`: state store: {source}")]
    State {
        /// The projection.
        projection: String,
        /// What the state store said.
        #[source]
        source: ProjectionStoreError,
    },
    /// Two handlers were registered for one event type.
    #[error(
        "projection `{projection}`: two handlers for event type `{event_type}`; register one handler per event type"
    )]
    DuplicateHandler {
        /// The projection.
        projection: String,
        /// The event type.
        event_type: String,
    },
    /// Two registered projections share a name.
    #[error(
        "two projections are named `{name}`: `{first}` and `{second}`; give each projection its own name"
    )]
    DuplicateName {
        /// The shared name.
        name: String,
        /// The first projection's read-model type.
        first: String,
        /// The second projection's read-model type.
        second: String,
    },
    /// A parked event to replay is no longer in the event store.
    #[error(
        "projection `{projection}`: parked event at position {position} is no longer in the event store"
    )]
    ParkedEventMissing {
        /// The projection.
        projection: String,
        /// The event's global position.
        position: u64,
    },
}

impl ProjectionError {
    pub(crate) fn state(projection: &str, source: ProjectionStoreError) -> Self {
        Self::State {
            projection: projection.to_owned(),
            source,
        }
    }
}
