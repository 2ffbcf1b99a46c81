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

/// An async handler as the async bus stores it.
#[derive(Clone)]
pub(crate) struct AsyncHandler {
    pub(crate) name: HandlerName,
    call: Arc<AsyncCall>,
}

impl AsyncHandler {
    pub(crate) fn new(name: HandlerName, call: Arc<AsyncCall>) -> Self {
        Self { name, call }
    }

    /// Runs the handler to its end inside a span named after it; a panic is
    /// caught and reported as this handler's failure. The handler's
    /// extractors run now, from `context`; the future owns what it needs.
    pub(crate) fn run(
        &self,
        context: &HandlerContext<'_>,
    ) -> impl Future<Output = Result<(), FailedHandler>> + Send + use<> {
        let span = listened_span!("handler", handler = %self.name);
        let name = self.name.clone();
        // The call itself may panic before returning a future.
        let future = std::panic::catch_unwind(AssertUnwindSafe(|| (self.call)(context)));
        async move {
            let outcome = match future {
                Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            settle(name.as_str(), outcome)
        }
        .instrument(span)
    }
}

/// A blocking handler as the sync bus stores it.
#[derive(Clone)]
pub(crate) struct SyncHandler {
    pub(crate) name: HandlerName,
    call: Arc<SyncCall>,
}

impl SyncHandler {
    pub(crate) fn new(name: HandlerName, call: Arc<SyncCall>) -> Self {
        Self { name, call }
    }

    /// Runs the handler inside a span named after it; a panic is caught and
    /// reported as this handler's failure.
    pub(crate) fn run(&self, context: &HandlerContext<'_>) -> Result<(), FailedHandler> {
        let _entered = listened_span!("handler", handler = %self.name).entered();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (self.call)(context)));
        settle(self.name.as_str(), outcome)
    }
}

fn settle(
    name: &str,
    outcome: Result<Result<(), BoxError>, Box<dyn Any + Send>>,
) -> Result<(), FailedHandler> {
    let error = match outcome {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(error)) => error,
        Err(panic) => Box::new(HandlerPanicked {
            message: panic_message(panic.as_ref()),
        }),
    };
    tracing::warn!(handler = name, %error, "handler failed");
    Err(FailedHandler {
        handler: name.to_owned(),
        error,
    })
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
