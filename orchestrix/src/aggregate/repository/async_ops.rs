//! The repository over an [`AsyncEventStore`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AggregateRepository, check_requested_version, finish_load, snapshot};
use crate::aggregate::error::RepositoryError;
use crate::aggregate::{Aggregate, AggregateRoot};
use crate::store::{AppendOutcome, AsyncEventStore};

impl<S: AsyncEventStore + ?Sized> AggregateRepository<S> {
    /// Loads the aggregate `id`: from its latest snapshot (when snapshots
    /// are on) plus the events after it, else from its whole stream.
    ///
    /// An empty stream is [`RepositoryError::NotFound`]; an event the
    /// aggregate cannot apply is [`RepositoryError::UnknownEvent`].
    pub async fn load_async<A>(&self, id: &str) -> Result<AggregateRoot<A>, RepositoryError>
    where
        A: Aggregate + Serialize + DeserializeOwned,
    {
        self.load_up_to_async(id, None).await
    }

    /// The aggregate `id` as it was at `version` (time travel): the events
    /// after `version` are not applied. A version the stream has not
    /// reached is [`RepositoryError::VersionNotFound`].
    pub async fn load_at_async<A>(
        &self,
        id: &str,
        version: u64,
    ) -> Result<AggregateRoot<A>, RepositoryError>
    where
        A: Aggregate + Serialize + DeserializeOwned,
    {
        self.load_up_to_async(id, Some(version)).await
    }

    /// Appends the aggregate's uncommitted events, expecting the stream at
    /// the version the aggregate was loaded at, then marks them committed
    /// (and writes a snapshot when the policy says so).
    ///
    /// On a [`RepositoryError::Concurrency`] nothing was written and the
    /// aggregate is unchanged. Saving an aggregate with no new events writes
    /// nothing.
    pub async fn save_async<A>(
        &self,
        root: &mut AggregateRoot<A>,
    ) -> Result<AppendOutcome, RepositoryError>
    where
        A: Aggregate + Serialize + DeserializeOwned,
    {
        if root.uncommitted_events().is_empty() {
            return Ok(AppendOutcome {
                new_version: root.version(),
                positions: Vec::new(),
            });
        }
        let old_version = root.version();
        let outcome = self
            .store
            .save(root.id(), root.uncommitted_events(), Some(old_version))
            .await?;
        root.mark_events_committed();
        if self.snapshots.is_due(old_version, root.version())
            && let Some(snapshot) = snapshot::take(root)
            && let Err(error) = self.store.save_snapshot(snapshot).await
        {
            tracing::warn!(aggregate_id = root.id(), %error, "events saved, but the snapshot was not");
        }
        Ok(outcome)
    }

    async fn load_up_to_async<A>(
        &self,
        id: &str,
        up_to: Option<u64>,
    ) -> Result<AggregateRoot<A>, RepositoryError>
    where
        A: Aggregate + Serialize + DeserializeOwned,
    {
        check_requested_version::<A>(id, up_to)?;
        let snapshot = match self.snapshots.is_enabled() {
            true => self.store.load_snapshot(id).await?,
            false => None,
        };
        let root =
            snapshot::restore::<A>(snapshot, up_to).unwrap_or_else(|| AggregateRoot::new(id));
        let from = root.version() + 1;
        let events = match up_to {
            // Time travel reads only up to the version asked for.
            Some(up_to) => self.store.load_range(id, from, up_to).await?,
            None => self.store.load(id, from).await?,
        };
        finish_load(root, &events, up_to)
    }
}
