//! What `#[command_handler]` implements for each handler: the aggregate and
//! command it joins, how the aggregate id is read from the command, and the
//! decision itself.

use crate::aggregate::{Aggregate, AggregateRoot, IntoEvents};
use crate::error::BoxError;
use crate::message::Command;

/// A command handler: loads `Aggregate` by the id the command names, runs the
/// decision on its state and records the events it returns.
///
/// Implemented by `#[command_handler]` (on a hidden marker type inside the
/// one item it generates beside the fn; the registration records the fn
/// item's `TypeId`, which `.command_handler(f)` looks up); the runtime does
/// the rest (load, save with optimistic concurrency, publish, retry), see
/// [`crate::command`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command handler",
    label = "implemented by `#[command_handler]` for each handler fn",
    note = "mark the decision fn `#[command_handler(aggregate_id = field)]` and subscribe it with \
            `register_handlers()` or `.command_handler(f)`"
)]
pub trait CommandHandler: 'static {
    /// The aggregate the command changes.
    type Aggregate: Aggregate;
    /// The command handled.
    type Command: Command;

    /// The handler's name (errors, duplicates): the fn's path or
    /// `#[command_handler(name = "...")]`.
    const NAME: &'static str;

    /// Start a new aggregate when its stream does not exist
    /// (`#[command_handler(create_if_missing)]`); otherwise a missing stream
    /// is [`RepositoryError::NotFound`](crate::aggregate::RepositoryError::NotFound).
    const CREATE_IF_MISSING: bool = false;

    /// How many times the whole command is run again (load, decide, save)
    /// after losing a race with another writer
    /// (`#[command_handler(retry_on_conflict = N)]`); 0 gives the conflict
    /// back at once.
    const CONFLICT_RETRIES: u32 = 0;

    /// The id of the aggregate the command is for (its stream id).
    fn aggregate_id(command: &Self::Command) -> String;

    /// Runs the decision on the aggregate's state and records its events on
    /// `root`; a domain error records nothing.
    fn decide(
        root: &mut AggregateRoot<Self::Aggregate>,
        command: &Self::Command,
    ) -> Result<(), BoxError>;
}

/// What a command handler may return: `Result<events, E>`, where the events
/// are anything [`IntoEvents`] takes and `E` is an error type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid command handler return type for aggregate `{A}`",
    label = "a command handler returns `Result<events, E>`",
    note = "return `Result<Ev, E>` where `Ev` is an event of `{A}` (or `Option`, a tuple or a `Vec` of them) \
            and `E` implements `std::error::Error + Send + Sync + 'static` \
            (derive it with `#[derive(Debug, thiserror::Error)]`); use `std::convert::Infallible` if it cannot fail"
)]
pub trait Decision<A: Aggregate> {
    /// Records the decided events on `root`, or gives the domain error back.
    fn record_into(self, root: &mut AggregateRoot<A>) -> Result<(), BoxError>;
}

impl<A, T, E> Decision<A> for Result<T, E>
where
    A: Aggregate,
    T: IntoEvents<A>,
    E: DomainError,
{
    fn record_into(self, root: &mut AggregateRoot<A>) -> Result<(), BoxError> {
        root.execute(|_| self.map_err(DomainError::into_box_error))
    }
}

/// The error type of a command handler: anything that converts into a
/// [`BoxError`] (any `std::error::Error + Send + Sync + 'static`, or a
/// `String`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an error type a command handler can return",
    label = "the `E` of `Result<events, E>` must be an error",
    note = "implement `std::error::Error` for `{Self}` (with `Debug` and `Display`; \
            `#[derive(Debug, thiserror::Error)]` does it), or return `std::convert::Infallible`"
)]
pub trait DomainError {
    /// The error, boxed.
    fn into_box_error(self) -> BoxError;
}

#[diagnostic::do_not_recommend]
impl<E: Into<BoxError>> DomainError for E {
    fn into_box_error(self) -> BoxError {
        self.into()
    }
}

/// Runs `decide` on `root`'s state and records what it returned (what the
/// code `#[command_handler]` generates calls).
pub fn decide<A, D>(
    root: &mut AggregateRoot<A>,
    decide: impl FnOnce(&A) -> D,
) -> Result<(), BoxError>
where
    A: Aggregate,
    D: Decision<A>,
{
    let decision = decide(root.state());
    decision.record_into(root)
}

/// A command field that names an aggregate: anything `Display` (a `String`,
/// a `Uuid`, a number).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot name an aggregate",
    label = "the `aggregate_id` field must be text or a displayable id",
    note = "use a `String`, a `Uuid` or another type that implements `std::fmt::Display`"
)]
pub trait AggregateId {
    /// The id as the aggregate's stream id.
    fn to_aggregate_id(&self) -> String;
}

impl<T: std::fmt::Display + ?Sized> AggregateId for T {
    fn to_aggregate_id(&self) -> String {
        self.to_string()
    }
}
