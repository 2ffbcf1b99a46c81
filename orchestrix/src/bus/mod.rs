//! Message buses: route each published message to the handlers of its type.
//!
//! [`MessageBus`] is the blocking bus, [`AsyncMessageBus`] the async one.
//! Both route by the message's concrete type, so a type-erased
//! [`AnyEnvelope`] (as an aggregate's uncommitted events are) reaches the
//! handlers of the type inside it.

/// `tracing::info_span!(...)` when a tracing subscriber listens at INFO
/// here, else a disabled span, decided at the call site (same target).
/// A dependency of the crate turns on `tracing`'s `log` feature, with which
/// even a span no subscriber wants is built and, on every enter and exit,
/// offered to `log`: several calls per span, which made up a large share of
/// a publish to no-op handlers.
macro_rules! listened_span {
    ($($span:tt)*) => {
        if ::tracing::enabled!(::tracing::Level::INFO) {
            ::tracing::info_span!($($span)*)
        } else {
            ::tracing::Span::none()
        }
    };
}

mod context;
mod error;
mod ext;
mod extract;
pub(crate) mod handler;
pub mod memory;
mod routes;

pub use context::{Dependencies, HandlerContext, HandlerName};
pub use error::{BusBuildError, ExtractError, FailedHandler, HandlerError, UnmetDependency};
pub use ext::{AsyncMessageBusExt, MessageBusExt};
pub use extract::{Dep, DependencyKey, FromHandlerContext};
pub(crate) use handler::panic_message;
pub use handler::{HandlerFuture, HandlerPanicked, INLINE_FUTURE_BYTES, IntoHandlerResult};
pub use memory::{BusBuilder, InMemoryAsyncMessageBus, InMemoryMessageBus};

use crate::message::AnyEnvelope;

/// The blocking bus contract: handlers of a message run one after another,
/// in registration order; every handler runs even when an earlier one fails.
pub trait MessageBus: Send + Sync {
    /// Delivers `envelope` to every handler of its message type.
    fn publish_envelope(&self, envelope: AnyEnvelope) -> Result<(), HandlerError>;
}

/// The async bus contract: all handlers of a message run concurrently and
/// `publish` waits for all; every handler runs to its end even when another
/// fails.
///
/// Cancellation: the in-memory implementation runs the handlers on the
/// publishing task, inside the `publish` future. Dropping that future (a
/// lost `tokio::select!` branch, an elapsed `tokio::time::timeout`) cancels
/// the message's handlers still in flight at their current `.await`; a
/// handler whose work must outlive the publish should spawn it.
#[async_trait::async_trait]
pub trait AsyncMessageBus: Send + Sync {
    /// Delivers `envelope` to every handler of its message type.
    async fn publish_envelope(&self, envelope: AnyEnvelope) -> Result<(), HandlerError>;
}

/// Names this module adds to `orchestrix::prelude`.
pub mod prelude {
    pub use super::{
        AsyncMessageBus, AsyncMessageBusExt, BusBuildError, Dep, HandlerError,
        InMemoryAsyncMessageBus, InMemoryMessageBus, MessageBus, MessageBusExt,
    };
}

/// Names this module's macro expansions reach (see `orchestrix::__private`).
#[doc(hidden)]
pub mod __private {
    pub use super::extract::{event_ref, event_ref_boxed, extraction_failed};
    pub use super::handler::into_handler_result;
    pub use super::{ExtractError, FromHandlerContext, HandlerContext, HandlerFuture};
    pub use crate::error::BoxError;
    pub use crate::registry::{
        AsyncHandlerRegistration, SyncHandlerRegistration, fn_path, fn_type_id,
    };
}
