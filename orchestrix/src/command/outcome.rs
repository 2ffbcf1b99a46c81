//! What a command pipeline gets and gives back.

use crate::aggregate::AggregateRepository;
use crate::bus::Dependencies;
use crate::message::AnyEnvelope;
use crate::store::{AppendOutcome, AsyncEventStore, EventStore};

/// What a command's pipeline runs with: the command's envelope, the bus's
/// dependencies (where the repository is) and the bus `B` to publish on
/// (`dyn AsyncMessageBus` or `dyn MessageBus`).
pub struct CommandRun<'a, B: ?Sized> {
    /// The command.
    pub envelope: &'a AnyEnvelope,
    /// The bus's dependencies.
    pub dependencies: &'a Dependencies,
    /// The bus the events are published on.
    pub bus: &'a B,
}

impl<B: ?Sized> Clone for CommandRun<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: ?Sized> Copy for CommandRun<'_, B> {}

impl<B: ?Sized> std::fmt::Debug for CommandRun<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRun")
            .field("command", &self.envelope.message_name())
            .finish_non_exhaustive()
    }
}

/// The repository async command handlers load and save with: a bus
/// dependency, added by [`BusBuilder::event_store`](crate::bus::BusBuilder).
pub type AsyncRepository = AggregateRepository<dyn AsyncEventStore>;

/// The repository blocking command handlers load and save with.
pub type BlockingRepository = AggregateRepository<dyn EventStore>;

/// What handling a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutcome {
    /// The aggregate the command changed.
    pub aggregate_id: String,
    /// What the save appended (no positions when the decision returned no event).
    pub saved: AppendOutcome,
    /// How many times the command ran: 1, plus one per conflict retried.
    pub attempts: u32,
}
