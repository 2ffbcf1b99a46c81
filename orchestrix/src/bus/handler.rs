//! Handlers as the buses store them: a name and a type-erased call.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use tracing::Instrument;

use super::context::{HandlerContext, HandlerName};
use super::error::FailedHandler;
use crate::error::BoxError;
use crate::retry::RetryPolicy;

/// What an async handler call returns once type-erased.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'static>>;

/// The return types a handler may have: `()` (cannot fail) or
/// `Result<(), E>` where `E` converts into a [`BoxError`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid event handler return type",
    label = "a handler returns `()` or `Result<(), E>`",
    note = "return nothing, or `Result<(), E>` where `E` is an error type (`E: Into<Box<dyn Error + Send + Sync>>`)"
)]
pub trait IntoHandlerResult {
    /// The outcome as the bus records it.
    fn into_handler_result(self) -> Result<(), BoxError>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// Converts a handler's return value; used by `#[event_handler]` expansions
/// so a wrong return type is reported on the user's signature.
#[doc(hidden)]
pub fn into_handler_result<R: IntoHandlerResult>(returned: R) -> Result<(), BoxError> {
    returned.into_handler_result()
}

type AsyncCall = dyn Fn(&HandlerContext<'_>) -> HandlerFuture + Send + Sync;
type SyncCall = dyn Fn(&HandlerContext<'_>) -> Result<(), BoxError> + Send + Sync;

/// How a handler's tries ended: how many there were, when the first one
/// failed, and the outcome of the last.
pub(crate) struct Attempts {
    pub(crate) attempts: u32,
    pub(crate) first_failed_at: Option<time::OffsetDateTime>,
    pub(crate) result: Result<(), FailedHandler>,
}

/// An async handler as the async bus stores it.
#[derive(Clone)]
pub(crate) struct AsyncHandler {
    pub(crate) name: HandlerName,
    call: Arc<AsyncCall>,
    retry: RetryPolicy,
}

impl AsyncHandler {
    pub(crate) fn new(name: HandlerName, call: Arc<AsyncCall>) -> Self {
        Self {
            name,
            call,
            retry: RetryPolicy::none(),
        }
    }

    /// The handler, tried as `retry` says.
    pub(crate) fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Runs the handler to its end inside a span named after it; a panic is
    /// caught and reported as this handler's failure. The handler's
    /// extractors run now, from `context`; the future owns what it needs.
    pub(crate) fn run(
        &self,
        context: &HandlerContext<'_>,
    ) -> impl Future<Output = Result<(), FailedHandler>> + Send + use<> {
        let attempts = self.run_attempts(context);
        async move { attempts.await.result }
    }

    /// As [`run`](Self::run), trying again as the handler's retry policy
    /// says after an error or a panic (each later try extracts its
    /// arguments afresh from a context of its own, when `context` shares
    /// its dependencies), and saying how many tries there were.
    pub(crate) fn run_attempts(
        &self,
        context: &HandlerContext<'_>,
    ) -> impl Future<Output = Attempts> + Send + use<> {
        let span = listened_span!("handler", handler = %self.name);
        let name = self.name.clone();
        let first = attempt(&self.call, context);
        let again = if self.retry.max_attempts() > 1 {
            context
                .owned_parts()
                .map(|parts| (parts, Arc::clone(&self.call)))
        } else {
            None
        };
        let retry = self.retry;
        async move {
            let mut attempts = 1;
            let mut first_failed_at = None;
            let mut outcome = first.await;
            loop {
                let error = match outcome {
                    Ok(()) => {
                        return Attempts {
                            attempts,
                            first_failed_at,
                            result: Ok(()),
                        };
                    }
                    Err(error) => error,
                };
                first_failed_at.get_or_insert_with(time::OffsetDateTime::now_utc);
                let Some(((envelope, dependencies), call)) =
                    again.as_ref().filter(|_| retry.allows_another(attempts))
                else {
                    return Attempts {
                        attempts,
                        first_failed_at,
                        result: Err(failed(name.as_str(), error)),
                    };
                };
                tracing::debug!(handler = %name, attempt = attempts, %error, "retrying handler");
                tokio::time::sleep(retry.delay_after(attempts)).await;
                attempts += 1;
                let next = {
                    let context = HandlerContext::shared(envelope, dependencies, name.clone());
                    attempt(call, &context)
                };
                outcome = next.await;
            }
        }
        .instrument(span)
    }
}

/// One try of an async handler: its extractors run now, a panic (in the
/// call or in the future) is an error.
fn attempt(
    call: &Arc<AsyncCall>,
    context: &HandlerContext<'_>,
) -> impl Future<Output = Result<(), BoxError>> + Send + use<> {
    // The call itself may panic before returning a future.
    let future = std::panic::catch_unwind(AssertUnwindSafe(|| call(context)));
    async move {
        let outcome = match future {
            Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        flatten(outcome)
    }
}

/// A blocking handler as the sync bus stores it.
#[derive(Clone)]
pub(crate) struct SyncHandler {
    pub(crate) name: HandlerName,
    call: Arc<SyncCall>,
    retry: RetryPolicy,
}

impl SyncHandler {
    pub(crate) fn new(name: HandlerName, call: Arc<SyncCall>) -> Self {
        Self {
            name,
            call,
            retry: RetryPolicy::none(),
        }
    }

    /// The handler, tried as `retry` says (the waits block the thread).
    pub(crate) fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Runs the handler inside a span named after it, tried again as its
    /// retry policy says; a panic is caught and reported as this handler's
    /// failure.
    pub(crate) fn run(&self, context: &HandlerContext<'_>) -> Result<(), FailedHandler> {
        let _entered = listened_span!("handler", handler = %self.name).entered();
        let mut attempts = 1;
        loop {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (self.call)(context)));
            let error = match flatten(outcome) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            if !self.retry.allows_another(attempts) {
                return Err(failed(self.name.as_str(), error));
            }
            tracing::debug!(handler = %self.name, attempt = attempts, %error, "retrying handler");
            std::thread::sleep(self.retry.delay_after(attempts));
            attempts += 1;
        }
    }
}

/// A handler's outcome with a panic turned into [`HandlerPanicked`].
fn flatten(outcome: Result<Result<(), BoxError>, Box<dyn Any + Send>>) -> Result<(), BoxError> {
    match outcome {
        Ok(result) => result,
        Err(panic) => Err(Box::new(HandlerPanicked {
            message: panic_message(panic.as_ref()),
        })),
    }
}

fn failed(name: &str, error: BoxError) -> FailedHandler {
    tracing::warn!(handler = name, %error, "handler failed");
    FailedHandler {
        handler: name.to_owned(),
        error,
    }
}

/// A handler panicked; the bus caught the panic and reports it as the
/// handler's failure, so the other handlers and the publisher carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the handler panicked: {message}")]
pub struct HandlerPanicked {
    /// The panic's message, when it was a string.
    pub message: String,
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a non-string panic payload)".to_owned()
    }
}
