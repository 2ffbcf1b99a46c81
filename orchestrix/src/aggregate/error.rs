//! What loading and saving aggregates can fail with.

use crate::error::ConcurrencyError;
use crate::store::StoreError;

/// A stored event's type has no `#[apply]` method in the aggregate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "aggregate `{aggregate_type}` cannot apply event `{event_type}` at version {version} of stream \
     `{stream_id}`: it has no #[apply] method for that type; add one, or opt in to skipping \
     unknown events with #[aggregate(ignore_unknown_events)]"
)]
pub struct UnknownEventError {
    /// The aggregate's type name.
    pub aggregate_type: &'static str,
    /// The stream the event was loaded from.
    pub stream_id: String,
    /// The event's version in the stream.
    pub version: u64,
    /// The event's registered name.
    pub event_type: String,
}

/// Why an [`AggregateRepository`](super::AggregateRepository) call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError {
    /// No event was ever stored for the aggregate.
    #[error("aggregate `{aggregate_type}` with id `{aggregate_id}` not found: its stream is empty")]
    NotFound {
        /// The aggregate's type name.
        aggregate_type: &'static str,
        /// The id asked for.
        aggregate_id: String,
    },
    /// `load_at` asked for a version the stream has not reached (or 0).
    #[error(
        "aggregate `{aggregate_type}` with id `{aggregate_id}` has no version {requested}: \
         its stream is at version {current} (versions start at 1)"
    )]
    VersionNotFound {
        /// The aggregate's type name.
        aggregate_type: &'static str,
        /// The id asked for.
        aggregate_id: String,
        /// The version asked for.
        requested: u64,
        /// The stream's current version.
        current: u64,
    },
    /// Somebody else saved the aggregate since it was loaded: nothing was
    /// written; load it again and retry the command.
    #[error(transparent)]
    Concurrency(#[from] ConcurrencyError),
    /// A stored event cannot be applied.
    #[error(transparent)]
    UnknownEvent(#[from] UnknownEventError),
    /// An `#[apply]` method panicked while replaying a stored event. The
    /// panic is caught so that one bad event (or a bug in an `#[apply]`
    /// method, such as an arithmetic overflow) fails this load with the
    /// event's coordinates instead of taking the caller's task down.
    /// Applying a recorded fact must not fail: fix the `#[apply]` method
    /// (e.g. `saturating_sub` instead of `-=`).
    #[error(
        "aggregate `{aggregate_type}` panicked applying event `{event_type}` at version {version} \
         of stream `{stream_id}`: {message}; an #[apply] method must accept every recorded event \
         (use saturating or checked arithmetic, no unwrap)"
    )]
    Apply {
        /// The aggregate's type name.
        aggregate_type: &'static str,
        /// The stream the event was loaded from.
        stream_id: String,
        /// The event's version in the stream.
        version: u64,
        /// The event's registered name.
        event_type: String,
        /// The panic's message (or a placeholder if it carried no text).
        message: String,
    },
    /// The event store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl RepositoryError {
    /// The conflict, if the save lost a race with another writer.
    pub fn as_concurrency(&self) -> Option<&ConcurrencyError> {
        match self {
            Self::Concurrency(conflict) => Some(conflict),
            _ => None,
        }
    }
}

impl From<StoreError> for RepositoryError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Concurrency(conflict) => Self::Concurrency(conflict),
            other => Self::Store(other),
        }
    }
}
