//! # Orchestrix
//!
//! Event sourcing, CQRS and sagas for Rust, declared with attributes.
//!
//! * `#[derive(Event)]` / `#[derive(Command)]` declare messages that carry
//!   CloudEvents metadata, correlation and causation ids ([`message`]);
//! * `#[event_handler]` registers handlers that the message buses find and
//!   run, all handlers of a message concurrently ([`bus`]);
//! * event stores keep streams with optimistic concurrency ([`store`]);
//!   `#[aggregate]` builds event-sourced aggregates on them ([`aggregate`](mod@aggregate));
//! * `#[command_handler]` turns a decision on an aggregate into a command's
//!   whole path: load, decide, save, publish ([`command`]);
//! * `#[saga_step(compensate = ...)]` wires sagas that persist their state
//!   and recover ([`saga`]);
//! * projections turn the global stream into read models, with checkpoints,
//!   live following and exactly-once application ([`projection`]);
//! * durable delivery runs `#[event_handler(durable)]`s from the store, at
//!   least once, with retries, dead letters and idempotency ([`delivery`]).
//!
//! The macros are at the crate root too (`#[orchestrix::event_handler]`,
//! `#[derive(orchestrix::Event)]`). Their expansions name this crate as
//! `::orchestrix`: if you depend on it under another name
//! (`orx = { package = "orchestrix", ... }`), give it its own name back once,
//! at your crate root, with `extern crate orx as orchestrix;`.
//!
//! Sync and async APIs coexist: `InMemoryMessageBus` /
//! `InMemoryAsyncMessageBus`, `InMemoryEventStore` /
//! `InMemoryAsyncEventStore`, `repo.load` / `repo.load_async`. The
//! PostgreSQL stores are behind the `postgres` feature, the SQLite ones
//! (a file, no server) behind `sqlite`.
//!
//! Start with `use orchestrix::prelude::*;`; the [`guides`] walk through each part.

#![warn(missing_docs)]

// Lets the macros' `::orchestrix::...` paths resolve inside this crate too.
#[allow(unused_extern_crates)]
extern crate self as orchestrix;

pub mod aggregate;
pub mod bus;
pub mod command;
pub mod delivery;
pub mod diagnostics;
pub mod error;
pub mod evolution;
pub mod limits;
pub mod message;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod migration;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod projection;
pub mod registry;
pub mod retry;
pub mod saga;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod store;

/// Long-form guides. Their examples compile and run as doctests, so they
/// stay true to the code.
pub mod guides {
    #[doc = include_str!("../../docs/messaging.md")]
    pub mod messaging {}

    #[doc = include_str!("../../docs/event-sourcing.md")]
    pub mod event_sourcing {}

    #[doc = include_str!("../../docs/sagas.md")]
    pub mod sagas {}

    #[doc = include_str!("../../docs/projections.md")]
    pub mod projections {}

    #[doc = include_str!("../../docs/delivery.md")]
    pub mod delivery {}
    #[doc = include_str!("../../docs/limits.md")]
    pub mod limits {}

    #[doc = include_str!("../../docs/evolution.md")]
    pub mod evolution {}

    #[cfg(feature = "postgres")]
    #[doc = include_str!("../../docs/postgres.md")]
    pub mod postgres {}

    #[cfg(feature = "sqlite")]
    #[doc = include_str!("../../docs/sqlite.md")]
    pub mod sqlite {}
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The names most programs need: `use orchestrix::prelude::*;`.
pub mod prelude {
    pub use crate::aggregate::prelude::*;
    pub use crate::bus::prelude::*;
    pub use crate::command::{CommandError, CommandOutcome};
    pub use crate::error::{BoxError, ConcurrencyError};
    pub use crate::message::{AnyEnvelope, Command, Envelope, Event, Message, Metadata};
    pub use crate::projection::prelude::*;
    pub use crate::saga::prelude::*;
    pub use crate::store::{
        AppendOutcome, AsyncEventStore, EventStore, RecordedEvent, Snapshot, StoreError,
    };
    pub use crate::store::{InMemoryAsyncEventStore, InMemoryEventStore};
    pub use orchestrix_macros::{
        Command, Event, aggregate, apply, command_handler, event_handler, handle, projection,
        saga_step,
    };
    pub use serde::{Deserialize, Serialize};
}

// The macros at the crate root too: `#[orchestrix::event_handler]`,
// `#[derive(orchestrix::Event)]`. (`Event` and `Command` here are the
// derives; the traits of the same names live in `orchestrix::message`.)
pub use orchestrix_macros::{
    Command, Event, aggregate, apply, command_handler, event_handler, saga_step,
};

/// Re-exported so that implementors of [`store::AsyncEventStore`],
/// [`bus::AsyncMessageBus`] or [`saga::SagaStateStore`] need no direct
/// dependency: write `#[orchestrix::async_trait]` on the impl.
pub use async_trait::async_trait;

/// What the macros' expansions use. Not public API: no semver guarantees.
#[doc(hidden)]
pub mod __private {
    pub use async_trait;
    pub use futures;
    pub use inventory;
    pub use serde;
    pub use serde_json;

    pub use crate::aggregate::__private::*;
    pub use crate::bus::__private::*;
    pub use crate::command::__private::*;
    pub use crate::delivery::__private::*;
    pub use crate::diagnostics::{DeserializePayload, SerializePayload, payload};
    pub use crate::diagnostics::{RegisteredEvent, event_registration};
    pub use crate::diagnostics::{StepOutput, step_output};
    pub use crate::evolution::__private as evolution;
    pub use crate::message::{AnyMessage, Command, Event, Message, MessageKind, Metadata};
    pub use crate::projection::__private::*;
    pub use crate::registry::AggregateRegistration;
    pub use crate::registry::EventRegistration;
    pub use crate::saga::__private::*;
}
