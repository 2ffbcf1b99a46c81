//! What `#[aggregate]` implements: the [`Aggregate`] trait on the aggregate
//! and one [`EventOf`] per `#[apply]` method on the event type.

use crate::message::AnyMessage;
use crate::store::ReplayedEvent;

use super::error::UnknownEventError;

/// An event-sourced aggregate's state: built from `Default` and changed
/// only by applying its events.
///
/// Implemented by `#[aggregate]` on the impl block holding the `#[apply]`
/// methods; the macro generates the dispatch from an event of any type to
/// the method for its type, and lists the event types the aggregate knows.
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
///     fn deposited(&mut self, event: &Deposited) {
///         self.balance += event.amount;
///     }
/// }
///
/// assert_eq!(Account::AGGREGATE_TYPE, "Account");
/// assert_eq!(Account::EVENT_TYPES, ["Deposited"]);
///
/// let mut account = Account::default();
/// assert!(account.apply_message(&Deposited { amount: 5 }));
/// assert_eq!(account.balance, 5);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an aggregate",
    label = "this type needs `#[aggregate]` on its impl block",
    note = "put `#[aggregate]` on `impl {Self} {{ ... }}` and mark its event-application methods with `#[apply]`"
)]
pub trait Aggregate: Default + Send + Sync + 'static {
    /// The aggregate's type name (kept in snapshots, shown in errors): the
    /// type's name unless set with `#[aggregate(name = "...")]`.
    const AGGREGATE_TYPE: &'static str;

    /// The registered names of the event types the aggregate has an
    /// `#[apply]` method for, in declaration order.
    const EVENT_TYPES: &'static [&'static str];

    /// Whether events of other types are skipped when loading instead of
    /// failing with [`UnknownEventError`]; set with
    /// `#[aggregate(ignore_unknown_events)]`.
    const IGNORE_UNKNOWN_EVENTS: bool = false;

    /// The version of the aggregate's serialized state, kept with its
    /// snapshots; set with `#[aggregate(snapshot_version = N)]` (default 1).
    ///
    /// Bump it when the state changes meaning without failing to decode
    /// (a field renamed with a default, a balance now in cents): loads then
    /// ignore snapshots of other versions, with a warning, and replay the
    /// stream, instead of decoding an old state into a wrong one. It is
    /// stored in the snapshot's `aggregate_type` as `Name@vN` (plain `Name`
    /// for version 1).
    ///
    /// ```
    /// use orchestrix::prelude::*;
    ///
    /// #[derive(Default, Debug, Serialize, Deserialize)]
    /// struct Account { balance_cents: u64 }
    ///
    /// #[aggregate(snapshot_version = 2)]
    /// impl Account {}
    ///
    /// assert_eq!(Account::SNAPSHOT_VERSION, 2);
    /// ```
    const SNAPSHOT_VERSION: u32 = 1;

    /// Applies `event` with the `#[apply]` method for its type. Returns
    /// `false`, changing nothing, when the aggregate has none.
    fn apply_message(&mut self, event: &dyn AnyMessage) -> bool;

    /// Applies an event replayed from the stream `stream_id` (what the
    /// repository's loads do with each event the store replays, see
    /// [`EventStore::replay`](crate::store::EventStore::replay)). By
    /// default it applies the message with
    /// [`apply_message`](Self::apply_message); an event of a type the
    /// aggregate does not know is an [`UnknownEventError`] naming the
    /// stream, version and type, unless the aggregate ignores unknown
    /// events ([`IGNORE_UNKNOWN_EVENTS`](Self::IGNORE_UNKNOWN_EVENTS)).
    ///
    /// Override it in a hand-written impl to change that rule (`#[aggregate]`
    /// never does). A replayed event carries its version and message only,
    /// never its metadata: loads do not decode it. The repository calls it
    /// inside its guard against panics, so a panic here is a
    /// [`RepositoryError::Apply`](super::RepositoryError::Apply) as a
    /// panicking `#[apply]` method is.
    ///
    /// It replaced `apply_recorded(&mut self, &RecordedEvent)` (issue #12),
    /// which loads stopped calling once they no longer built
    /// [`RecordedEvent`](crate::store::RecordedEvent)s; it was removed,
    /// rather than left uncalled, so an impl that overrode it fails to
    /// compile instead of being silently skipped. To apply a `RecordedEvent` by hand, convert it:
    /// `aggregate.apply_replayed(&event.stream_id, (&event).into())`.
    ///
    /// ```
    /// use orchestrix::prelude::*;
    /// use orchestrix::store::InMemoryEventStore;
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
    ///     fn deposited(&mut self, event: &Deposited) {
    ///         self.balance += event.amount;
    ///     }
    /// }
    ///
    /// let store = InMemoryEventStore::new();
    /// store.save("acc-1", &[Envelope::new(Deposited { amount: 5 }).into()], Some(0))?;
    ///
    /// let mut account = Account::default();
    /// for event in &store.load("acc-1", 1)? {
    ///     account.apply_replayed(&event.stream_id, event.into()).expect("a known type");
    /// }
    /// assert_eq!(account.balance, 5);
    /// # Ok::<(), StoreError>(())
    /// ```
    fn apply_replayed(
        &mut self,
        stream_id: &str,
        event: ReplayedEvent<'_>,
    ) -> Result<(), UnknownEventError> {
        if self.apply_message(event.message) || Self::IGNORE_UNKNOWN_EVENTS {
            return Ok(());
        }
        Err(UnknownEventError {
            aggregate_type: Self::AGGREGATE_TYPE,
            stream_id: stream_id.to_owned(),
            version: event.version,
            event_type: event.event_type().to_owned(),
        })
    }
}

/// The event type `Self` is one the aggregate `A` has an `#[apply]` method
/// for. Generated by `#[aggregate]`, one impl per `#[apply]` method.
///
/// [`AggregateRoot::record`](super::AggregateRoot::record) is bounded on it,
/// so recording an event the aggregate could not apply is refused at
/// compile time, with an error naming both types. (It is implemented on the
/// event rather than the aggregate so that the compiler never guesses the
/// event type from the aggregate's only impl.)
#[diagnostic::on_unimplemented(
    message = "aggregate `{A}` has no `#[apply]` method for `{Self}`",
    label = "`{A}` cannot apply `{Self}`, so it cannot record it",
    note = "add `#[apply] fn on_event(&mut self, event: &{Self}) {{ ... }}` to the `#[aggregate] impl {A}` block"
)]
pub trait EventOf<A: Aggregate> {
    /// Applies the event to `aggregate` with its `#[apply]` method.
    fn apply_to(&self, aggregate: &mut A);
}
