//! The compile-time registrations the macros submit through `inventory`,
//! and the lookup tables built from them at run time.

mod aggregates;
mod events;
mod handlers;

pub use aggregates::{AggregateRegistration, check_aggregates};
pub use events::{DecodeResult, EventRegistration, EventRegistry, register, validate};
pub use handlers::{
    AsyncHandlerFn, AsyncHandlerRegistration, HandledEvent, SyncHandlerFn, SyncHandlerRegistration,
    async_handlers, sync_handlers,
};
