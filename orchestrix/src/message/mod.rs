//! Messages: the [`Event`] and [`Command`] traits, their [`Metadata`] and the
//! [`Envelope`] that pairs the two.
//!
//! Messages are declared with `#[derive(Event)]` or `#[derive(Command)]`:
//!
//! ```
//! use orchestrix::prelude::*;
//!
//! #[derive(Event, Clone, Debug, Serialize, Deserialize)]
//! #[event(name = "bank.deposited", version = 2)]
//! struct Deposited { amount: u64 }
//!
//! #[derive(Command, Clone, Debug, Serialize, Deserialize)]
//! struct Deposit { account: String, amount: u64 }
//!
//! assert_eq!(<Deposited as Message>::NAME, "bank.deposited");
//! assert_eq!(<Deposited as Message>::VERSION, 2);
//! assert_eq!(<Deposit as Message>::NAME, "Deposit");
//! ```

mod envelope;
mod metadata;

use std::any::Any;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::limits::JsonCheckError;

pub use envelope::{AnyEnvelope, Envelope};
pub use metadata::{DEFAULT_SOURCE, JSON_CONTENT_TYPE, Metadata, SPEC_VERSION};

/// Whether a message states a fact ([`Event`]) or asks for something ([`Command`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Something that happened.
    Event,
    /// Something asked for.
    Command,
}

/// What every message has: a registered name and a schema version.
///
/// Implemented by `#[derive(Event)]` and `#[derive(Command)]`; implementing it
/// by hand is possible but gives up the automatic registration of events.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an Orchestrix message",
    label = "this type needs `#[derive(Event)]` or `#[derive(Command)]`",
    note = "add `#[derive(Event, Serialize, Deserialize)]` (or `Command`) to `{Self}`"
)]
pub trait Message: Serialize + DeserializeOwned + fmt::Debug + Send + Sync + 'static {
    /// The registered name (CloudEvents `type`); the type's name unless set
    /// with `#[event(name = "...")]`.
    const NAME: &'static str;
    /// The payload's schema version; 1 unless set with `#[event(version = N)]`.
    const VERSION: u32;
    /// Event or command.
    const KIND: MessageKind;
}

/// A fact that happened, recorded and published. See the [module docs](self).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an Orchestrix event",
    label = "expected a type with `#[derive(Event)]`",
    note = "add `#[derive(Event, Serialize, Deserialize, Debug)]` to `{Self}`"
)]
pub trait Event: Message {}

/// A request to do something, usually handled by a single handler (the
/// buses do not enforce that). See the [module docs](self).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an Orchestrix command",
    label = "expected a type with `#[derive(Command)]`",
    note = "add `#[derive(Command, Serialize, Deserialize, Debug)]` to `{Self}`"
)]
pub trait Command: Message {}

/// The object-safe face of a [`Message`], for code that handles messages of
/// types it does not know at compile time (buses, stores, aggregates' event
/// lists). Implemented for every `Message`.
pub trait AnyMessage: Any + fmt::Debug + Send + Sync {
    /// The registered name.
    fn message_name(&self) -> &'static str;
    /// The schema version.
    fn message_version(&self) -> u32;
    /// Event or command.
    fn message_kind(&self) -> MessageKind;
    /// The Rust type's path, for error messages.
    fn rust_type_name(&self) -> &'static str;
    /// The payload as JSON.
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
    /// The payload as JSON text, written straight from the value.
    fn to_json_bytes(&self) -> Result<Vec<u8>, serde_json::Error>;

    /// Checks that the payload serializes within the store
    /// [limits](crate::limits) (nesting depth, no NUL, no NaN or infinite
    /// float), without keeping the JSON; `what` names the payload in the
    /// error. The default serializes with
    /// [`to_json_bytes`](Self::to_json_bytes) and reads the text, where a
    /// non-finite float is already `null` and cannot be seen: every
    /// [`Message`] checks the value itself instead, stopping at the first
    /// problem.
    fn check_json(&self, what: &dyn Fn() -> String) -> Result<(), JsonCheckError> {
        let json = self.to_json_bytes().map_err(JsonCheckError::Serialize)?;
        Ok(crate::limits::check_json_text(&json, what)?)
    }

    /// The payload as JSON text, checked as [`check_json`](Self::check_json)
    /// checks it: for stores that keep the text, so that the payload is
    /// serialized once per append, not once to check and once to write.
    /// The default serializes with [`to_json_bytes`](Self::to_json_bytes)
    /// and checks the text; every [`Message`] does both in one pass.
    fn to_checked_json_bytes(&self, what: &dyn Fn() -> String) -> Result<Vec<u8>, JsonCheckError> {
        let json = self.to_json_bytes().map_err(JsonCheckError::Serialize)?;
        crate::limits::check_json_text(&json, what)?;
        Ok(json)
    }
}

impl<M: Message> AnyMessage for M {
    fn message_name(&self) -> &'static str {
        M::NAME
    }

    fn message_version(&self) -> u32 {
        M::VERSION
    }

    fn message_kind(&self) -> MessageKind {
        M::KIND
    }

    fn rust_type_name(&self) -> &'static str {
        std::any::type_name::<M>()
    }

    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    fn to_json_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    fn check_json(&self, what: &dyn Fn() -> String) -> Result<(), JsonCheckError> {
        crate::limits::check_json(self, what)
    }

    fn to_checked_json_bytes(&self, what: &dyn Fn() -> String) -> Result<Vec<u8>, JsonCheckError> {
        crate::limits::to_checked_json(self, what)
    }
}
