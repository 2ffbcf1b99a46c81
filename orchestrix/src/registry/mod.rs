//! The compile-time registrations the macros submit through `inventory`,
//! and the lookup tables built from them at run time.

mod aggregates;
mod events;
mod handler_fn;
mod handlers;

pub use aggregates::{AggregateRegistration, check_aggregates};
pub use events::{DecodeResult, EventRegistration, EventRegistry, register, validate};
pub use handler_fn::{HandlerFn, fn_path, fn_type_id, type_id_of_val};
pub use handlers::{
    AsyncHandlerRegistration, HandledEvent, SyncHandlerRegistration, async_handlers,
    find_async_handler, find_sync_handler, sync_handlers,
};
