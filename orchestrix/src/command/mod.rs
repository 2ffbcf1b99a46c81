//! `#[command_handler]`: a command's whole path — load the aggregate, decide,
//! save with optimistic concurrency, publish the events caused by the
//! command — from one fn that only decides.
//!
//! The handler is a fn (or an aggregate method inside its `#[aggregate]`
//! impl block) that takes the aggregate's state and the command and returns
//! `Result<events, E>`. The attribute names the command field holding the
//! aggregate id; the generated wiring does the rest when a bus built with an
//! event store is sent the command ([`InMemoryAsyncMessageBus::send`] /
//! [`InMemoryMessageBus::send`]):
//!
//! 1. load the aggregate (a missing stream is
//!    [`RepositoryError::NotFound`](crate::aggregate::RepositoryError), or a
//!    new aggregate with `create_if_missing`);
//! 2. run the decision; a domain error ([`CommandError::Domain`]) saves and
//!    publishes nothing;
//! 3. save the events, expecting the version loaded; on a conflict, run the
//!    command again from step 1, at most `retry_on_conflict = N` times;
//! 4. publish each saved event on the bus, stamped as caused by the command
//!    (its id is their causation id, its correlation id theirs), and mark
//!    them committed.
//!
//! ```standalone_crate
//! use orchestrix::prelude::*;
//!
//! #[derive(Command, Debug, Serialize, Deserialize)]
//! struct Deposit { account_id: String, amount: u64 }
//!
//! #[derive(Event, Debug, Serialize, Deserialize)]
//! struct Deposited { amount: u64 }
//!
//! #[derive(Default, Debug, Serialize, Deserialize)]
//! struct Account { balance: u64 }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("a deposit needs an amount")]
//! struct EmptyDeposit;
//!
//! #[aggregate]
//! impl Account {
//!     #[apply]
//!     fn deposited(&mut self, event: &Deposited) { self.balance += event.amount; }
//!
//!     #[command_handler(aggregate_id = account_id, create_if_missing, retry_on_conflict = 3)]
//!     fn deposit(&self, command: &Deposit) -> Result<Deposited, EmptyDeposit> {
//!         if command.amount == 0 { return Err(EmptyDeposit); }
//!         Ok(Deposited { amount: command.amount })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = std::sync::Arc::new(InMemoryAsyncEventStore::new());
//! let bus = InMemoryAsyncMessageBus::builder()
//!     .event_store(store.clone())
//!     .register_handlers()
//!     .build()?;
//!
//! let outcome = bus.send(Deposit { account_id: "acc-1".into(), amount: 5 }).await?;
//! assert_eq!(outcome.saved.new_version, 1);
//! let refused = bus.send(Deposit { account_id: "acc-1".into(), amount: 0 }).await;
//! assert!(matches!(refused, Err(CommandError::Domain(_))));
//!
//! let account = AggregateRepository::shared(store).load_async::<Account>("acc-1").await?;
//! assert_eq!((account.balance, account.version()), (5, 1));
//! # Ok(())
//! # }
//! ```
//!
//! [`InMemoryAsyncMessageBus::send`]: crate::bus::InMemoryAsyncMessageBus::send
//! [`InMemoryMessageBus::send`]: crate::bus::InMemoryMessageBus::send

mod handler;
mod outcome;
mod registration;
mod run;

pub use crate::aggregate::CommandError;
pub use handler::{AggregateId, CommandHandler, Decision, DomainError, decide};
pub use outcome::{AsyncRepository, BlockingRepository, CommandOutcome, CommandRun};
pub use registration::{
    CommandFuture, CommandHandlerRegistration, command_handlers, find_command_handler,
};

/// Names this module's macro expansions reach (see `orchestrix::__private`).
#[doc(hidden)]
pub mod __private {
    pub use super::{AggregateId, CommandHandler, CommandHandlerRegistration, decide};
    pub use crate::aggregate::AggregateRoot;
}
