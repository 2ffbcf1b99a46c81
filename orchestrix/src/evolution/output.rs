//! What an upcaster returns.

use std::sync::Arc;

use crate::error::BoxError;
use crate::message::{AnyMessage, Event};

/// The current events one stored event becomes: usually one, none when the
/// event is dropped, several when it was split.
///
/// A split upcaster (`upcast(from = N, split = f)`) returns it. Every event
/// it yields is read at the stored event's stream version and global
/// position: the stored versions stay authoritative (the next append still
/// expects the stream's stored version), so one stored version may carry
/// several events, or none.
///
/// ```
/// use orchestrix::evolution::Upcasted;
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Debug, Serialize, Deserialize)]
/// struct Opened;
/// #[derive(Event, Debug, Serialize, Deserialize)]
/// struct Deposited { amount: u64 }
///
/// let split = Upcasted::one(Opened).and(Deposited { amount: 5 });
/// assert_eq!(split.len(), 2);
/// assert!(Upcasted::none().is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Upcasted(Inner);

#[derive(Clone, Debug)]
enum Inner {
    One(Arc<dyn AnyMessage>),
    Many(Vec<Arc<dyn AnyMessage>>),
}

impl Upcasted {
    /// No event: the stored event is dropped when read.
    pub fn none() -> Self {
        Self(Inner::Many(Vec::new()))
    }

    /// One current event.
    pub fn one<E: Event>(event: E) -> Self {
        Self(Inner::One(Arc::new(event)))
    }

    /// One already shared event (what a decoder produces).
    pub(crate) fn shared(message: Arc<dyn AnyMessage>) -> Self {
        Self(Inner::One(message))
    }

    /// These events, then `event`.
    #[must_use]
    pub fn and<E: Event>(self, event: E) -> Self {
        let event: Arc<dyn AnyMessage> = Arc::new(event);
        let mut events = self.into_vec();
        events.push(event);
        Self(Inner::Many(events))
    }

    /// How many events.
    pub fn len(&self) -> usize {
        match &self.0 {
            Inner::One(_) => 1,
            Inner::Many(events) => events.len(),
        }
    }

    /// Whether there is no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The single event, if there is exactly one.
    pub fn into_single(self) -> Result<Arc<dyn AnyMessage>, Self> {
        match self.0 {
            Inner::One(message) => Ok(message),
            Inner::Many(mut events) if events.len() == 1 => match events.pop() {
                Some(message) => Ok(message),
                None => Err(Self(Inner::Many(events))),
            },
            inner => Err(Self(inner)),
        }
    }

    /// The events, in order.
    pub fn into_vec(self) -> Vec<Arc<dyn AnyMessage>> {
        match self.0 {
            Inner::One(message) => vec![message],
            Inner::Many(events) => events,
        }
    }

    /// Calls `f` with each event, in order, without collecting them.
    pub(crate) fn for_each(self, mut f: impl FnMut(Arc<dyn AnyMessage>)) {
        match self.0 {
            Inner::One(message) => f(message),
            Inner::Many(events) => events.into_iter().for_each(f),
        }
    }
}

/// What an upcaster may return for the next version `T`: `T` itself, or a
/// `Result` of it whose error says why the stored event cannot be read.
#[diagnostic::on_unimplemented(
    message = "this upcaster returns `{Self}`, but the next version is read as `{T}`",
    label = "must return `{T}` or `Result<{T}, E>`",
    note = "the shape of version N + 1 is the `shape` of the `upcast(from = N + 1, ...)` entry, \
            `serde_json::Value` when that entry has no `shape`, the event itself for the last \
            version, and `orchestrix::evolution::Upcasted` for `split = ...`"
)]
pub trait UpcastOutput<T> {
    /// The next version, or the upcaster's error.
    fn into_upcast(self) -> Result<T, BoxError>;
}

impl<T> UpcastOutput<T> for T {
    fn into_upcast(self) -> Result<T, BoxError> {
        Ok(self)
    }
}

impl<T, E: Into<BoxError>> UpcastOutput<T> for Result<T, E> {
    fn into_upcast(self) -> Result<T, BoxError> {
        self.map_err(Into::into)
    }
}
