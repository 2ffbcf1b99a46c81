//! [`AggregateRepository`]: loads aggregates from an event store and saves
//! their new events with optimistic concurrency.

mod async_ops;
mod blocking_ops;
mod codec;
mod snapshot;

use std::ops::ControlFlow;
use std::sync::Arc;

pub use snapshot::SnapshotPolicy;

use codec::{Snapshots, SnapshotsOf};

use crate::aggregate::error::RepositoryError;
use crate::aggregate::{Aggregate, AggregateRoot, DeserializeState, SerializeState};
use crate::store::{AppendOutcome, ReplayedEvent, Snapshot, StoreError};

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
/// in a lost update.
///
/// Snapshots are set per aggregate type with
/// [`with_snapshots`](Self::with_snapshots), which is what asks the
/// aggregate to be a serde type (`Serialize + DeserializeOwned`); an
/// aggregate that is never snapshotted needs no serde at all:
///
/// ```
/// use orchestrix::prelude::*;
/// use orchestrix::store::InMemoryEventStore;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct Ticked;
///
/// // No `Serialize` / `Deserialize`: fine without snapshots.
/// #[derive(Default, Debug)]
/// struct Clock { ticks: u64 }
///
/// #[aggregate]
/// impl Clock {
///     #[apply]
///     fn ticked(&mut self, _event: &Ticked) { self.ticks += 1; }
/// }
///
/// let repo = AggregateRepository::new(InMemoryEventStore::new());
/// let mut clock = AggregateRoot::<Clock>::new("clock-1");
/// clock.record(Ticked);
/// repo.save(&mut clock)?;
/// assert_eq!(repo.load::<Clock>("clock-1")?.ticks, 1);
/// # Ok::<(), orchestrix::aggregate::RepositoryError>(())
/// ```
///
/// Loading and saving, with snapshots of `Account`:
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
/// let repo = AggregateRepository::new(InMemoryEventStore::new())
///     .with_snapshots::<Account>(SnapshotPolicy::every(100));
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
    snapshots: Snapshots,
}

impl<S: ?Sized> Clone for AggregateRepository<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            snapshots: self.snapshots.clone(),
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
            snapshots: Snapshots::default(),
        }
    }

    /// Sets when snapshots of the aggregate type `A` are written, and makes
    /// loads of `A` start from its latest snapshot
    /// (`SnapshotPolicy::Never` turns them off again). Each aggregate type
    /// has its own policy; types without one are never snapshotted.
    ///
    /// The one place that asks `A` to be a serde type: its state is what a
    /// snapshot holds.
    #[must_use]
    pub fn with_snapshots<A>(mut self, policy: SnapshotPolicy) -> Self
    where
        A: Aggregate + SerializeState + DeserializeState,
    {
        self.snapshots.set::<A>(policy);
        self
    }

    /// The snapshot policy of the aggregate type `A` (`Never` unless set
    /// with [`with_snapshots`](Self::with_snapshots)).
    pub fn snapshot_policy<A: Aggregate>(&self) -> SnapshotPolicy {
        self.snapshots.policy::<A>()
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }
}

/// The store-independent steps of a load, shared by the blocking and the
/// async repository, whose load functions only add the store calls between
/// them: [`LoadPlan::new`] -> `load_snapshot` if
/// [`reads_snapshot`](LoadPlan::reads_snapshot) -> [`start`](LoadPlan::start)
/// -> the store's `replay` over [`events_after`](LoadPlan::events_after),
/// each event handed to [`Replaying::apply`] -> [`finish`](LoadPlan::finish).
///
/// The events are replayed, not loaded: the store hands each one's version
/// and message to the root as it reads them, and builds no
/// [`RecordedEvent`](crate::store::RecordedEvent) (nor its metadata) for
/// the aggregate to drop.
struct LoadPlan<'a, A> {
    id: &'a str,
    up_to: Option<u64>,
    snapshots: SnapshotsOf<'a, A>,
}

/// The stream versions a load still has to read: `from..=to` (`to` is
/// `u64::MAX` for the rest of the stream).
struct EventsToRead {
    from: u64,
    to: u64,
}

/// A root being rebuilt by a replay: the events applied so far, the last
/// version seen, and the error that stopped the replay, if any.
struct Replaying<'a, A> {
    id: &'a str,
    up_to: Option<u64>,
    root: AggregateRoot<A>,
    /// The version of the last event the store handed over (applied or
    /// not), or the root's starting version.
    current: u64,
    failed: Option<RepositoryError>,
}

impl<A: Aggregate> Replaying<'_, A> {
    /// Applies one replayed event; breaks the replay on the first error,
    /// and at the first event past the version asked for (which a store
    /// asked for `from..=up_to` should not hand over, but a custom one
    /// may), applying nothing more.
    fn apply(&mut self, event: ReplayedEvent<'_>) -> ControlFlow<()> {
        self.current = event.version;
        if self.up_to.is_some_and(|up_to| event.version > up_to) {
            return ControlFlow::Break(());
        }
        if let Err(error) = self.root.replay(self.id, event) {
            self.failed = Some(error);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

impl<'a, A: Aggregate> LoadPlan<'a, A> {
    /// Checks `load_at`'s version before touching the store.
    fn new(
        id: &'a str,
        up_to: Option<u64>,
        snapshots: SnapshotsOf<'a, A>,
    ) -> Result<Self, RepositoryError> {
        if up_to == Some(0) {
            return Err(RepositoryError::VersionNotFound {
                aggregate_type: A::AGGREGATE_TYPE,
                aggregate_id: id.to_owned(),
                requested: 0,
                current: 0,
            });
        }
        Ok(Self {
            id,
            up_to,
            snapshots,
        })
    }

    /// Whether to load the stream's snapshot first.
    fn reads_snapshot(&self) -> bool {
        self.snapshots.reads()
    }

    /// The root to replay onto (from the snapshot if it is usable, else
    /// new), ready for the events after it.
    fn start(&self, snapshot: Option<Snapshot>) -> Replaying<'a, A> {
        let root = self
            .snapshots
            .restore(snapshot, self.up_to)
            .unwrap_or_else(|| AggregateRoot::new(self.id));
        Replaying {
            id: self.id,
            up_to: self.up_to,
            current: root.version(),
            root,
            failed: None,
        }
    }

    /// The events after the root's version, up to the version asked for
    /// (time travel reads no further).
    fn events_after(&self, replaying: &Replaying<'_, A>) -> EventsToRead {
        EventsToRead {
            from: replaying.root.version() + 1,
            to: self.up_to.unwrap_or(u64::MAX),
        }
    }

    /// After the replay: its error if one stopped it, else checks that the
    /// aggregate exists and reached the requested version.
    fn finish(&self, replaying: Replaying<'_, A>) -> Result<AggregateRoot<A>, RepositoryError> {
        let Replaying {
            root,
            current,
            failed,
            ..
        } = replaying;
        if let Some(error) = failed {
            return Err(error);
        }
        if current == 0 {
            return Err(RepositoryError::NotFound {
                aggregate_type: A::AGGREGATE_TYPE,
                aggregate_id: root.id().to_owned(),
            });
        }
        if let Some(requested) = self.up_to
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
}

// The store-independent steps of a save, shared like `LoadPlan`:
// `nothing_to_save`, the append, `committed`, the snapshot write, and
// `snapshot_not_saved` if that write failed.

/// The outcome of saving a root without new events, which writes nothing;
/// `None` when there is something to append.
fn nothing_to_save<A: Aggregate>(root: &AggregateRoot<A>) -> Option<AppendOutcome> {
    root.uncommitted_events().is_empty().then(|| AppendOutcome {
        new_version: root.version(),
        positions: Vec::new(),
    })
}

impl<S: ?Sized> AggregateRepository<S> {
    /// Marks the appended events committed and returns the snapshot to
    /// write, if the policy says one is due.
    fn committed<A: Aggregate>(&self, root: &mut AggregateRoot<A>) -> Option<Snapshot> {
        let old_version = root.version();
        root.mark_events_committed();
        self.snapshots.of::<A>().due(old_version, root)
    }
}

/// A failed snapshot write after a successful append is only a warning:
/// the events are stored; the snapshot is an optimisation.
fn snapshot_not_saved(aggregate_id: &str, error: &StoreError) {
    tracing::warn!(aggregate_id, %error, "events saved, but the snapshot was not");
}
