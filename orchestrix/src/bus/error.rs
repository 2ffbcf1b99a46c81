//! What a publish reports when handlers fail.

use std::fmt;

use uuid::Uuid;

use crate::error::BoxError;

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
