//! What a publish reports when handlers fail.

use std::fmt;

use uuid::Uuid;

use crate::error::{BoxError, RegistryError};

/// One handler's failure, kept with its source error.
#[derive(Debug)]
pub struct FailedHandler {
    /// The handler's name (for `#[event_handler]` fns, the fn's path).
    pub handler: String,
    /// What the handler returned (or a description of its panic).
    pub error: BoxError,
}

/// Some handlers of a published message failed. Every handler still ran to
/// its end; this names each one that failed and keeps its error.
#[derive(Debug, thiserror::Error)]
#[error("{} handler(s) failed for message `{message_type}` ({message_id}): {}", failures.len(), FailureList(failures))]
pub struct HandlerError {
    /// The message's registered name.
    pub message_type: String,
    /// The message's id.
    pub message_id: Uuid,
    /// Every failed handler, in registration order.
    pub failures: Vec<FailedHandler>,
}

impl HandlerError {
    /// The names of the failed handlers.
    pub fn failed_handlers(&self) -> impl Iterator<Item = &str> {
        self.failures.iter().map(|failure| failure.handler.as_str())
    }
}

struct FailureList<'a>(&'a [FailedHandler]);

impl fmt::Display for FailureList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, failure) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "`{}`: {}", failure.handler, failure.error)?;
        }
        Ok(())
    }
}

/// A handler's parameter could not be resolved for one call. Reported as
/// that handler's failure in the [`HandlerError`] of the publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The handler asks for a `Dep<T>` the bus does not have.
    #[error(
        "handler `{handler}` needs a dependency of type `{dependency}`, but the bus has none; \
         add it with `.dependency(...)` on the bus builder"
    )]
    MissingDependency {
        /// The handler's name.
        handler: String,
        /// The missing dependency's Rust type.
        dependency: &'static str,
    },
    /// The handler got a message of another type than it handles (a bug in
    /// a hand-made registration: the buses route by type).
    #[error("handler `{handler}` handles `{expected}` but was given a `{found}`")]
    UnexpectedMessage {
        /// The handler's name.
        handler: String,
        /// The type the handler takes.
        expected: &'static str,
        /// The type it was given.
        found: &'static str,
    },
}

/// A bus could not be built from its builder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusBuildError {
    /// A registered handler asks for a `Dep<T>` that was not given to the
    /// builder.
    #[error(
        "handler `{handler}` needs a dependency of type `{dependency}`, but the bus has none; \
         add it with `.dependency(...)` on the bus builder before `.build()`"
    )]
    MissingDependency {
        /// The handler's name.
        handler: String,
        /// The missing dependency's Rust type.
        dependency: &'static str,
    },
    /// Several dependencies are missing (of one handler or of several):
    /// every one is listed, so they can all be added at once.
    #[error(
        "{} dependencies are missing: {}; add each with `.dependency(...)` on the bus builder \
         before `.build()`",
        missing.len(),
        UnmetList(missing)
    )]
    MissingDependencies {
        /// Every missing dependency, by handler, in subscription order.
        missing: Vec<UnmetDependency>,
    },
    /// Two different handler fns are subscribed under one name for one
    /// event type (a custom `#[event_handler(name = "...")]` given twice,
    /// or fns of the same name in two scopes of one module). Neither is
    /// dropped silently: rename one.
    #[error(
        "two different handlers are named `{name}` for event `{event_type}`: `{first}` and `{second}`; \
         give one of them another name with #[event_handler(name = \"...\")]"
    )]
    DuplicateHandler {
        /// The shared handler name.
        name: String,
        /// The event type's registered name.
        event_type: &'static str,
        /// The Rust path of one handler fn.
        first: &'static str,
        /// The Rust path of the other.
        second: &'static str,
    },
    /// The event-type registry is inconsistent (two Rust types under one
    /// event name, two aggregate types under one aggregate name): checked
    /// before any bus exists.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// `register_handlers()` found handlers this bus cannot run: `async fn`
    /// handlers on the blocking bus. Rather than leave them silently unrun,
    /// the bus is refused.
    #[error(
        "`{bus}` cannot run these `async fn` handlers registered in the program: {}; \
         use InMemoryAsyncMessageBus (it runs plain fn handlers too), subscribe this bus's \
         handlers one by one with `.handler(f)`, or leave the async ones to an async bus with \
         `.register_plain_fn_handlers()` instead of `.register_handlers()`",
        handlers.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
    )]
    HandlersNotRun {
        /// The bus type.
        bus: &'static str,
        /// The Rust path of every handler it would not run.
        handlers: Vec<&'static str>,
    },
    /// `.handler(f)` or `.command_handler(f)` was given something that is
    /// not a registered handler fn: a fn without the attribute, a closure,
    /// a command handler given as an event handler (or the reverse).
    #[error(
        "`{given}` was given to `.{method}(...)`, but no `#[{attribute}]` registration was found for it; \
         mark the fn `#[{attribute}]` (a closure is subscribed on the built bus with `bus.subscribe(...)`), \
         or, if it is marked, make sure the crate that declares it is linked"
    )]
    NotAHandler {
        /// The Rust path (or type name) of what was given.
        given: &'static str,
        /// The builder method it was given to.
        method: &'static str,
        /// The attribute such a handler carries.
        attribute: &'static str,
    },
    /// Two different `#[command_handler]`s take one command; a command has
    /// one handler.
    #[error(
        "two command handlers take command `{command}`: `{first}` and `{second}`; a command has one handler, \
         remove one of them"
    )]
    DuplicateCommandHandler {
        /// The command's registered name.
        command: &'static str,
        /// The Rust path of one handler.
        first: &'static str,
        /// The Rust path of the other.
        second: &'static str,
    },
    /// The bus has `#[command_handler]`s but no event store to load and
    /// save their aggregates with.
    #[error(
        "command handlers {} need an event store, but the bus has none; add it with `.event_store(store)` \
         on the bus builder (or a `{repository}` with `.dependency(...)`)",
        handlers.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
    )]
    NoEventStore {
        /// The handlers' names.
        handlers: Vec<&'static str>,
        /// The repository type they need.
        repository: &'static str,
    },
}

/// One dependency a handler needs that the bus does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmetDependency {
    /// The handler's name.
    pub handler: String,
    /// The missing dependency's Rust type.
    pub dependency: &'static str,
}

struct UnmetList<'a>(&'a [UnmetDependency]);

impl fmt::Display for UnmetList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, unmet) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "handler `{}` needs `{}`",
                unmet.handler, unmet.dependency
            )?;
        }
        Ok(())
    }
}

impl BusBuildError {
    /// The error for the missing dependencies found (`Ok` if none): one
    /// [`MissingDependency`](Self::MissingDependency), or all of them as
    /// [`MissingDependencies`](Self::MissingDependencies).
    pub(crate) fn from_unmet(mut missing: Vec<UnmetDependency>) -> Result<(), Self> {
        match missing.len() {
            0 => Ok(()),
            1 => {
                let UnmetDependency {
                    handler,
                    dependency,
                } = missing.remove(0);
                Err(Self::MissingDependency {
                    handler,
                    dependency,
                })
            }
            _ => Err(Self::MissingDependencies { missing }),
        }
    }
}
