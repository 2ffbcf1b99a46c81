//! The pipeline of a command handler: load (or start) the aggregate, decide,
//! save with optimistic concurrency, publish with the command as cause; on a
//! conflict, run it all again while the handler allows.

use super::handler::CommandHandler;
use super::outcome::{AsyncRepository, BlockingRepository, CommandOutcome, CommandRun};
use super::registration::CommandFuture;
use crate::aggregate::{AggregateRoot, CommandError, RepositoryError};
use crate::bus::{AsyncMessageBus, MessageBus};
use crate::message::{Message, Metadata};
use crate::store::AppendOutcome;

pub(crate) fn boxed_async<'a, H: CommandHandler>(
    run: CommandRun<'a, dyn AsyncMessageBus>,
) -> CommandFuture<'a> {
    Box::pin(run_async::<H>(run))
}

async fn run_async<H: CommandHandler>(
    run: CommandRun<'_, dyn AsyncMessageBus>,
) -> Result<CommandOutcome, CommandError> {
    let (command, cause) = command_of::<H, _>(&run)?;
    let repository = run
        .dependencies
        .get::<AsyncRepository>()
        .ok_or_else(|| no_event_store::<H>("dyn AsyncEventStore"))?;
    let id = H::aggregate_id(command);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut root = match repository.load_async::<H::Aggregate>(&id).await {
            Ok(root) => root,
            Err(missing @ RepositoryError::NotFound { .. }) => start::<H>(&id, missing)?,
            Err(other) => return Err(other.into()),
        };
        H::decide(&mut root, command).map_err(CommandError::Domain)?;
        let saved = repository
            .save_and_publish_async(&mut root, run.bus, cause)
            .await;
        if let Some(outcome) = settle::<H>(saved, &id, attempts)? {
            return Ok(outcome);
        }
    }
}

pub(crate) fn blocking<H: CommandHandler>(
    run: CommandRun<'_, dyn MessageBus>,
) -> Result<CommandOutcome, CommandError> {
    let (command, cause) = command_of::<H, _>(&run)?;
    let repository = run
        .dependencies
        .get::<BlockingRepository>()
        .ok_or_else(|| no_event_store::<H>("dyn EventStore"))?;
    let id = H::aggregate_id(command);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut root = match repository.load::<H::Aggregate>(&id) {
            Ok(root) => root,
            Err(missing @ RepositoryError::NotFound { .. }) => start::<H>(&id, missing)?,
            Err(other) => return Err(other.into()),
        };
        H::decide(&mut root, command).map_err(CommandError::Domain)?;
        let saved = repository.save_and_publish(&mut root, run.bus, cause);
        if let Some(outcome) = settle::<H>(saved, &id, attempts)? {
            return Ok(outcome);
        }
    }
}

/// The typed command and its metadata (the cause of the events).
fn command_of<'a, H: CommandHandler, B: ?Sized>(
    run: &CommandRun<'a, B>,
) -> Result<(&'a H::Command, &'a Metadata), CommandError> {
    let command = run.envelope.downcast_ref::<H::Command>().ok_or_else(|| {
        CommandError::UnexpectedCommand {
            handler: H::NAME,
            expected: <H::Command as Message>::NAME,
            found: run.envelope.message_name(),
        }
    })?;
    Ok((command, run.envelope.metadata()))
}

/// A new aggregate when the handler starts missing ones, else the error.
fn start<H: CommandHandler>(
    id: &str,
    missing: RepositoryError,
) -> Result<AggregateRoot<H::Aggregate>, CommandError> {
    match H::CREATE_IF_MISSING {
        true => Ok(AggregateRoot::new(id)),
        false => Err(missing.into()),
    }
}

/// The outcome of a save: done, `None` to run the command again (a conflict
/// with retries left), or the error.
fn settle<H: CommandHandler>(
    saved: Result<AppendOutcome, CommandError>,
    id: &str,
    attempts: u32,
) -> Result<Option<CommandOutcome>, CommandError> {
    match saved {
        Ok(saved) => Ok(Some(CommandOutcome {
            aggregate_id: id.to_owned(),
            saved,
            attempts,
        })),
        Err(CommandError::Repository(RepositoryError::Concurrency(conflict)))
            if attempts <= H::CONFLICT_RETRIES =>
        {
            tracing::debug!(handler = H::NAME, %conflict, attempts, "conflict; running the command again");
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

fn no_event_store<H: CommandHandler>(store: &'static str) -> CommandError {
    CommandError::NoEventStore {
        handler: H::NAME,
        store,
    }
}
