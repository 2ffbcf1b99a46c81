//! `InMemoryAsyncMessageBus`: every handler of a message runs concurrently,
//! on the publishing task, and `publish` waits for all of them.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tracing::Instrument;

use super::builder::BusBuilder;
use super::core::{BusCore, publish_outcome};
use super::join::HandlerJoin;
use crate::bus::AsyncMessageBus;
use crate::bus::context::{Dependencies, HandlerContext, HandlerName};
use crate::bus::error::{BusBuildError, HandlerError};
use crate::bus::handler::{
    AsyncCallOf, AsyncHandler, HandlerFuture, IntoHandlerResult, async_call,
};
use crate::command::{CommandError, CommandOutcome, CommandRun};
use crate::message::{AnyEnvelope, Command, Envelope, Message};
use crate::registry::AsyncHandlerRegistration;

/// The async in-memory bus.
///
/// `publish` runs all handlers of the message's type concurrently (joined on
/// the calling task, like `asyncio.gather`) and waits for every one to end.
/// A handler's error or panic does not stop the others; if any failed, the
/// [`HandlerError`] names each failed handler and keeps its error.
///
/// The handlers run on the publishing task, not on spawned ones: cancelling
/// a publish (dropping its future, e.g. on a `tokio::time::timeout` or a
/// lost `tokio::select!` branch) cancels its handlers still in flight, at
/// their current `.await`. A handler whose work must finish anyway should
/// `tokio::spawn` it.
///
/// Handlers come from `#[event_handler]` `async fn`s (see
/// [`builder`](Self::builder)) or from closures given to
/// [`subscribe`](Self::subscribe). The bus is `Send + Sync`: share it in an
/// `Arc`, publish and subscribe from any task.
///
/// ```
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct OrderCreated { order_id: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), HandlerError> {
/// let bus = InMemoryAsyncMessageBus::new();
/// bus.subscribe("handle_order", |event: Envelope<OrderCreated>| async move {
///     println!("Processing {}", event.message().order_id);
/// });
/// bus.subscribe("send_email", |event: Envelope<OrderCreated>| async move {
///     println!("Emailing for {}", event.message().order_id);
///     Ok::<(), std::io::Error>(())
/// });
/// // Both handlers run concurrently.
/// bus.publish(OrderCreated { order_id: "ORD-001".into() }).await?;
/// # Ok(())
/// # }
/// ```
pub struct InMemoryAsyncMessageBus {
    core: BusCore<AsyncHandler>,
}

impl InMemoryAsyncMessageBus {
    /// A bus with no handlers and no dependencies.
    pub fn new() -> Self {
        Self::with_dependencies(Dependencies::new())
    }

    /// A builder: dependencies, `#[event_handler]` fns, then `build()`.
    pub fn builder() -> BusBuilder<Self> {
        BusBuilder::new()
    }

    pub(crate) fn with_dependencies(dependencies: Dependencies) -> Self {
        Self::from_core(BusCore::new(dependencies))
    }

    pub(crate) fn from_core(core: BusCore<AsyncHandler>) -> Self {
        Self { core }
    }

    /// The bus's shared dependencies.
    pub fn dependencies(&self) -> &Dependencies {
        self.core.dependencies()
    }

    /// Subscribes `handler` to messages of type `M` under `name` (the name
    /// a [`HandlerError`] reports). The handler gets the typed envelope
    /// (message + metadata, both shared) and returns `()` or
    /// `Result<(), E>`. It runs concurrently with the type's other handlers
    /// from the next publish on; publishes already running keep the handler
    /// list they started with. Subscribing while other tasks publish is safe.
    pub fn subscribe<M, F, Fut>(&self, name: impl Into<String>, handler: F)
    where
        M: Message,
        F: Fn(Envelope<M>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHandlerResult,
    {
        let call =
            async_call(
                move |context: &HandlerContext<'_>| match context.typed_envelope::<M>() {
                    Ok(envelope) => {
                        let running = handler(envelope);
                        HandlerFuture::new(async move { running.await.into_handler_result() })
                    }
                    Err(error) => HandlerFuture::ready(Err(error.into())),
                },
            );
        let name = HandlerName::from(name.into());
        self.core.add(
            TypeId::of::<M>(),
            AsyncHandler::new(name, AsyncCallOf::Closure(Arc::new(call))),
        );
    }

    /// Subscribes an `#[event_handler]` registration to a running bus;
    /// refused if it needs a dependency the bus does not have.
    pub fn subscribe_registration(
        &self,
        registration: &AsyncHandlerRegistration,
    ) -> Result<(), BusBuildError> {
        self.core.subscribe_registration(registration)
    }

    /// How many handlers messages of type `M` have.
    pub fn handler_count<M: Message>(&self) -> usize {
        self.core.handler_count(TypeId::of::<M>())
    }

    /// Publishes `message` with fresh metadata; see
    /// [`publish_envelope`](Self::publish_envelope).
    pub async fn publish<M: Message>(&self, message: M) -> Result<(), HandlerError> {
        self.publish_envelope(Envelope::new(message)).await
    }

    /// Delivers `envelope` (typed or type-erased) to every handler of the
    /// concrete type of the message inside, all concurrently, and waits for
    /// all. No handler is fine. If any handler fails or panics, the others
    /// still run to their end and the error names each failure. Dropping
    /// the returned future cancels the handlers still running.
    pub async fn publish_envelope(
        &self,
        envelope: impl Into<AnyEnvelope>,
    ) -> Result<(), HandlerError> {
        let envelope = envelope.into();
        let message: &dyn Any = envelope.message();
        let Some(handlers) = self.core.snapshot(message.type_id()) else {
            tracing::trace!(message_type = envelope.message_name(), "no handler");
            return Ok(());
        };
        // A span only when a subscriber listens (see `HandlerJoin::start`).
        let span = tracing::enabled!(tracing::Level::INFO).then(|| {
            tracing::info_span!(
                "publish",
                message_type = envelope.message_name(),
                message_id = %envelope.metadata().id,
                handlers = handlers.len(),
            )
        });
        // Pinned here, where it is polled, so each handler's future is
        // pinned in its slot before its first poll and stays there.
        let mut all_handlers = std::pin::pin!(HandlerJoin::new(&handlers));
        {
            // The handler spans are created here, so make them children of
            // the publish span.
            let _entered = span.as_ref().map(tracing::Span::enter);
            // One context serves every handler: each call extracts what its
            // future needs before the next handler is named in it.
            let mut context =
                HandlerContext::shared(&envelope, self.core.shared_dependencies(), "");
            all_handlers.as_mut().start(&mut context);
        }
        let failures = match span {
            None => all_handlers.await,
            Some(span) => all_handlers.instrument(span).await,
        };
        if failures.is_empty() {
            return Ok(());
        }
        publish_outcome(&envelope, failures)
    }
}

impl InMemoryAsyncMessageBus {
    /// Sends `command` to its `#[command_handler]`, with fresh metadata; see
    /// [`send_envelope`](Self::send_envelope).
    pub async fn send<C: Command>(&self, command: C) -> Result<CommandOutcome, CommandError> {
        self.send_envelope(Envelope::new(command)).await
    }

    /// Runs the `#[command_handler]` of the command: load the aggregate,
    /// decide, save, then publish the new events on this bus as caused by
    /// the command (see [`crate::command`]). A command with no handler on
    /// this bus is [`CommandError::NoHandler`].
    pub async fn send_envelope<C: Command>(
        &self,
        command: Envelope<C>,
    ) -> Result<CommandOutcome, CommandError> {
        let Some(handler) = self.core.command_handler(TypeId::of::<C>()) else {
            return Err(CommandError::NoHandler { command: C::NAME });
        };
        let envelope = AnyEnvelope::from(command);
        let span = listened_span!(
            "command",
            command_type = C::NAME,
            message_id = %envelope.metadata().id,
            handler = handler.name,
        );
        let run = CommandRun {
            envelope: &envelope,
            dependencies: self.core.dependencies(),
            bus: self as &dyn AsyncMessageBus,
        };
        (handler.run_async)(run).instrument(span).await
    }
}

impl Default for InMemoryAsyncMessageBus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryAsyncMessageBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryAsyncMessageBus")
            .field("dependencies", self.core.dependencies())
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl AsyncMessageBus for InMemoryAsyncMessageBus {
    async fn publish_envelope(&self, envelope: AnyEnvelope) -> Result<(), HandlerError> {
        InMemoryAsyncMessageBus::publish_envelope(self, envelope).await
    }
}
