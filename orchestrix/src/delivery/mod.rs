//! Delivery guarantees: the event store is the outbox.
//!
//! An `#[event_handler]` runs either **inline** (the bus runs it when the
//! events are published, right after they are saved: lowest latency, but a
//! crash between save and publish, or a failing handler, loses the call) or
//! **durably** (`#[event_handler(durable)]`, or
//! [`DispatcherBuilder::handler`]): a [`Dispatcher`] follows the store's
//! global stream from a checkpoint per handler group and hands every stored
//! event to the handler, at least once, in position order per group,
//! across restarts.
//!
//! * Retries per handler, declared with it (`retry = exponential(base_ms =
//!   10, max_attempts = 5)`, a [`RetryPolicy`](crate::retry::RetryPolicy)),
//!   inline and durable alike; an error or a panic is a failed attempt.
//! * After the last attempt a durable handler's event is parked as a
//!   [`ParkedEvent`] (handler, error, attempts, times) and the handler goes
//!   on with its later events, unless it asks for `strict_order`; parked
//!   events can be listed, [replayed](Dispatcher::replay) and
//!   [discarded](Dispatcher::discard).
//! * `idempotent` handlers run at most once per event id (the processed ids
//!   are kept per handler in the [`DeliveryStore`]; on PostgreSQL and
//!   SQLite a handler records it in its own transaction with
//!   `PostgreSQLDeliveryStore::mark_processed_in` or
//!   `SqliteDeliveryStore::mark_processed_in`).
//!
//! The dispatcher is built on the projection machinery: each handler group
//! is a [`ProjectionEngine`](crate::projection::ProjectionEngine) (the
//! global-stream follower, its checkpoint and lease) whose one handler per
//! event type fans out to the group's handlers. The guide is
//! `docs/delivery.md`.

mod dispatcher;
mod error;
mod memory;
mod options;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

pub use dispatcher::{
    Dispatcher, DispatcherBuilder, GROUP_PREFIX, ReplayReport, RunningDispatcher, Undecodable,
};
pub use error::DeliveryError;
pub use memory::InMemoryDeliveryStore;
pub use options::DeliveryOptions;
#[cfg(feature = "postgres")]
pub use postgres::{DELIVERY_MIGRATIONS, PostgreSQLDeliveryStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{SQLITE_DELIVERY_MIGRATIONS, SqliteDeliveryStore};
pub use store::{DeliveryStore, DeliveryStoreError, ParkedEvent};

/// Names this module's macro expansions reach (see `orchestrix::__private`).
#[doc(hidden)]
pub mod __private {
    pub use super::DeliveryOptions;
}
