//! What the sync and async in-memory buses share: the routing table, the
//! frozen dependencies, subscribing `#[event_handler]` registrations (with
//! their dependency check) and turning failures into a [`HandlerError`].

use std::any::TypeId;
use std::sync::Arc;

use super::builder::{HandlerIdentity, check_requirements};
use super::commands::CommandRoutes;
use crate::bus::context::{Dependencies, HandlerName};
use crate::bus::error::{BusBuildError, FailedHandler, HandlerError};
use crate::bus::extract::DependencyKey;
use crate::bus::handler::{AsyncHandler, SyncHandler};
use crate::bus::routes::{Handlers, Routes};
use crate::command::CommandHandlerRegistration;
use crate::message::AnyEnvelope;
use crate::registry::{AsyncHandlerRegistration, SyncHandlerRegistration};

/// An `#[event_handler]` registration, whichever bus it is for.
pub(crate) trait Registration: Copy + 'static {
    /// The handler as its bus stores it.
    type Handler: Clone;

    /// Who the handler is (name, event type, handler fn).
    fn identity(&self) -> HandlerIdentity;

    /// What each of its extractors needs from the bus.
    fn requires(&self) -> &'static [&'static [DependencyKey]];

    /// The handler, ready to be routed.
    fn handler(&self) -> Self::Handler;

    /// `TypeId` of the event it takes.
    fn event_type(&self) -> TypeId;
}

/// The routing table and the dependencies of one in-memory bus.
pub(crate) struct BusCore<H> {
    routes: Routes<H>,
    dependencies: Arc<Dependencies>,
    commands: CommandRoutes,
}

impl<H: Clone> BusCore<H> {
    /// A bus with no handlers, its dependencies frozen.
    pub(crate) fn new(dependencies: Dependencies) -> Self {
        Self {
            routes: Routes::new(),
            dependencies: Arc::new(dependencies),
            commands: CommandRoutes::default(),
        }
    }

    /// The bus with these (checked) command handlers.
    pub(crate) fn with_commands(mut self, commands: CommandRoutes) -> Self {
        self.commands = commands;
        self
    }

    /// The command handler of `command_type`, if the bus has one.
    pub(crate) fn command_handler(
        &self,
        command_type: TypeId,
    ) -> Option<&CommandHandlerRegistration> {
        self.commands.get(command_type)
    }

    pub(crate) fn dependencies(&self) -> &Dependencies {
        &self.dependencies
    }

    /// The dependencies, shared (for handlers that retry).
    pub(crate) fn shared_dependencies(&self) -> &Arc<Dependencies> {
        &self.dependencies
    }

    /// Routes `handler` to messages of type `message_type`, after the
    /// handlers already there.
    pub(crate) fn add(&self, message_type: TypeId, handler: H) {
        self.routes.add(message_type, handler);
    }

    /// The handlers of `message_type` as they are now.
    pub(crate) fn snapshot(&self, message_type: TypeId) -> Option<Handlers<'_, H>> {
        self.routes.snapshot(message_type)
    }

    pub(crate) fn handler_count(&self, message_type: TypeId) -> usize {
        self.routes.count(message_type)
    }

    /// Adds a registration whose dependencies were already checked, while
    /// the bus is built: to the routes publishes read without a lock.
    pub(crate) fn build_registration<R: Registration<Handler = H>>(&mut self, registration: &R) {
        self.routes
            .add_built(registration.event_type(), registration.handler());
    }

    /// Adds a registration to a running bus; refused, naming every missing
    /// dependency, if the bus lacks one.
    pub(crate) fn subscribe_registration<R: Registration<Handler = H>>(
        &self,
        registration: &R,
    ) -> Result<(), BusBuildError> {
        check_requirements(
            &self.dependencies,
            registration.identity().name,
            registration.requires(),
        )?;
        self.add(registration.event_type(), registration.handler());
        Ok(())
    }
}

/// `Ok` if no handler failed, else the [`HandlerError`] naming each failure.
pub(crate) fn publish_outcome(
    envelope: &AnyEnvelope,
    failures: Vec<FailedHandler>,
) -> Result<(), HandlerError> {
    if failures.is_empty() {
        return Ok(());
    }
    Err(HandlerError {
        message_type: envelope.message_name().to_owned(),
        message_id: envelope.metadata().id,
        failures,
    })
}

macro_rules! registration {
    ($registration:ty => $handler:ident) => {
        impl Registration for $registration {
            type Handler = $handler;

            fn identity(&self) -> HandlerIdentity {
                HandlerIdentity {
                    name: self.name,
                    event_name: self.event_name,
                    event_type: (self.event_type)(),
                    handler_type: (self.handler_type)(),
                    handler_path: (self.handler_path)(),
                }
            }

            fn requires(&self) -> &'static [&'static [DependencyKey]] {
                self.requires
            }

            fn handler(&self) -> $handler {
                $handler::new(HandlerName::Static(self.name), self.call.into())
                    .with_retry(self.delivery.retry())
            }

            fn event_type(&self) -> TypeId {
                (self.event_type)()
            }
        }
    };
}

registration!(AsyncHandlerRegistration => AsyncHandler);
registration!(SyncHandlerRegistration => SyncHandler);

/// A handler the async bus runs: an `async fn` one, or a plain fn one that
/// it calls inline on the publishing task.
#[derive(Clone, Copy, Debug)]
pub enum AsyncBusRegistration {
    /// An `async fn` handler.
    Async(AsyncHandlerRegistration),
    /// A plain fn handler.
    Blocking(SyncHandlerRegistration),
}

impl From<AsyncHandlerRegistration> for AsyncBusRegistration {
    fn from(registration: AsyncHandlerRegistration) -> Self {
        Self::Async(registration)
    }
}

impl From<SyncHandlerRegistration> for AsyncBusRegistration {
    fn from(registration: SyncHandlerRegistration) -> Self {
        Self::Blocking(registration)
    }
}

impl AsyncBusRegistration {
    /// How the handler is delivered to (inline or durable, retries, ...).
    pub fn delivery(&self) -> crate::delivery::DeliveryOptions {
        match self {
            Self::Async(registration) => registration.delivery,
            Self::Blocking(registration) => registration.delivery,
        }
    }
}

impl Registration for AsyncBusRegistration {
    type Handler = AsyncHandler;

    fn identity(&self) -> HandlerIdentity {
        match self {
            Self::Async(registration) => registration.identity(),
            Self::Blocking(registration) => registration.identity(),
        }
    }

    fn requires(&self) -> &'static [&'static [DependencyKey]] {
        match self {
            Self::Async(registration) => registration.requires(),
            Self::Blocking(registration) => registration.requires(),
        }
    }

    fn handler(&self) -> AsyncHandler {
        match self {
            Self::Async(registration) => registration.handler(),
            // Runs when the publish names the handler, before any async
            // handler is polled; no future is made for it.
            Self::Blocking(registration) => AsyncHandler::inline(
                HandlerName::Static(registration.name),
                registration.call.into(),
            )
            .with_retry(registration.delivery.retry()),
        }
    }

    fn event_type(&self) -> TypeId {
        self.identity().event_type
    }
}
