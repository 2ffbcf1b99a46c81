//! Marker traits that macro expansions put in front of serde bounds, spanned
//! on the user's type, so that a missing derive is one error on that type
//! that names the derive.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::message::Event;
use crate::registry::EventRegistration;

/// A message's payload can be written as JSON (serde's `Serialize`): the
/// supertrait of [`Message`](crate::message::Message) in front of
/// `Serialize`, so a `#[derive(Event)]` or `#[derive(Command)]` without
/// `Serialize` is one error on the user's type that names the derive (rustc
/// drops serde's own error, which this bound implies).
#[diagnostic::on_unimplemented(
    message = "message `{Self}` does not implement `Serialize`, which events and commands need to be stored and sent",
    label = "add `#[derive(Serialize)]` to `{Self}`",
    note = "events and commands derive `Serialize` and `Deserialize` beside `Event` or `Command` \
            (`use orchestrix::prelude::*;` brings both derives)"
)]
pub trait SerializePayload: Serialize {}

#[diagnostic::do_not_recommend]
impl<T: Serialize> SerializePayload for T {}

/// A message's payload can be read back from JSON (serde's
/// `DeserializeOwned`); see [`SerializePayload`].
#[diagnostic::on_unimplemented(
    message = "message `{Self}` does not implement `Deserialize`, which events and commands need to be loaded and received",
    label = "add `#[derive(Deserialize)]` to `{Self}`",
    note = "events and commands derive `Serialize` and `Deserialize` beside `Event` or `Command` \
            (`use orchestrix::prelude::*;` brings both derives)"
)]
pub trait DeserializePayload: DeserializeOwned {}

#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned> DeserializePayload for T {}

/// Checks, at compile time, that `T` can be a message's payload (what
/// `#[derive(Event)]` and `#[derive(Command)]` generate, on the type's name).
pub const fn payload<T: SerializePayload + DeserializePayload>() {}

/// An event the derive registers for decoding by name: an [`Event`], under
/// a message of its own, so a `#[derive(Event)]` without serde gets no
/// "not an event" error beside the missing-derive ones of [`payload`].
#[diagnostic::on_unimplemented(
    message = "event `{Self}` cannot be registered for decoding until it derives `Serialize` and `Deserialize`",
    label = "add the missing serde derive to `{Self}`",
    note = "events are registered by name so stores can decode them; the error above names the missing derive"
)]
pub trait RegisteredEvent: Event {}

#[diagnostic::do_not_recommend]
impl<E: Event> RegisteredEvent for E {}

/// The registration `#[derive(Event)]` submits for `E`.
pub const fn event_registration<E: RegisteredEvent>() -> EventRegistration {
    EventRegistration::of::<E>()
}

/// A saga step's output: kept in the saga's state for its compensation, so
/// stored as JSON.
#[diagnostic::on_unimplemented(
    message = "the output `{Self}` of this saga step cannot be stored in the saga's state",
    label = "`{Self}` must implement `Serialize` and `Deserialize`",
    note = "a step's output is kept (as JSON) for its compensation: add `#[derive(Serialize, Deserialize)]` \
            to `{Self}`, or return `()` if the compensation needs nothing"
)]
pub trait StepOutput: Serialize + DeserializeOwned {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> StepOutput for T {}

/// Checks, at compile time, that `O` can be a step's output (what
/// `#[saga_step]` generates, on the output type).
pub const fn step_output<O: StepOutput>() {}
