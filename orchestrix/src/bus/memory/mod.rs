//! The in-memory buses: handlers live in the process and run when a message
//! is published.

mod async_bus;
mod builder;
mod commands;
mod core;
mod join;
mod sync_bus;

pub use async_bus::InMemoryAsyncMessageBus;
pub use builder::{BusBuilder, BusKind, Chosen, HandlerIdentity};
pub(crate) use builder::{find_unmet, ordered};
pub use commands::CommandRoutes;
pub use core::AsyncBusRegistration;
pub(crate) use core::Registration;
pub use sync_bus::InMemoryMessageBus;
