//! What `#[command_handler]` submits through `inventory`, and how a bus
//! finds the one handler of a command.

use std::any::TypeId;
use std::future::Future;
use std::pin::Pin;

use super::handler::CommandHandler;
use super::outcome::{CommandOutcome, CommandRun};
use super::run;
use crate::aggregate::{Aggregate, CommandError};
use crate::bus::{AsyncMessageBus, MessageBus};
use crate::message::Message;
use crate::registry::HandlerFn;

/// What the async pipeline of one command returns, type-erased.
pub type CommandFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CommandOutcome, CommandError>> + Send + 'a>>;

/// A `#[command_handler]` as the buses see it: the command it takes, the
/// aggregate it changes, and its pipeline for each kind of bus.
#[derive(Clone, Copy, Debug)]
pub struct CommandHandlerRegistration {
    /// The handler's name.
    pub name: &'static str,
    /// The command type's registered name.
    pub command_name: &'static str,
    /// `TypeId` of the command type.
    pub command_type: fn() -> TypeId,
    /// The aggregate's `AGGREGATE_TYPE`.
    pub aggregate_name: &'static str,
    /// `TypeId` of the aggregate type.
    pub aggregate_type: fn() -> TypeId,
    /// The aggregate's Rust path, for errors.
    pub aggregate_path: fn() -> &'static str,
    /// `TypeId` of what stands for the handler (for `#[command_handler]`,
    /// the fn item's type): what `.command_handler(f)` looks it up by.
    pub handler_type: fn() -> TypeId,
    /// Its Rust path, for errors and a stable order.
    pub handler_path: fn() -> &'static str,
    /// Load, decide, save, publish on an async bus.
    pub run_async: for<'a> fn(CommandRun<'a, dyn AsyncMessageBus>) -> CommandFuture<'a>,
    /// Load, decide, save, publish on a blocking bus.
    pub run_blocking:
        for<'a> fn(CommandRun<'a, dyn MessageBus>) -> Result<CommandOutcome, CommandError>,
}

impl CommandHandlerRegistration {
    /// The registration of the handler `H`, identified by `handler_type`
    /// (for `#[command_handler]`, the `TypeId` of the fn item, so that
    /// `.command_handler(f)` finds it) and named in errors by
    /// `handler_path`.
    pub const fn new<H: CommandHandler>(
        handler_type: fn() -> TypeId,
        handler_path: fn() -> &'static str,
    ) -> Self {
        Self {
            name: H::NAME,
            command_name: <H::Command as Message>::NAME,
            command_type: TypeId::of::<H::Command>,
            aggregate_name: <H::Aggregate as Aggregate>::AGGREGATE_TYPE,
            aggregate_type: TypeId::of::<H::Aggregate>,
            aggregate_path: std::any::type_name::<H::Aggregate>,
            handler_type,
            handler_path,
            run_async: run::boxed_async::<H>,
            run_blocking: run::blocking::<H>,
        }
    }
}

inventory::collect!(CommandHandlerRegistration);

/// Every `#[command_handler]` linked into the program, sorted by command
/// name, then handler path (inventory gives no order).
pub fn command_handlers() -> Vec<&'static CommandHandlerRegistration> {
    let mut handlers: Vec<_> = inventory::iter::<CommandHandlerRegistration>
        .into_iter()
        .collect();
    handlers.sort_by_key(|registration| (registration.command_name, (registration.handler_path)()));
    handlers
}

/// The `#[command_handler]` registered for the fn (or aggregate method)
/// `handler`, if it is one.
pub fn find_command_handler(handler: HandlerFn) -> Option<&'static CommandHandlerRegistration> {
    inventory::iter::<CommandHandlerRegistration>
        .into_iter()
        .find(|registration| (registration.handler_type)() == handler.type_id)
}
