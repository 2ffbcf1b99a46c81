//! [`AggregateRepository`]: loads aggregates from an event store and saves
//! their new events with optimistic concurrency.

mod async_ops;
mod blocking_ops;
mod snapshot;

use std::sync::Arc;

pub use snapshot::SnapshotPolicy;

use crate::aggregate::error::RepositoryError;
use crate::aggregate::{Aggregate, AggregateRoot};
use crate::store::RecordedEvent;

/// Loads and saves aggregates over an event store, blocking or async.
///
/// The same type serves both store kinds: `load` / `save` / `load_at`
/// exist when `S` is an [`EventStore`](crate::store::EventStore), and
/// `load_async` / `save_async` / `load_at_async` when it is an
/// [`AsyncEventStore`](crate::store::AsyncEventStore). Calling the wrong
/// kind does not compile:
///
/// ```compile_fail
/// use orchestrix::prelude::*;
/// use orchestrix::store::InMemoryEventStore;
///
/// #[derive(Default, Debug, Serialize, Deserialize)]
/// struct Account;
/// #[aggregate]
/// impl Account {}
///
/// async fn wrong() {
///     let repo = AggregateRepository::new(InMemoryEventStore::new()); // a blocking store
///     let _ = repo.load_async::<Account>("acc-1").await; // no such method for it
/// }
/// ```
///
/// `save` appends the uncommitted events with the version the aggregate was
/// loaded at as the expected version, so two writers racing on one
/// aggregate end in a [`RepositoryError::Concurrency`] for the loser, never
/// in a lost update. Aggregates loaded and saved by a repository are serde
/// types (`Serialize + DeserializeOwned`) so that they can be snapshotted;
/// see [`SnapshotPolicy`].
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
///     fn deposited(&mut self, event: &Deposited) { self.balance += event.amount; }
/// }
///
/// let repo = AggregateRepository::new(InMemoryEventStore::new());
/// let mut account = AggregateRoot::<Account>::new("acc-1");
/// account.record(Deposited { amount: 30 });
/// repo.save(&mut account)?;
///
/// let mut loaded = repo.load::<Account>("acc-1")?;
/// assert_eq!((loaded.balance, loaded.version()), (30, 1));
///
/// // A stale copy cannot overwrite a newer version.
/// let mut stale = repo.load::<Account>("acc-1")?;
/// loaded.record(Deposited { amount: 1 });
/// repo.save(&mut loaded)?;
/// stale.record(Deposited { amount: 2 });
/// assert!(repo.save(&mut stale).unwrap_err().as_concurrency().is_some());
/// # Ok::<(), orchestrix::aggregate::RepositoryError>(())
/// ```
#[derive(Debug)]
pub struct AggregateRepository<S: ?Sized> {
    store: Arc<S>,
    snapshots: SnapshotPolicy,
}

impl<S: ?Sized> Clone for AggregateRepository<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            snapshots: self.snapshots,
        }
    }
}

impl<S> AggregateRepository<S> {
    /// A repository over `store`, without snapshots.
    pub fn new(store: S) -> Self {
        Self::shared(Arc::new(store))
    }
}

impl<S: ?Sized> AggregateRepository<S> {
    /// A repository over a store shared with other parts of the program
    /// (also `Arc<dyn EventStore>` / `Arc<dyn AsyncEventStore>`).
    pub fn shared(store: Arc<S>) -> Self {
        Self {
            store,
            snapshots: SnapshotPolicy::Never,
        }
    }

    /// Sets when snapshots are written and whether loads use them.
    #[must_use]
    pub fn with_snapshots(mut self, policy: SnapshotPolicy) -> Self {
        self.snapshots = policy;
        self
    }

    /// The snapshot policy.
    pub fn snapshot_policy(&self) -> SnapshotPolicy {
        self.snapshots
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }
}

/// Checks `load_at`'s version before touching the store.
fn check_requested_version<A: Aggregate>(
    id: &str,
    up_to: Option<u64>,
) -> Result<(), RepositoryError> {
    match up_to {
        Some(0) => Err(RepositoryError::VersionNotFound {
            aggregate_type: A::AGGREGATE_TYPE,
            aggregate_id: id.to_owned(),
            requested: 0,
            current: 0,
        }),
        _ => Ok(()),
    }
}

/// Applies the loaded events (up to `up_to`) on `root`, then checks that
/// the aggregate exists and reached the requested version.
fn finish_load<A: Aggregate>(
    mut root: AggregateRoot<A>,
    events: &[RecordedEvent],
    up_to: Option<u64>,
) -> Result<AggregateRoot<A>, RepositoryError> {
    let mut current = root.version();
    for event in events {
        current = event.version;
        if up_to.is_none_or(|up_to| event.version <= up_to) {
            root.replay(event)?;
        }
    }
    if current == 0 {
        return Err(RepositoryError::NotFound {
            aggregate_type: A::AGGREGATE_TYPE,
            aggregate_id: root.id().to_owned(),
        });
    }
    if let Some(requested) = up_to
        && root.version() < requested
    {
        return Err(RepositoryError::VersionNotFound {
            aggregate_type: A::AGGREGATE_TYPE,
            aggregate_id: root.id().to_owned(),
            requested,
            current,
        });
    }
    Ok(root)
}
