//! [`AggregateRoot`]: an aggregate's state with its id, version and the
//! events recorded but not yet saved.

use std::fmt;
use std::ops::Deref;

use crate::message::{AnyEnvelope, AnyMessage, Envelope, Event, Metadata};
use crate::store::RecordedEvent;

use super::error::UnknownEventError;
use super::traits::{Aggregate, EventOf};

/// An aggregate instance: the user's state `A`, the aggregate id (its
/// stream), the version it was loaded at, and the events recorded since.
///
/// Domain methods check the aggregate's rules against its state and
/// [`record`](Self::record) the resulting events, which are applied at once
/// and queued as [`uncommitted_events`](Self::uncommitted_events) until the
/// repository saves them. The state is read through `Deref`; it never
/// changes except by applying events.
///
/// ```
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct Deposited { amount: u64 }
///
/// #[derive(Default, Debug, Serialize, Deserialize)]
/// struct Account { balance: u64 }
///
/// #[aggregate]
/// impl Account {
///     #[apply]
///     fn deposited(&mut self, event: &Deposited) { self.balance += event.amount; }
/// }
///
/// let mut account = AggregateRoot::<Account>::new("acc-1");
/// account.record(Deposited { amount: 30 });
/// assert_eq!(account.balance, 30);                 // applied at once
/// assert_eq!(account.version(), 0);                // nothing saved yet
/// assert_eq!(account.uncommitted_events().len(), 1);
/// assert_eq!(account.uncommitted_events()[0].metadata().subject.as_deref(), Some("acc-1"));
///
/// account.mark_events_committed();                 // e.g. after store.save(...)
/// assert_eq!(account.version(), 1);
/// assert!(account.uncommitted_events().is_empty());
/// ```
pub struct AggregateRoot<A> {
    id: String,
    version: u64,
    state: A,
    uncommitted: Vec<AnyEnvelope>,
}

impl<A: Aggregate> AggregateRoot<A> {
    /// A new aggregate with no history: default state, version 0. Saving it
    /// demands that its stream does not exist yet.
    pub fn new(id: impl Into<String>) -> Self {
        Self::from_state(id.into(), 0, A::default())
    }

    /// Rebuilds an aggregate from a state at a known version (a snapshot).
    pub(crate) fn from_state(id: String, version: u64, state: A) -> Self {
        Self {
            id,
            version,
            state,
            uncommitted: Vec::new(),
        }
    }

    /// The aggregate id, which is also its stream id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version of the last event in the store that this instance
    /// includes: the expected version of its next save (0 for a new one).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The version the aggregate will be at once its uncommitted events are
    /// saved.
    pub fn pending_version(&self) -> u64 {
        self.version + self.uncommitted.len() as u64
    }

    /// The user's state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Applies `event` now and queues it for saving, with fresh metadata
    /// whose subject is the aggregate id.
    ///
    /// Only events the aggregate has an `#[apply]` method for are accepted,
    /// which the compiler checks.
    pub fn record<E: Event + EventOf<A>>(&mut self, event: E) {
        let metadata = Metadata::new(E::NAME);
        self.record_with_metadata(event, metadata);
    }

    /// As [`record`](Self::record), with the given metadata (its subject is
    /// set to the aggregate id), e.g. one made with
    /// [`Metadata::caused_by`].
    pub fn record_with_metadata<E: Event + EventOf<A>>(&mut self, event: E, metadata: Metadata) {
        event.apply_to(&mut self.state);
        let metadata = metadata.with_subject(self.id.clone());
        self.uncommitted
            .push(Envelope::with_metadata(event, metadata).into());
    }

    /// The events recorded since the aggregate was loaded or last saved, in
    /// order.
    pub fn uncommitted_events(&self) -> &[AnyEnvelope] {
        &self.uncommitted
    }

    /// Declares the uncommitted events stored: they are dropped from the
    /// queue and the version moves past them. The repository calls this
    /// after a successful save; call it yourself when you append the events
    /// to a store directly.
    pub fn mark_events_committed(&mut self) {
        self.version += self.uncommitted.len() as u64;
        self.uncommitted.clear();
    }

    /// Marks every uncommitted event as caused by `cause` (typically the
    /// command being handled): they take its correlation id and name its id
    /// as their causation id.
    pub fn stamp_cause(&mut self, cause: &Metadata) {
        for envelope in &mut self.uncommitted {
            *envelope = envelope
                .clone()
                .map_metadata(|metadata| metadata.caused_by(cause));
        }
    }

    /// Applies an event loaded from the store and moves the version to its
    /// version.
    pub(crate) fn replay(&mut self, event: &RecordedEvent) -> Result<(), UnknownEventError> {
        self.state.apply_recorded(event)?;
        self.version = event.version;
        Ok(())
    }

    /// Applies a past event that is known to be committed (test harness).
    pub(crate) fn replay_message(&mut self, event: &dyn AnyMessage) -> bool {
        let applied = self.state.apply_message(event);
        if applied || A::IGNORE_UNKNOWN_EVENTS {
            self.version += 1;
        }
        applied
    }
}

impl<A> Deref for AggregateRoot<A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.state
    }
}

impl<A: fmt::Debug> fmt::Debug for AggregateRoot<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AggregateRoot")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("state", &self.state)
            .field("uncommitted", &self.uncommitted.len())
            .finish()
    }
}
