//! The in-memory buses: handlers live in the process and run when a message
//! is published.

mod async_bus;
mod builder;
mod commands;
mod core;
mod sync_bus;

pub use async_bus::InMemoryAsyncMessageBus;
pub use builder::{BusBuilder, BusKind, HandlerIdentity};
pub use commands::CommandRoutes;
pub use core::AsyncBusRegistration;
pub use sync_bus::InMemoryMessageBus;
