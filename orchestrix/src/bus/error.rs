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
    /// event name): checked before any bus exists.
    #[error(transparent)]
    Registry(#[from] RegistryError),
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
