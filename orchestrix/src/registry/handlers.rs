//! What `#[event_handler]` submits for each handler fn.

use std::any::TypeId;

use super::HandlerFn;
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
    pub call: for<'a> fn(&HandlerContext<'a>) -> HandlerFuture<'a>,
    /// `TypeId` of what stands for the handler (for `#[event_handler]`,
    /// the fn item's type): what `.handler(f)` looks the registration up by,
    /// and what tells two handlers apart when they share a name and an
    /// event type.
    pub handler_type: fn() -> TypeId,
    /// Its Rust path (the fn's module, any enclosing fn, then its name), for
    /// error messages and a stable order.
    pub handler_path: fn() -> &'static str,
    /// Inline or durable, retries, idempotency, strict order
    /// (`#[event_handler(durable, retry = ...)]`).
    pub delivery: DeliveryOptions,
}

impl AsyncHandlerRegistration {
    /// The registration of a handler of `E`, identified by `handler_type`
    /// (for `#[event_handler]`, the `TypeId` of the fn item, so that
    /// `.handler(f)` finds it) and named in errors by `handler_path`.
    pub const fn new<E: HandledEvent>(
        name: &'static str,
        requires: &'static [&'static [DependencyKey]],
        call: for<'a> fn(&HandlerContext<'a>) -> HandlerFuture<'a>,
        handler_type: fn() -> TypeId,
        handler_path: fn() -> &'static str,
    ) -> Self {
        Self {
            name,
            event_name: E::EVENT_NAME,
            event_type: TypeId::of::<E>,
            requires,
            call,
            handler_type,
            handler_path,
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
    /// `TypeId` of what stands for the handler (for `#[event_handler]`,
    /// the fn item's type): what `.handler(f)` looks the registration up by,
    /// and what tells two handlers apart when they share a name and an
    /// event type.
    pub handler_type: fn() -> TypeId,
    /// Its Rust path (the fn's module, any enclosing fn, then its name), for
    /// error messages and a stable order.
    pub handler_path: fn() -> &'static str,
    /// Inline or durable, retries, idempotency, strict order
    /// (`#[event_handler(durable, retry = ...)]`).
    pub delivery: DeliveryOptions,
}

impl SyncHandlerRegistration {
    /// The registration of a handler of `E`, identified by `handler_type`
    /// (for `#[event_handler]`, the `TypeId` of the fn item, so that
    /// `.handler(f)` finds it) and named in errors by `handler_path`.
    pub const fn new<E: HandledEvent>(
        name: &'static str,
        requires: &'static [&'static [DependencyKey]],
        call: fn(&HandlerContext<'_>) -> Result<(), BoxError>,
        handler_type: fn() -> TypeId,
        handler_path: fn() -> &'static str,
    ) -> Self {
        Self {
            name,
            event_name: E::EVENT_NAME,
            event_type: TypeId::of::<E>,
            requires,
            call,
            handler_type,
            handler_path,
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

/// The `async fn` handler registered for the fn `handler`, if it is one.
pub fn find_async_handler(handler: HandlerFn) -> Option<&'static AsyncHandlerRegistration> {
    inventory::iter::<AsyncHandlerRegistration>
        .into_iter()
        .find(|registration| (registration.handler_type)() == handler.type_id)
}

/// The plain fn handler registered for the fn `handler`, if it is one.
pub fn find_sync_handler(handler: HandlerFn) -> Option<&'static SyncHandlerRegistration> {
    inventory::iter::<SyncHandlerRegistration>
        .into_iter()
        .find(|registration| (registration.handler_type)() == handler.type_id)
}
