//! Projections: the read side of CQRS, turning the global event stream into
//! read models.
//!
//! * [`ProjectionEngine`] holds one projection: its name, one handler per
//!   event type ([`on`](ProjectionEngine::on) async,
//!   [`on_sync`](ProjectionEngine::on_sync) sync), its
//!   [`ProjectionStateStore`]. [`process_events`](ProjectionEngine::process_events)
//!   applies events handed to it; [`run`](ProjectionEngine::run) catches up
//!   from the checkpoint and follows the store live until shut down;
//!   [`rebuild`](ProjectionEngine::rebuild) replays history into a reset
//!   read model; [`ServedReadModel`] switches queries to a new version of a
//!   read model, built under its own name, once it has caught up
//!   (blue/green).
//! * Exactly once: an event at or below the checkpoint is never applied
//!   again, also after a restart; a runner holds the projection's lease, so
//!   a second runner waits and takes over when the first dies.
//! * Failures: stop and mark unhealthy ([`OnFailure::Stop`], the default),
//!   or retry with a [`RetryPolicy`](crate::retry::RetryPolicy) and park the
//!   event as a [`DeadLetter`] ([`OnFailure::Park`]), to be
//!   [replayed](ProjectionEngine::replay_dead_letters) later. A panicking
//!   handler is a failure, not a crash.
//! * [`ProjectionState`] is what a health check reads: checkpoint, counts,
//!   healthy and the last error, lag.
//!
//! The guide is `docs/projections.md`.

mod apply;
mod blue_green;
mod context;
mod engine;
mod error;
pub(crate) mod handler;
mod memory;
mod page;
#[cfg(feature = "postgres")]
mod postgres;
mod read_model;
mod registry;
mod replay;
mod runner;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod state;
mod store;
#[cfg(feature = "postgres")]
mod transaction;

pub use blue_green::{ServedReadModel, SwitchError};
pub use context::{ProjectionContext, ProjectionMode};
pub use engine::{
    DEFAULT_BATCH_SIZE, DEFAULT_LEASE_TTL, DEFAULT_MAX_WAIT, OnFailure, ProjectionEngine,
};
pub use error::{ProjectionError, ProjectionStoreError};
pub use memory::InMemoryProjectionStateStore;
#[cfg(feature = "postgres")]
pub use postgres::{PROJECTION_STATE_MIGRATIONS, PostgreSQLProjectionStateStore};
pub use read_model::{EventPosition, Projection, ProjectionExtract};
pub use registry::{ProjectionRegistration, RegisteredProjections};
pub use replay::ReplayReport;
#[cfg(feature = "sqlite")]
pub use sqlite::{SQLITE_PROJECTION_STATE_MIGRATIONS, SqliteProjectionStateStore};
pub use state::{DeadLetter, ProjectionState};
pub use store::{LeaseOutcome, MAX_LEASE_TTL, ProjectionStateStore};
#[cfg(feature = "postgres")]
pub use transaction::ProjectionTransaction;

/// Names this module adds to `orchestrix::prelude`.
pub mod prelude {
    pub use super::{
        EventPosition, InMemoryProjectionStateStore, OnFailure, ProjectionContext,
        ProjectionEngine, ProjectionError, ProjectionMode, ProjectionState, ProjectionStateStore,
        RegisteredProjections,
    };
}

/// Names this module's macro expansions reach (see `orchestrix::__private`).
#[doc(hidden)]
pub mod __private {
    pub use super::{Projection, ProjectionContext, ProjectionExtract, ProjectionRegistration};
}
