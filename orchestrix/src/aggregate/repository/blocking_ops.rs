//! The repository over a blocking [`EventStore`].

use super::{AggregateRepository, EventsToRead, LoadPlan, nothing_to_save, snapshot_not_saved};
use crate::aggregate::error::RepositoryError;
use crate::aggregate::{Aggregate, AggregateRoot};
use crate::store::{AppendOutcome, EventStore};

impl<S: EventStore + ?Sized> AggregateRepository<S> {
    /// Loads the aggregate `id`: from its latest snapshot (when snapshots
    /// are on) plus the events after it, else from its whole stream.
    ///
    /// An empty stream is [`RepositoryError::NotFound`]; an event the
    /// aggregate cannot apply is [`RepositoryError::UnknownEvent`].
    pub fn load<A>(&self, id: &str) -> Result<AggregateRoot<A>, RepositoryError>
    where
        A: Aggregate,
    {
        self.load_up_to(id, None)
    }

    /// The aggregate `id` as it was at `version` (time travel): the events
    /// after `version` are not applied. A version the stream has not
    /// reached is [`RepositoryError::VersionNotFound`].
    pub fn load_at<A>(&self, id: &str, version: u64) -> Result<AggregateRoot<A>, RepositoryError>
    where
        A: Aggregate,
    {
        self.load_up_to(id, Some(version))
    }

    /// Appends the aggregate's uncommitted events, expecting the stream at
    /// the version the aggregate was loaded at, then marks them committed
    /// (and writes a snapshot when the policy says so).
    ///
    /// On a [`RepositoryError::Concurrency`] nothing was written and the
    /// aggregate is unchanged. Saving an aggregate with no new events writes
    /// nothing.
    pub fn save<A>(&self, root: &mut AggregateRoot<A>) -> Result<AppendOutcome, RepositoryError>
    where
        A: Aggregate,
    {
        if let Some(outcome) = nothing_to_save(root) {
            return Ok(outcome);
        }
        let outcome =
            self.store
                .save(root.id(), root.uncommitted_events(), Some(root.version()))?;
        if let Some(snapshot) = self.committed(root)
            && let Err(error) = self.store.save_snapshot(snapshot)
        {
            snapshot_not_saved(root.id(), &error);
        }
        Ok(outcome)
    }

    fn load_up_to<A>(
        &self,
        id: &str,
        up_to: Option<u64>,
    ) -> Result<AggregateRoot<A>, RepositoryError>
    where
        A: Aggregate,
    {
        let plan = LoadPlan::new(id, up_to, self.snapshots.of::<A>())?;
        let snapshot = match plan.reads_snapshot() {
            true => self.store.load_snapshot(id)?,
            false => None,
        };
        let mut replaying = plan.start(snapshot);
        let EventsToRead { from, to } = plan.events_after(&replaying);
        self.store
            .replay(id, from, to, &mut |event| replaying.apply(event))?;
        plan.finish(replaying)
    }
}
