//! [`IntoEvents`]: what a decision (a domain method on the aggregate's
//! state) may return for [`AggregateRoot::execute`] to record.

use crate::message::Event;

use super::root::AggregateRoot;
use super::traits::{Aggregate, EventOf};

/// The events a decision produced: one event, none or one (`Option`),
/// several of different types (a tuple of up to four), or several of one
/// type (`Vec`).
///
/// [`AggregateRoot::execute`] records them in order. Every event type must
/// be one the aggregate `A` has an `#[apply]` method for ([`EventOf<A>`]),
/// so returning an event the aggregate cannot apply is a compile error.
///
/// ```
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct Deposited { amount: u64 }
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct BonusGranted { amount: u64 }
///
/// #[derive(Default, Debug, Serialize, Deserialize)]
/// struct Account { balance: u64 }
///
/// #[aggregate]
/// impl Account {
///     #[apply]
///     fn deposited(&mut self, e: &Deposited) { self.balance += e.amount; }
///     #[apply]
///     fn bonus(&mut self, e: &BonusGranted) { self.balance += e.amount; }
///
///     /// A big deposit earns a bonus: one or two events of different types.
///     fn deposit(&self, amount: u64) -> Result<(Deposited, Option<BonusGranted>), String> {
///         if amount == 0 { return Err("nothing to deposit".into()); }
///         Ok((Deposited { amount }, (amount >= 1_000).then_some(BonusGranted { amount: 10 })))
///     }
/// }
///
/// let mut account = AggregateRoot::<Account>::new("acc-1");
/// account.execute(|account| account.deposit(5))?;
/// account.execute(|account| account.deposit(1_000))?;
/// assert_eq!(account.balance, 1_015);
/// assert_eq!(account.uncommitted_events().len(), 3);
/// # Ok::<(), String>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of events aggregate `{A}` can record",
    label = "a decision for `{A}` returns an event, `Option<event>`, a tuple of up to four events or `Vec<event>`",
    note = "every event type must be an `Event` that `{A}` has an `#[apply]` method for"
)]
pub trait IntoEvents<A: Aggregate> {
    /// Records the events on `root`, in order (each applied at once).
    fn record_into(self, root: &mut AggregateRoot<A>);
}

impl<A: Aggregate, E: Event + EventOf<A>> IntoEvents<A> for E {
    fn record_into(self, root: &mut AggregateRoot<A>) {
        root.record(self);
    }
}

impl<A: Aggregate, E: Event + EventOf<A>> IntoEvents<A> for Option<E> {
    fn record_into(self, root: &mut AggregateRoot<A>) {
        if let Some(event) = self {
            root.record(event);
        }
    }
}

impl<A: Aggregate, E: Event + EventOf<A>> IntoEvents<A> for Vec<E> {
    fn record_into(self, root: &mut AggregateRoot<A>) {
        for event in self {
            root.record(event);
        }
    }
}

/// No events: a decision that found nothing to do.
impl<A: Aggregate> IntoEvents<A> for () {
    fn record_into(self, _root: &mut AggregateRoot<A>) {}
}

/// Tuples record their members in order; a member may itself be an
/// `Option` or a `Vec`.
macro_rules! tuple_into_events {
    ($($member:ident),+) => {
        impl<A: Aggregate, $($member: IntoEvents<A>),+> IntoEvents<A> for ($($member,)+) {
            #[allow(non_snake_case)]
            fn record_into(self, root: &mut AggregateRoot<A>) {
                let ($($member,)+) = self;
                $($member.record_into(root);)+
            }
        }
    };
}

tuple_into_events!(E1, E2);
tuple_into_events!(E1, E2, E3);
tuple_into_events!(E1, E2, E3, E4);
