//! What `#[event_handler]` submits for each handler fn.

use std::any::TypeId;

use crate::bus::{DependencyKey, HandlerContext, HandlerFuture};
use crate::delivery::DeliveryOptions;
use crate::error::BoxError;
use crate::message::Event;

/// An `async fn` handler registered with `#[event_handler]`, for
/// `InMemoryAsyncMessageBus`: its name, the event type it takes, the
/// dependencies it needs and its type-erased call.
#[derive(Clone, Copy, Debug)]
pub struct AsyncHandlerRegistration {
    /// The handler's name: the fn's path, or `#[event_handler(name = "...")]`.
    pub name: &'static str,
    /// The event type's registered name.
    pub event_name: &'static str,
    /// `TypeId` of the event type.
    pub event_type: fn() -> TypeId,
    /// What each of the handler's extractors needs from the bus (an empty
    /// slice for those that need nothing).
    pub requires: &'static [&'static [DependencyKey]],
    /// Calls the handler fn.
    pub call: fn(&HandlerContext<'_>) -> HandlerFuture,
    /// `TypeId` of the type that stands for the handler fn (for
    /// `#[event_handler]`, the hidden struct named like the fn): what tells
    /// two handlers apart when they share a name and an event type.
    pub handler_type: fn() -> TypeId,
    /// The Rust path of that type (the fn's module, any enclosing fn, then
    /// its name), for error messages and a stable order.
    pub handler_path: fn() -> &'static str,
    /// Inline or durable, retries, idempotency, strict order
    /// (`#[event_handler(durable, retry = ...)]`).
    pub delivery: DeliveryOptions,
}

impl AsyncHandlerRegistration {
    /// The registration of a handler of `E`, identified by the type `H`
    /// (one distinct type per handler fn).
    pub const fn new<E: HandledEvent, H: 'static>(
        name: &'static str,
        requires: &'static [&'static [DependencyKey]],
        call: fn(&HandlerContext<'_>) -> HandlerFuture,
    ) -> Self {
        Self {
            name,
            event_name: E::EVENT_NAME,
            event_type: TypeId::of::<E>,
            requires,
            call,
            handler_type: TypeId::of::<H>,
            handler_path: std::any::type_name::<H>,
            delivery: DeliveryOptions::INLINE,
        }
    }

    /// The same registration delivered as `delivery` says.
    #[must_use]
    pub const fn with_delivery(mut self, delivery: DeliveryOptions) -> Self {
        self.delivery = delivery;
        self
    }
}

/// A plain `fn` handler registered with `#[event_handler]`, for
/// `InMemoryMessageBus`; see [`AsyncHandlerRegistration`].
#[derive(Clone, Copy, Debug)]
pub struct SyncHandlerRegistration {
    /// The handler's name: the fn's path, or `#[event_handler(name = "...")]`.
    pub name: &'static str,
    /// The event type's registered name.
    pub event_name: &'static str,
    /// `TypeId` of the event type.
    pub event_type: fn() -> TypeId,
    /// What each of the handler's extractors needs from the bus.
    pub requires: &'static [&'static [DependencyKey]],
    /// Calls the handler fn.
    pub call: fn(&HandlerContext<'_>) -> Result<(), BoxError>,
    /// `TypeId` of the type that stands for the handler fn (for
    /// `#[event_handler]`, the hidden struct named like the fn): what tells
    /// two handlers apart when they share a name and an event type.
    pub handler_type: fn() -> TypeId,
    /// The Rust path of that type (the fn's module, any enclosing fn, then
    /// its name), for error messages and a stable order.
    pub handler_path: fn() -> &'static str,
    /// Inline or durable, retries, idempotency, strict order
    /// (`#[event_handler(durable, retry = ...)]`).
    pub delivery: DeliveryOptions,
}

impl SyncHandlerRegistration {
    /// The registration of a handler of `E`, identified by the type `H`
    /// (one distinct type per handler fn).
    pub const fn new<E: HandledEvent, H: 'static>(
        name: &'static str,
        requires: &'static [&'static [DependencyKey]],
        call: fn(&HandlerContext<'_>) -> Result<(), BoxError>,
    ) -> Self {
        Self {
            name,
            event_name: E::EVENT_NAME,
            event_type: TypeId::of::<E>,
            requires,
            call,
            handler_type: TypeId::of::<H>,
            handler_path: std::any::type_name::<H>,
            delivery: DeliveryOptions::INLINE,
        }
    }

    /// The same registration delivered as `delivery` says.
    #[must_use]
    pub const fn with_delivery(mut self, delivery: DeliveryOptions) -> Self {
        self.delivery = delivery;
        self
    }
}

/// What an `#[event_handler]` can take: an [`Event`]. A trait of its own
/// so that a non-event (a command above all) gets a message saying what to
/// do instead.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event, so an `#[event_handler]` cannot take it",
    label = "an event handler's first parameter is `&E` where `E` has `#[derive(Event)]`",
    note = "if `{Self}` is a command (`#[derive(Command)]`), handle it with a `#[command_handler]` (the one \
            handler that decides on its aggregate), or subscribe a closure with `bus.subscribe(...)`; \
            if it is an event, add `#[derive(Event, Serialize, Deserialize, Debug)]` to it"
)]
pub trait HandledEvent: Send + Sync + 'static {
    /// The event's registered name.
    const EVENT_NAME: &'static str;
}

#[diagnostic::do_not_recommend]
impl<E: Event> HandledEvent for E {
    const EVENT_NAME: &'static str = E::NAME;
}

inventory::collect!(AsyncHandlerRegistration);
inventory::collect!(SyncHandlerRegistration);

/// Implemented by `#[event_handler]` for each `async fn` handler (on a
/// hidden type named like the fn), so the handler can be subscribed by name:
/// `InMemoryAsyncMessageBus::builder().handler::<send_receipt>()`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an async `#[event_handler]` fn",
    label = "expected the name of an `async fn` marked `#[event_handler]`",
    note = "plain (non-async) handler fns go to `InMemoryMessageBus::builder().handler::<...>()`"
)]
pub trait AsyncHandlerFn {
    /// The handler's registration.
    const REGISTRATION: AsyncHandlerRegistration;
}

/// Implemented by `#[event_handler]` for each plain `fn` handler, so it can
/// be subscribed by name: `InMemoryMessageBus::builder().handler::<audit>()`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plain `#[event_handler]` fn",
    label = "expected the name of a (non-async) fn marked `#[event_handler]`",
    note = "`async fn` handlers go to `InMemoryAsyncMessageBus::builder().handler::<...>()`"
)]
pub trait SyncHandlerFn {
    /// The handler's registration.
    const REGISTRATION: SyncHandlerRegistration;
}

/// Every `async fn` handler registered in the linked program, sorted by name,
/// then by the handler fn's path (inventory gives no order).
pub fn async_handlers() -> Vec<&'static AsyncHandlerRegistration> {
    let mut handlers: Vec<_> = inventory::iter::<AsyncHandlerRegistration>
        .into_iter()
        .collect();
    handlers.sort_by_key(|registration| (registration.name, (registration.handler_path)()));
    handlers
}

/// Every plain `fn` handler registered in the linked program, sorted by name,
/// then by the handler fn's path.
pub fn sync_handlers() -> Vec<&'static SyncHandlerRegistration> {
    let mut handlers: Vec<_> = inventory::iter::<SyncHandlerRegistration>
        .into_iter()
        .collect();
    handlers.sort_by_key(|registration| (registration.name, (registration.handler_path)()));
    handlers
}
