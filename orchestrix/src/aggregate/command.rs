//! The command-handler pattern: load or create an aggregate, call a domain
//! method, then save and publish its new events.
//!
//! [`AggregateRepository::save_and_publish_async`] (and the blocking
//! [`save_and_publish`](AggregateRepository::save_and_publish)) do the last
//! part in the right order: the events are stamped as caused by the command
//! (its id becomes their causation id, its correlation id theirs), saved with
//! optimistic concurrency, and only then published, one by one, on the bus.
//! An event is never published unless it was stored.
//!
//! ```
//! use orchestrix::prelude::*;
//! use orchestrix::aggregate::{CommandError, RepositoryError};
//! use orchestrix::store::InMemoryAsyncEventStore;
//!
//! #[derive(Command, Clone, Debug, Serialize, Deserialize)]
//! struct Deposit { account: String, amount: u64 }
//!
//! #[derive(Event, Clone, Debug, Serialize, Deserialize)]
//! struct Deposited { amount: u64 }
//!
//! #[derive(Default, Debug, Serialize, Deserialize)]
//! struct Account { balance: u64 }
//!
//! #[aggregate]
//! impl Account {
//!     #[apply]
//!     fn deposited(&mut self, event: &Deposited) { self.balance += event.amount; }
//! }
//!
//! /// The handler: load (or create), decide, save, publish.
//! async fn handle_deposit(
//!     repo: &AggregateRepository<InMemoryAsyncEventStore>,
//!     bus: &dyn AsyncMessageBus,
//!     command: Envelope<Deposit>,
//! ) -> Result<(), CommandError> {
//!     let Deposit { account, amount } = command.message().clone();
//!     let mut account = match repo.load_async::<Account>(&account).await {
//!         Ok(found) => found,
//!         Err(RepositoryError::NotFound { .. }) => AggregateRoot::new(account),
//!         Err(other) => return Err(other.into()),
//!     };
//!     account.record(Deposited { amount });
//!     repo.save_and_publish_async(&mut account, bus, command.metadata()).await?;
//!     Ok(())
//! }
//!
//! // A bus that only counts, standing in for InMemoryAsyncMessageBus.
//! struct CountingBus(std::sync::atomic::AtomicUsize);
//! #[async_trait::async_trait]
//! impl AsyncMessageBus for CountingBus {
//!     async fn publish_envelope(&self, _: AnyEnvelope) -> Result<(), HandlerError> {
//!         self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), CommandError> {
//! let repo = AggregateRepository::new(InMemoryAsyncEventStore::new());
//! let bus = CountingBus(Default::default());
//! let command = Envelope::new(Deposit { account: "acc-1".into(), amount: 5 });
//! handle_deposit(&repo, &bus, command.clone()).await?;
//!
//! let stored = repo.store().load("acc-1", 0).await?;
//! assert_eq!(stored[0].metadata().causation_id, Some(command.metadata().id));
//! assert_eq!(stored[0].metadata().correlation_id, command.metadata().correlation_id);
//! assert_eq!(bus.0.load(std::sync::atomic::Ordering::SeqCst), 1);
//! # Ok(())
//! # }
//! ```

use super::{Aggregate, AggregateRepository, AggregateRoot, RepositoryError};
use crate::bus::{AsyncMessageBus, HandlerError, MessageBus};
use crate::message::{AnyEnvelope, Metadata};
use crate::store::{AppendOutcome, AsyncEventStore, EventStore, StoreError};

/// Why handling a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Loading or saving the aggregate failed; nothing was published.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The events were saved, but handlers failed when they were published.
    /// Every event was still published to every handler.
    #[error(
        "events of aggregate `{aggregate_id}` were saved (version {}), but {} publish(es) failed: {}",
        saved.new_version,
        failures.len(),
        failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Publish {
        /// The aggregate whose events were published.
        aggregate_id: String,
        /// What the save did.
        saved: AppendOutcome,
        /// One error per event whose publish failed.
        failures: Vec<HandlerError>,
    },
    /// Raised by the handler's own code (domain rule broken, bad input).
    /// Nothing was saved or published.
    #[error(transparent)]
    Domain(crate::error::BoxError),
    /// The bus has no `#[command_handler]` for the command sent.
    #[error(
        "no command handler for command `{command}` on this bus; mark one fn #[command_handler] and build the bus \
         with `.register_handlers()` or `.command_handler(f)`"
    )]
    NoHandler {
        /// The command's registered name.
        command: &'static str,
    },
    /// The bus running a `#[command_handler]` has no event store to load
    /// the aggregate from (a bus made without its builder).
    #[error(
        "command handler `{handler}` needs an event store (`{store}`), but the bus has none; \
         add it with `.event_store(...)` on the bus builder"
    )]
    NoEventStore {
        /// The handler's name.
        handler: &'static str,
        /// The kind of store it needs.
        store: &'static str,
    },
    /// A command handler was given another command than it handles (a bug
    /// in a hand-made registration: the buses route by type).
    #[error("command handler `{handler}` handles `{expected}` but was given a `{found}`")]
    UnexpectedCommand {
        /// The handler's name.
        handler: &'static str,
        /// The command it takes.
        expected: &'static str,
        /// The message it was given.
        found: &'static str,
    },
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        Self::Repository(error.into())
    }
}

impl<S: EventStore + ?Sized> AggregateRepository<S> {
    /// Stamps the uncommitted events as caused by `command`, saves them
    /// (see [`save`](Self::save)), then publishes each on `bus`.
    pub fn save_and_publish<A, B>(
        &self,
        root: &mut AggregateRoot<A>,
        bus: &B,
        command: &Metadata,
    ) -> Result<AppendOutcome, CommandError>
    where
        A: Aggregate,
        B: MessageBus + ?Sized,
    {
        let events = stamped_events(root, command);
        let saved = self.save(root)?;
        let failures = events
            .into_iter()
            .filter_map(|event| bus.publish_envelope(event).err())
            .collect();
        publish_outcome(root.id(), saved, failures)
    }
}

impl<S: AsyncEventStore + ?Sized> AggregateRepository<S> {
    /// Stamps the uncommitted events as caused by `command`, saves them
    /// (see [`save_async`](Self::save_async)), then publishes each on
    /// `bus`, in order.
    pub async fn save_and_publish_async<A, B>(
        &self,
        root: &mut AggregateRoot<A>,
        bus: &B,
        command: &Metadata,
    ) -> Result<AppendOutcome, CommandError>
    where
        A: Aggregate,
        B: AsyncMessageBus + ?Sized,
    {
        let events = stamped_events(root, command);
        let saved = self.save_async(root).await?;
        let mut failures = Vec::new();
        for event in events {
            if let Err(error) = bus.publish_envelope(event).await {
                failures.push(error);
            }
        }
        publish_outcome(root.id(), saved, failures)
    }
}

fn stamped_events<A: Aggregate>(
    root: &mut AggregateRoot<A>,
    command: &Metadata,
) -> Vec<AnyEnvelope> {
    root.stamp_cause(command);
    root.uncommitted_events().to_vec()
}

fn publish_outcome(
    aggregate_id: &str,
    saved: AppendOutcome,
    failures: Vec<HandlerError>,
) -> Result<AppendOutcome, CommandError> {
    if failures.is_empty() {
        return Ok(saved);
    }
    Err(CommandError::Publish {
        aggregate_id: aggregate_id.to_owned(),
        saved,
        failures,
    })
}
