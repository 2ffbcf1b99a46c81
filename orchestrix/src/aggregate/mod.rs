//! Event-sourced aggregates: `#[aggregate]`, [`AggregateRoot`] and
//! [`AggregateRepository`].
//!
//! An aggregate is a plain type (`Default`, serde) whose state changes only
//! by applying its events. `#[aggregate]` on its impl block turns the
//! methods marked `#[apply]` into the [`Aggregate`] implementation.
//! Domain methods are `&self` methods on the aggregate that return events;
//! [`AggregateRoot<A>`] runs them with [`AggregateRoot::execute`] and keeps
//! the id, the version and the events recorded but not yet saved; [`AggregateRepository`] loads and saves roots over a
//! blocking or an async event store.
//!
//! ```
//! use orchestrix::prelude::*;
//! use orchestrix::store::InMemoryAsyncEventStore;
//!
//! #[derive(Event, Clone, Debug, Serialize, Deserialize)]
//! struct AccountOpened { owner: String }
//! #[derive(Event, Clone, Debug, Serialize, Deserialize)]
//! struct Deposited { amount: u64 }
//!
//! #[derive(Default, Debug, Serialize, Deserialize)]
//! struct BankAccount { owner: String, balance: u64 }
//!
//! #[aggregate]
//! impl BankAccount {
//!     #[apply]
//!     fn opened(&mut self, event: &AccountOpened) { self.owner = event.owner.clone(); }
//!     #[apply]
//!     fn deposited(&mut self, event: &Deposited) { self.balance += event.amount; }
//!
//!     // A domain method: check the rules, return the event.
//!     fn deposit(&self, amount: u64) -> Result<Deposited, String> {
//!         if amount == 0 { return Err("a deposit needs an amount".into()); }
//!         Ok(Deposited { amount })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), orchestrix::aggregate::RepositoryError> {
//! let repo = AggregateRepository::new(InMemoryAsyncEventStore::new())
//!     .with_snapshots::<BankAccount>(SnapshotPolicy::every(100));
//!
//! let mut account = AggregateRoot::<BankAccount>::new("ACC-001");
//! account.record(AccountOpened { owner: "Ada".into() });
//! account.execute(|account| account.deposit(500)).expect("an amount");
//! repo.save_async(&mut account).await?;
//!
//! let account = repo.load_async::<BankAccount>("ACC-001").await?;
//! assert_eq!((account.owner.as_str(), account.balance, account.version()), ("Ada", 500, 2));
//!
//! let opened_only = repo.load_at_async::<BankAccount>("ACC-001", 1).await?;
//! assert_eq!(opened_only.balance, 0);
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/event-sourcing.md` for the guide, [`testing`] for the test
//! harness and [`command`] for the command-handler pattern.

pub mod command;
mod decide;
mod error;
mod repository;
mod root;
mod state;
pub mod testing;
mod traits;

pub use command::CommandError;
pub use decide::IntoEvents;
pub use error::{RepositoryError, UnknownEventError};
pub use repository::{AggregateRepository, SnapshotPolicy};
pub use root::AggregateRoot;
pub use state::{DeserializeState, SerializeState};
pub use traits::{Aggregate, EventOf};

/// The registered name of `E`, which must be an event. `#[aggregate]` calls
/// it with the user's span, so a non-event `#[apply]` parameter is reported
/// there, once.
#[doc(hidden)]
pub const fn event_name<E: crate::message::Event>() -> &'static str {
    <E as crate::message::Message>::NAME
}

/// Names this module adds to `orchestrix::prelude`.
pub mod prelude {
    pub use super::{
        Aggregate, AggregateRepository, AggregateRoot, RepositoryError, SnapshotPolicy,
    };
}

/// Names this module's macro expansions reach (see `orchestrix::__private`).
#[doc(hidden)]
pub mod __private {
    pub use super::{Aggregate, EventOf, event_name};
}

/// Compiles and runs the examples of `docs/event-sourcing.md` as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/event-sourcing.md")]
struct EventSourcingGuide;
