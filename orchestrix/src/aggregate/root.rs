//! [`AggregateRoot`]: an aggregate's state with its id, version and the
//! events recorded but not yet saved.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};

use crate::message::{AnyEnvelope, AnyMessage, Envelope, Event, Metadata};
use crate::store::ReplayedEvent;

use super::decide::IntoEvents;
use super::error::RepositoryError;
use super::traits::{Aggregate, EventOf};

/// An aggregate instance: the user's state `A`, the aggregate id (its
/// stream), the version it was loaded at, and the events recorded since.
///
/// Domain methods are plain `&self` methods on the state that check the
/// aggregate's rules and return the resulting events (or a domain error);
/// [`execute`](Self::execute) runs one and records what it returned. Recorded
/// events are applied at once and queued as
/// [`uncommitted_events`](Self::uncommitted_events) until the repository
/// saves them. The state is read through `Deref`; it never changes except
/// by applying events. ([`record`](Self::record) records one event directly.)
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

    /// Runs a decision on the current state and records the events it
    /// returns: the recommended way to change an aggregate.
    ///
    /// `decide` gets the state (`&A`) and returns `Ok(events)` — one event,
    /// an `Option`, a tuple of up to four or a `Vec`, see [`IntoEvents`] —
    /// or the domain's error. On `Err` nothing is recorded and the error is
    /// returned as is. This keeps the domain methods on the aggregate type
    /// itself, as pure functions of its state:
    ///
    /// ```
    /// use orchestrix::prelude::*;
    ///
    /// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
    /// struct Deposited { amount: u64 }
    /// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
    /// struct Withdrawn { amount: u64 }
    ///
    /// #[derive(Default, Debug, Serialize, Deserialize)]
    /// struct Account { balance: u64 }
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum BankError { InsufficientFunds { balance: u64 } }
    ///
    /// #[aggregate]
    /// impl Account {
    ///     #[apply]
    ///     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount; }
    ///     // Applying a recorded fact cannot fail: never underflow here.
    ///     #[apply]
    ///     fn withdrawn(&mut self, e: &Withdrawn) { self.balance = self.balance.saturating_sub(e.amount); }
    ///
    ///     // The domain method: check the rules, return the event.
    ///     fn withdraw(&self, amount: u64) -> Result<Withdrawn, BankError> {
    ///         if self.balance < amount {
    ///             return Err(BankError::InsufficientFunds { balance: self.balance });
    ///         }
    ///         Ok(Withdrawn { amount })
    ///     }
    /// }
    ///
    /// let mut account = AggregateRoot::<Account>::new("acc-1");
    /// account.record(Deposited { amount: 300 });
    /// account.execute(|account| account.withdraw(200))?;
    /// assert_eq!(account.balance, 100);
    ///
    /// let refused = account.execute(|account| account.withdraw(500));
    /// assert_eq!(refused, Err(BankError::InsufficientFunds { balance: 100 }));
    /// assert_eq!(account.uncommitted_events().len(), 2); // nothing recorded
    /// # Ok::<(), BankError>(())
    /// ```
    pub fn execute<T, Err>(&mut self, decide: impl FnOnce(&A) -> Result<T, Err>) -> Result<(), Err>
    where
        T: IntoEvents<A>,
    {
        let events = decide(&self.state)?;
        events.record_into(self);
        Ok(())
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

    /// Applies an event replayed from the stream `stream_id` with
    /// [`Aggregate::apply_replayed`] and moves the version to its version.
    /// An event of a type the aggregate has no `#[apply]` method for is a
    /// [`RepositoryError::UnknownEvent`] (unless the aggregate ignores
    /// unknown events), as [`Aggregate::apply_replayed`] says; a panic in
    /// it (or in the `#[apply]` method) is caught and returned as
    /// [`RepositoryError::Apply`]. The root is then half-applied and must be
    /// dropped, which every caller does by returning the error.
    pub(crate) fn replay(
        &mut self,
        stream_id: &str,
        event: ReplayedEvent<'_>,
    ) -> Result<(), RepositoryError> {
        let state = &mut self.state;
        // Unwind safety: on a panic the state may be half-updated, but the
        // caller discards this root, so nobody observes it.
        match panic::catch_unwind(AssertUnwindSafe(|| state.apply_replayed(stream_id, event))) {
            Ok(Ok(())) => {}
            Ok(Err(unknown)) => return Err(unknown.into()),
            Err(payload) => {
                return Err(RepositoryError::Apply {
                    aggregate_type: A::AGGREGATE_TYPE,
                    stream_id: stream_id.to_owned(),
                    version: event.version,
                    event_type: event.event_type().to_owned(),
                    message: panic_message(payload.as_ref()),
                });
            }
        }
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

/// The text a panic carried (`panic!("...")` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "the panic carried no message".to_owned()
    }
}
