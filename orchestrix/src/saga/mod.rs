//! Sagas: ordered steps over some data, each with an optional compensation,
//! whose state is persisted so that a crash loses nothing.
//!
//! * [`Saga`] runs the steps in order; when one fails, the completed steps
//!   are compensated in reverse order. The saga ends
//!   [`Completed`](SagaStatus::Completed),
//!   [`Compensated`](SagaStatus::Compensated) or
//!   [`Failed`](SagaStatus::Failed) (a compensation failed: needs a person).
//! * [`SagaStep`]s are made from plain sync or async fns with
//!   `#[saga_step(compensate = ...)]` or [`SagaStep::builder`]; a step's
//!   output is kept (as JSON) and handed to its compensation.
//! * [`SagaStateStore`] keeps the [`SagaState`] (per-step status, error
//!   text, attempts, timestamps), written after every transition, under a
//!   lease so that two processes never run one saga.
//!   [`InMemorySagaStateStore`] is the in-memory one.
//! * [`recover_sagas`] resumes every unfinished saga of the types
//!   registered with [`register_saga!`](crate::register_saga).
//!
//! The guide is `docs/sagas.md`.

mod change;
pub mod checks;
mod error;
mod executor;
mod failure;
mod handler;
mod lease;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod registry;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod state;
mod step;
mod store;

pub use change::SagaChange;
pub use error::{SagaError, SagaStoreError};
pub use executor::{DEFAULT_LEASE_TTL, Saga};
pub use failure::PermanentFailure;
pub use handler::{
    ActionFuture, Compensation, CompensationFuture, CompensationResult, StepAction, StepResult,
};
pub use lease::DEFAULT_LEASE_SAFETY_MARGIN;
pub use memory::InMemorySagaStateStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgreSQLSagaStateStore, SAGA_STATE_MIGRATIONS};
pub use registry::{
    DEFAULT_RECOVERY_CONCURRENCY, IntoResumableSaga, RecoveryReport, ResumableSaga,
    SagaRegistration, recover_sagas, recover_sagas_concurrently,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SQLITE_SAGA_STATE_MIGRATIONS, SqliteSagaStateStore};
pub use state::{Lease, SagaState, SagaStatus, StepState, StepStatus};
pub use step::{SagaStep, StepBuilder, StepContext, StepDefinitionError, StepPhase};
pub use store::{CreateOutcome, LeaseOutcome, MAX_LEASE_TTL, SagaStateStore};

#[doc(hidden)]
pub use handler::{AsyncFn1, AsyncFn1Ctx, AsyncFn2, AsyncFn2Ctx, marker};

/// The error a step or compensation returns: any error, boxed. Steps may
/// return their own error types too (anything that converts into it). A
/// failure that retrying cannot fix is wrapped in [`PermanentFailure`]: it
/// is not retried.
pub type StepFailure = crate::error::BoxError;

/// Names this module adds to `orchestrix::prelude`.
pub mod prelude {
    pub use super::{
        InMemorySagaStateStore, PermanentFailure, Saga, SagaError, SagaState, SagaStateStore,
        SagaStatus, SagaStep, StepContext, StepFailure, StepStatus,
    };
}

/// Names this module's macro expansions reach (see `orchestrix::__private`).
#[doc(hidden)]
pub mod __private {
    pub use super::SagaStep;
    pub use super::StepResult;
    pub use crate::retry::RetryPolicy;
}
