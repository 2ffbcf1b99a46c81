//! Which aggregate types a repository snapshots, and how: per type, its
//! [`SnapshotPolicy`] and its state's codec. The codec is built by
//! [`with_snapshots`](super::AggregateRepository::with_snapshots), the one
//! place that demands serde of the aggregate, and kept type-erased, so
//! loading and saving an aggregate that is never snapshotted needs no serde.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

use super::SnapshotPolicy;
use super::snapshot;
use crate::aggregate::{Aggregate, AggregateRoot, DeserializeState, SerializeState};
use crate::store::Snapshot;

/// Turns `A`'s state into a snapshot and back; built where `A`'s serde
/// impls are known.
struct SnapshotCodec<A> {
    take: fn(&AggregateRoot<A>) -> Option<Snapshot>,
    restore: fn(Option<Snapshot>, Option<u64>) -> Option<AggregateRoot<A>>,
}

/// One snapshotted aggregate type.
#[derive(Clone)]
struct Snapshotted {
    aggregate: TypeId,
    aggregate_name: &'static str,
    policy: SnapshotPolicy,
    /// A `SnapshotCodec<A>` for the aggregate type `A`.
    codec: Arc<dyn Any + Send + Sync>,
}

/// The snapshotted aggregate types of one repository (none by default).
#[derive(Clone, Default)]
pub(super) struct Snapshots {
    by_type: Arc<Vec<Snapshotted>>,
}

/// What a load or save of one aggregate type does about snapshots.
pub(super) struct SnapshotsOf<'a, A> {
    policy: SnapshotPolicy,
    codec: Option<&'a SnapshotCodec<A>>,
}

impl Snapshots {
    /// Snapshots `A` as `policy` says (replacing an earlier policy for `A`);
    /// `SnapshotPolicy::Never` turns them off for `A`.
    pub(super) fn set<A>(&mut self, policy: SnapshotPolicy)
    where
        A: Aggregate + SerializeState + DeserializeState,
    {
        let by_type = Arc::make_mut(&mut self.by_type);
        by_type.retain(|entry| entry.aggregate != TypeId::of::<A>());
        if policy.is_enabled() {
            by_type.push(Snapshotted {
                aggregate: TypeId::of::<A>(),
                aggregate_name: A::AGGREGATE_TYPE,
                policy,
                codec: Arc::new(SnapshotCodec::<A> {
                    take: snapshot::take::<A>,
                    restore: snapshot::restore::<A>,
                }),
            });
        }
    }

    /// The policy for `A` (`Never` unless set).
    pub(super) fn policy<A: Aggregate>(&self) -> SnapshotPolicy {
        self.find::<A>()
            .map_or(SnapshotPolicy::Never, |entry| entry.policy)
    }

    /// The policy and codec for `A`.
    pub(super) fn of<A: Aggregate>(&self) -> SnapshotsOf<'_, A> {
        match self.find::<A>() {
            Some(entry) => SnapshotsOf {
                policy: entry.policy,
                codec: entry.codec.downcast_ref::<SnapshotCodec<A>>(),
            },
            None => SnapshotsOf {
                policy: SnapshotPolicy::Never,
                codec: None,
            },
        }
    }

    fn find<A: Aggregate>(&self) -> Option<&Snapshotted> {
        self.by_type
            .iter()
            .find(|entry| entry.aggregate == TypeId::of::<A>())
    }
}

impl<A: Aggregate> SnapshotsOf<'_, A> {
    /// Whether loads of `A` read its snapshot first.
    pub(super) fn reads(&self) -> bool {
        self.codec.is_some()
    }

    /// The root rebuilt from `snapshot`, if it is usable for a load up to
    /// `up_to` (see [`snapshot::restore`]).
    pub(super) fn restore(
        &self,
        snapshot: Option<Snapshot>,
        up_to: Option<u64>,
    ) -> Option<AggregateRoot<A>> {
        self.codec
            .and_then(|codec| (codec.restore)(snapshot, up_to))
    }

    /// The snapshot to write after a save from `old_version` to `root`'s
    /// version, if the policy says one is due.
    pub(super) fn due(&self, old_version: u64, root: &AggregateRoot<A>) -> Option<Snapshot> {
        let codec = self.codec?;
        match self.policy.is_due(old_version, root.version()) {
            true => (codec.take)(root),
            false => None,
        }
    }
}

impl fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.by_type
                    .iter()
                    .map(|entry| (entry.aggregate_name, entry.policy)),
            )
            .finish()
    }
}
