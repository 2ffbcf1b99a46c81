//! Read models declared with `#[projection(name = "...")]`: the
//! [`Projection`] trait the macro implements, the extractors its handler
//! methods may take, and the engine built around one.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::RwLock;

use super::context::{ProjectionContext, ProjectionMode};
use super::engine::ProjectionEngine;
use super::handler::{HandlerCall, ProjectionHandler};
use super::store::ProjectionStateStore;
use crate::error::BoxError;
use crate::message::Metadata;

/// A read model whose handler methods the engine calls: implemented by
/// `#[projection(name = "...")]` on the read model's impl block.
///
/// ```
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct OrderPlaced { total: u64 }
///
/// #[derive(Debug, Default)]
/// struct Revenue { total: u64 }
///
/// #[projection(name = "doc-revenue")]
/// impl Revenue {
///     #[handle]
///     fn on_placed(&mut self, event: &OrderPlaced) {
///         self.total += event.total;
///     }
/// }
///
/// assert_eq!(<Revenue as orchestrix::projection::Projection>::NAME, "doc-revenue");
/// ```
pub trait Projection: Send + Sync + 'static {
    /// The projection's name: its checkpoint is stored under it.
    const NAME: &'static str;

    /// The event types it has a handler for.
    fn event_types() -> Vec<&'static str>;

    /// Applies the event in `context` with the matching handler method
    /// (an event of another type is ignored).
    fn apply<'a>(
        &'a mut self,
        context: &'a ProjectionContext,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// A value a `#[projection]` handler method can take after the event,
/// taken from the [`ProjectionContext`]: the context itself, the event's
/// [`Metadata`], the [`ProjectionMode`] or its [`EventPosition`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a projection handler",
    label = "not available to a projection handler",
    note = "after the event, a #[handle] method may take `&ProjectionContext`, `ProjectionContext`, `Metadata`, `ProjectionMode` or `EventPosition`"
)]
pub trait ProjectionExtract: Sized {
    /// The value for the event in `context`.
    fn extract(context: &ProjectionContext) -> Self;
}

/// The event's global position, as a handler parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventPosition(pub u64);

impl ProjectionExtract for ProjectionContext {
    fn extract(context: &ProjectionContext) -> Self {
        context.clone()
    }
}

impl ProjectionExtract for Metadata {
    fn extract(context: &ProjectionContext) -> Self {
        context.metadata().clone()
    }
}

impl ProjectionExtract for ProjectionMode {
    fn extract(context: &ProjectionContext) -> Self {
        context.mode()
    }
}

impl ProjectionExtract for EventPosition {
    fn extract(context: &ProjectionContext) -> Self {
        EventPosition(context.position())
    }
}

impl ProjectionEngine {
    /// An engine that applies events to `model` through its `#[handle]`
    /// methods; a rebuild resets the model to `P::default()`. Queries read
    /// the model through the same `Arc` (a read lock).
    pub fn for_read_model<P>(
        model: Arc<RwLock<P>>,
        state_store: impl ProjectionStateStore + 'static,
    ) -> Self
    where
        P: Projection + Default,
    {
        Self::new(P::NAME, state_store).with_read_model(model)
    }

    /// [`for_read_model`](Self::for_read_model) on a
    /// [`transactional`](Self::transactional) engine: a read model whose
    /// tables live in the database of `state_store`. Its `#[handle]`
    /// methods reach the page's transaction through the
    /// `&ProjectionContext` extractor
    /// ([`ProjectionContext::transaction`]), so their writes commit
    /// together with the checkpoint, and a failed attempt's writes are
    /// rolled back. Empty the tables in an [`on_reset`](Self::on_reset)
    /// hook for rebuilds (the model itself is reset to `P::default()`).
    ///
    /// A read model registered by `#[projection]` is built by
    /// [`RegisteredProjections::build`](super::RegisteredProjections::build)
    /// on a plain engine; build a transactional one with this function.
    #[cfg(feature = "postgres")]
    pub fn transactional_read_model<P>(
        model: Arc<RwLock<P>>,
        state_store: super::PostgreSQLProjectionStateStore,
    ) -> Self
    where
        P: Projection + Default,
    {
        Self::transactional(P::NAME, state_store).with_read_model(model)
    }

    /// Adds a handler per event type of `P` that applies the event to
    /// `model`, and a reset hook that replaces it with `P::default()`.
    fn with_read_model<P>(mut self, model: Arc<RwLock<P>>) -> Self
    where
        P: Projection + Default,
    {
        for event_type in P::event_types() {
            let model = Arc::clone(&model);
            self.add_handler(
                event_type,
                ProjectionHandler::from_call(move |context| {
                    let (model, context) = (Arc::clone(&model), context.clone());
                    HandlerCall::Pending(Box::pin(async move {
                        model.write().await.apply(&context).await
                    }))
                }),
            );
        }
        self.on_reset(move || {
            let model = Arc::clone(&model);
            async move {
                *model.write().await = P::default();
            }
        });
        self
    }
}
