//! Projection handlers as the engine stores them: one type-erased call per
//! event type, sync (no future allocated) or async.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::context::ProjectionContext;
use crate::bus::{HandlerPanicked, IntoHandlerResult};
use crate::error::BoxError;
use crate::message::{Envelope, Event};

/// The outcome of starting a handler: done already (a sync handler), or a
/// future to await.
pub(crate) enum HandlerCall {
    Done(Result<(), BoxError>),
    Pending(BoxFuture<'static, Result<(), BoxError>>),
}

impl HandlerCall {
    /// The handler's result; a panic, also in the future, becomes an error.
    pub(crate) async fn finish(self) -> Result<(), BoxError> {
        match self {
            Self::Done(result) => result,
            Self::Pending(future) => AssertUnwindSafe(future)
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(panicked(&*panic))),
        }
    }
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> BoxError {
    Box::new(HandlerPanicked {
        message: crate::bus::panic_message(panic),
    })
}

type Call = dyn Fn(&ProjectionContext) -> HandlerCall + Send + Sync;

/// One event type's handler.
#[derive(Clone)]
pub(crate) struct ProjectionHandler {
    call: Arc<Call>,
}

impl std::fmt::Debug for ProjectionHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionHandler").finish_non_exhaustive()
    }
}

impl ProjectionHandler {
    /// A handler from a type-erased call (used by the read-model adapter).
    pub(crate) fn from_call(
        call: impl Fn(&ProjectionContext) -> HandlerCall + Send + Sync + 'static,
    ) -> Self {
        Self {
            call: Arc::new(call),
        }
    }

    /// `handler(&event, &context)`, run inline.
    pub(crate) fn sync<E, F, R>(handler: F) -> Self
    where
        E: Event,
        F: Fn(&E, &ProjectionContext) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        Self::from_call(move |context| {
            let Some(event) = context.event().downcast_ref::<E>() else {
                return HandlerCall::Done(Err(not_an(E::NAME, context)));
            };
            HandlerCall::Done(
                std::panic::catch_unwind(AssertUnwindSafe(|| handler(event, context))).map_or_else(
                    |panic| Err(panicked(&*panic)),
                    IntoHandlerResult::into_handler_result,
                ),
            )
        })
    }

    /// `handler(envelope, context).await`.
    pub(crate) fn future<E, F, Fut>(handler: F) -> Self
    where
        E: Event,
        F: Fn(Envelope<E>, ProjectionContext) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHandlerResult,
    {
        Self::from_call(move |context| {
            let Some(event) = context.event().downcast::<E>() else {
                return HandlerCall::Done(Err(not_an(E::NAME, context)));
            };
            let started =
                std::panic::catch_unwind(AssertUnwindSafe(|| handler(event, context.clone())));
            match started {
                Ok(future) => HandlerCall::Pending(Box::pin(
                    future.map(IntoHandlerResult::into_handler_result),
                )),
                Err(panic) => HandlerCall::Done(Err(panicked(&*panic))),
            }
        })
    }

    pub(crate) fn call(&self, context: &ProjectionContext) -> HandlerCall {
        (self.call)(context)
    }
}

/// Two Rust types under one event name would end up here: the registry
/// refuses that at start-up, so this is a defensive error, not a panic.
fn not_an(expected: &str, context: &ProjectionContext) -> BoxError {
    format!(
        "the event at position {} is named `{}` but is not the handler's type `{expected}`",
        context.position(),
        context.event_type()
    )
    .into()
}
