//! `InMemoryMessageBus`: the handlers of a message run one after another, in
//! subscription order, on the publishing thread.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

use super::builder::BusBuilder;
use super::core::{BusCore, publish_outcome};
use crate::bus::MessageBus;
use crate::bus::context::{Dependencies, HandlerContext, HandlerName};
use crate::bus::error::{BusBuildError, HandlerError};
use crate::bus::handler::{IntoHandlerResult, SyncCallOf, SyncHandler, run_in_turn};
use crate::command::{CommandError, CommandOutcome, CommandRun};
use crate::message::{AnyEnvelope, Command, Envelope, Message};
use crate::registry::SyncHandlerRegistration;

/// The blocking in-memory bus.
///
/// `publish` runs the handlers of the message's type in subscription order.
/// Every handler runs even when an earlier one fails or panics; if any
/// failed, the [`HandlerError`] names each failed handler and keeps its
/// error. Handlers come from plain `#[event_handler]` fns (see
/// [`builder`](Self::builder)) or from closures given to
/// [`subscribe`](Self::subscribe).
///
/// ```
/// use orchestrix::prelude::*;
///
/// #[derive(Command, Debug, Serialize, Deserialize)]
/// struct CreateOrder { order_id: String }
///
/// let bus = InMemoryMessageBus::new();
/// bus.subscribe("create_order", |command: &Envelope<CreateOrder>| {
///     println!("creating {}", command.message().order_id);
/// });
/// bus.publish(CreateOrder { order_id: "ORD-001".into() })?;
/// # Ok::<(), HandlerError>(())
/// ```
pub struct InMemoryMessageBus {
    core: BusCore<SyncHandler>,
}

impl InMemoryMessageBus {
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

    pub(crate) fn from_core(core: BusCore<SyncHandler>) -> Self {
        Self { core }
    }

    /// The bus's shared dependencies.
    pub fn dependencies(&self) -> &Dependencies {
        self.core.dependencies()
    }

    /// Subscribes `handler` to messages of type `M` under `name` (the name
    /// a [`HandlerError`] reports). The handler borrows the typed envelope
    /// and returns `()` or `Result<(), E>`. It runs after the type's earlier
    /// handlers, from the next publish on; subscribing while other threads
    /// publish is safe.
    pub fn subscribe<M, F, R>(&self, name: impl Into<String>, handler: F)
    where
        M: Message,
        F: Fn(&Envelope<M>) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        let call = move |context: &HandlerContext<'_>| {
            let envelope = context.typed_envelope::<M>()?;
            handler(&envelope).into_handler_result()
        };
        let name = HandlerName::from(name.into());
        self.core.add(
            TypeId::of::<M>(),
            SyncHandler::new(name, SyncCallOf::Closure(Arc::new(call))),
        );
    }

    /// Subscribes an `#[event_handler]` registration to a running bus;
    /// refused if it needs a dependency the bus does not have.
    pub fn subscribe_registration(
        &self,
        registration: &SyncHandlerRegistration,
    ) -> Result<(), BusBuildError> {
        self.core.subscribe_registration(registration)
    }

    /// How many handlers messages of type `M` have.
    pub fn handler_count<M: Message>(&self) -> usize {
        self.core.handler_count(TypeId::of::<M>())
    }

    /// Publishes `message` with fresh metadata; see
    /// [`publish_envelope`](Self::publish_envelope).
    pub fn publish<M: Message>(&self, message: M) -> Result<(), HandlerError> {
        self.publish_envelope(Envelope::new(message))
    }

    /// Delivers `envelope` (typed or type-erased) to every handler of the
    /// concrete type of the message inside, in subscription order. No
    /// handler is fine. Every handler runs even when an earlier one fails.
    pub fn publish_envelope(&self, envelope: impl Into<AnyEnvelope>) -> Result<(), HandlerError> {
        let envelope = envelope.into();
        let message: &dyn Any = envelope.message();
        let Some(handlers) = self.core.snapshot(message.type_id()) else {
            tracing::trace!(message_type = envelope.message_name(), "no handler");
            return Ok(());
        };
        let mut context = HandlerContext::new(&envelope, self.core.dependencies(), "");
        let failures = if tracing::enabled!(tracing::Level::INFO) {
            let _entered = tracing::info_span!(
                "publish",
                message_type = envelope.message_name(),
                message_id = %envelope.metadata().id,
                handlers = handlers.len(),
            )
            .entered();
            run_in_turn(&handlers, &mut context)
        } else {
            run_in_turn(&handlers, &mut context)
        };
        if failures.is_empty() {
            return Ok(());
        }
        publish_outcome(&envelope, failures)
    }
}

impl InMemoryMessageBus {
    /// Sends `command` to its `#[command_handler]`, with fresh metadata; see
    /// [`send_envelope`](Self::send_envelope).
    pub fn send<C: Command>(&self, command: C) -> Result<CommandOutcome, CommandError> {
        self.send_envelope(Envelope::new(command))
    }

    /// Runs the `#[command_handler]` of the command: load the aggregate,
    /// decide, save, then publish the new events on this bus as caused by
    /// the command (see [`crate::command`]). A command with no handler on
    /// this bus is [`CommandError::NoHandler`].
    pub fn send_envelope<C: Command>(
        &self,
        command: Envelope<C>,
    ) -> Result<CommandOutcome, CommandError> {
        let Some(handler) = self.core.command_handler(TypeId::of::<C>()) else {
            return Err(CommandError::NoHandler { command: C::NAME });
        };
        let envelope = AnyEnvelope::from(command);
        let _entered = listened_span!(
            "command",
            command_type = C::NAME,
            message_id = %envelope.metadata().id,
            handler = handler.name,
        )
        .entered();
        (handler.run_blocking)(CommandRun {
            envelope: &envelope,
            dependencies: self.core.dependencies(),
            bus: self as &dyn MessageBus,
        })
    }
}

impl Default for InMemoryMessageBus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryMessageBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryMessageBus")
            .field("dependencies", self.core.dependencies())
            .finish_non_exhaustive()
    }
}

impl MessageBus for InMemoryMessageBus {
    fn publish_envelope(&self, envelope: AnyEnvelope) -> Result<(), HandlerError> {
        InMemoryMessageBus::publish_envelope(self, envelope)
    }
}
