//! What can go wrong around a saga, as opposed to inside one: a step that
//! fails is recorded in the [`SagaState`](super::SagaState), not returned
//! as an error.

use time::OffsetDateTime;

use crate::error::BoxError;
use crate::limits::LimitError;

/// A saga state store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SagaStoreError {
    /// The caller no longer holds the saga's lease: another process took the
    /// saga over after the lease expired. The caller must stop working on it.
    #[error("saga `{saga_id}`: lease of `{owner}` was lost (another process took the saga over)")]
    LeaseLost {
        /// The saga.
        saga_id: String,
        /// The owner that lost it.
        owner: String,
    },
    /// The caller could not confirm its lease in time: renewals failed or
    /// did not answer before the lease, less its safety margin, ran out. So
    /// another process may take the saga over, and the caller stopped
    /// working on it (the step it was running was stopped; its outcome is
    /// unknown, as after a crash). Resume the saga once the store answers.
    #[error(
        "saga `{saga_id}`: the lease of `{owner}` could not be renewed before it ran out, so work on the saga stopped{}",
        source.as_ref().map(|error| format!(": {error}")).unwrap_or_else(|| " (the store did not answer in time)".to_owned())
    )]
    LeaseNotRenewed {
        /// The saga.
        saga_id: String,
        /// The owner whose lease ran out.
        owner: String,
        /// The last failed renewal's error; `None` when the store did not
        /// answer in time.
        #[source]
        source: Option<Box<SagaStoreError>>,
    },
    /// No saga is stored under this id.
    #[error("saga `{saga_id}` is not in the state store")]
    NotFound {
        /// The saga.
        saga_id: String,
    },
    /// A stored saga state does not decode.
    #[error("saga `{saga_id}`: stored state does not decode: {source}")]
    Malformed {
        /// The saga.
        saga_id: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The store's configuration is invalid (e.g. a connection string that
    /// does not parse, a schema name that is not a plain identifier).
    #[error("invalid saga state store configuration: {0}")]
    Configuration(String),
    /// The backend cannot be reached (or went away) while doing `operation`.
    #[error("saga state store unreachable at {target} while trying to {operation}: {source}")]
    Unavailable {
        /// What the store was doing.
        operation: &'static str,
        /// Host and port (never the password).
        target: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// An id, a JSON value or a text breaks one of the store
    /// [limits](crate::limits) (the same on every backend); nothing was
    /// written.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The backend (database) failed.
    #[error("saga state store failed to {operation} (saga `{saga_id}`): {source}")]
    Backend {
        /// What the store was doing.
        operation: &'static str,
        /// The saga, or `-` for operations on many.
        saga_id: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

/// A saga could not be defined, started or resumed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SagaError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] SagaStoreError),
    /// Two steps of one saga have the same name; names key the stored state
    /// and the idempotency keys, so they must differ.
    #[error("saga `{saga_type}` has two steps named `{step}`; give one of them another name")]
    DuplicateStepName {
        /// The saga type.
        saga_type: String,
        /// The repeated name.
        step: String,
    },
    /// A step has an empty name.
    #[error("saga `{saga_type}`: step #{index} has an empty name")]
    EmptyStepName {
        /// The saga type.
        saga_type: String,
        /// The step's position (0-based).
        index: usize,
    },
    /// Another process holds the saga's lease and is running it.
    #[error("saga `{saga_id}` is being run by `{owner}` (lease until {expires_at})")]
    Busy {
        /// The saga.
        saga_id: String,
        /// The lease holder.
        owner: String,
        /// When the lease runs out unless renewed.
        expires_at: OffsetDateTime,
    },
    /// No saga is stored under this id.
    #[error("saga `{saga_id}` is not in the state store")]
    UnknownSaga {
        /// The saga.
        saga_id: String,
    },
    /// The id is taken by a saga of another type.
    #[error("saga `{saga_id}` is stored as type `{stored}`, not `{expected}`")]
    SagaTypeMismatch {
        /// The saga.
        saga_id: String,
        /// The stored type.
        stored: String,
        /// The type of the saga asked to run it.
        expected: String,
    },
    /// The stored saga has other steps than the definition asked to resume it.
    #[error(
        "saga `{saga_id}` was stored with steps {stored:?}, but its definition now has {defined:?}"
    )]
    DefinitionChanged {
        /// The saga.
        saga_id: String,
        /// Step names in the store.
        stored: Vec<String>,
        /// Step names in the definition.
        defined: Vec<String>,
    },
    /// The saga's data does not serialize, or the stored data does not
    /// deserialize into the saga's data type.
    #[error("saga `{saga_id}`: data does not {direction} `{data_type}`: {source}")]
    Data {
        /// The saga.
        saga_id: String,
        /// "serialize from" or "deserialize into".
        direction: &'static str,
        /// The Rust data type.
        data_type: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// Recovery found a saga whose type no registered saga handles.
    #[error("saga `{saga_id}` has type `{saga_type}`, which no `register_saga!` registers")]
    UnregisteredSagaType {
        /// The saga.
        saga_id: String,
        /// Its type.
        saga_type: String,
    },
    /// A registration's build fn made a saga of another type than the one
    /// it was registered under, so recovery would resume sagas with the
    /// wrong definition.
    #[error(
        "`register_saga!` in `{module}` registers saga type `{registered}`, but its build fn makes a saga of type `{built}`; register it under `{built}` or build the saga with `{registered}`"
    )]
    RegistrationMismatch {
        /// The type it was registered under.
        registered: String,
        /// The type of the saga the build fn made.
        built: String,
        /// The registering module.
        module: &'static str,
    },
    /// A registered saga's build fn failed (e.g. its `Saga::new` refused
    /// the definition), so its sagas cannot be resumed.
    #[error("the saga `{saga_type}` registered in `{module}` cannot be built: {reason}")]
    Unbuildable {
        /// The saga type.
        saga_type: String,
        /// The registering module.
        module: &'static str,
        /// Why its build fn failed.
        reason: String,
    },
    /// Two registrations claim one saga type.
    #[error(
        "saga type `{saga_type}` is registered twice, in `{first}` and in `{second}`; register it once"
    )]
    DuplicateRegistration {
        /// The contested type.
        saga_type: String,
        /// One registering module.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
}
