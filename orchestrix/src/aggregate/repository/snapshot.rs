//! When the repository takes snapshots, and turning aggregate state into a
//! [`Snapshot`] and back.

use std::num::NonZeroU64;

use crate::aggregate::{Aggregate, AggregateRoot, DeserializeState, SerializeState};
use crate::store::Snapshot;

/// When an [`AggregateRepository`](super::AggregateRepository) writes
/// snapshots of one aggregate type (set per type with
/// [`with_snapshots`](super::AggregateRepository::with_snapshots)).
///
/// With `EveryNEvents(n)`, a save that carries the stream's version past a
/// multiple of `n` writes a snapshot of the state at the new version, and
/// loads start from the stream's latest snapshot, replaying only the events
/// after it.
///
/// ```
/// use orchestrix::aggregate::SnapshotPolicy;
///
/// assert_eq!(SnapshotPolicy::every(0), SnapshotPolicy::Never);
/// assert!(matches!(SnapshotPolicy::every(100), SnapshotPolicy::EveryNEvents(n) if n.get() == 100));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotPolicy {
    /// No snapshots are written or read: every load replays the whole stream.
    #[default]
    Never,
    /// A snapshot every `n` events.
    EveryNEvents(NonZeroU64),
}

impl SnapshotPolicy {
    /// A snapshot every `n` events; `0` means never.
    pub fn every(n: u64) -> Self {
        NonZeroU64::new(n).map_or(Self::Never, Self::EveryNEvents)
    }

    /// Whether loads read snapshots.
    pub fn is_enabled(self) -> bool {
        !matches!(self, Self::Never)
    }

    /// Whether a save from `old_version` to `new_version` crossed a multiple
    /// of `n`.
    pub(super) fn is_due(self, old_version: u64, new_version: u64) -> bool {
        match self {
            Self::Never => false,
            Self::EveryNEvents(n) => new_version / n.get() > old_version / n.get(),
        }
    }
}

/// The root's state as a snapshot at its version, or `None` (with a
/// warning) when the state does not serialize.
pub(super) fn take<A: Aggregate + SerializeState>(root: &AggregateRoot<A>) -> Option<Snapshot> {
    match crate::limits::to_json_value(root.state()) {
        Ok(state) => Some(Snapshot {
            aggregate_id: root.id().to_owned(),
            aggregate_type: snapshot_type::<A>(),
            version: root.version(),
            state,
            taken_at: crate::limits::now(),
        }),
        Err(error) => {
            tracing::warn!(
                aggregate_type = A::AGGREGATE_TYPE,
                aggregate_id = root.id(),
                version = root.version(),
                %error,
                "aggregate state does not serialize; no snapshot taken"
            );
            None
        }
    }
}

/// The aggregate rebuilt from `snapshot`, if it is usable for a load up to
/// `up_to`: of this aggregate type and snapshot version, not past `up_to`,
/// and decodable. Any other snapshot is skipped with a warning, and the
/// caller replays the whole stream.
pub(super) fn restore<A: Aggregate + DeserializeState>(
    snapshot: Option<Snapshot>,
    up_to: Option<u64>,
) -> Option<AggregateRoot<A>> {
    let snapshot = snapshot?;
    if up_to.is_some_and(|up_to| snapshot.version > up_to) {
        return None;
    }
    let (snapshot_type, state_version) = parse_snapshot_type(&snapshot.aggregate_type);
    if snapshot_type != A::AGGREGATE_TYPE {
        tracing::warn!(
            aggregate_type = A::AGGREGATE_TYPE,
            aggregate_id = %snapshot.aggregate_id,
            snapshot_type = %snapshot.aggregate_type,
            "snapshot belongs to another aggregate type; ignoring it and replaying the whole stream"
        );
        return None;
    }
    if state_version != A::SNAPSHOT_VERSION {
        tracing::warn!(
            aggregate_type = A::AGGREGATE_TYPE,
            aggregate_id = %snapshot.aggregate_id,
            snapshot_version = state_version,
            expected_snapshot_version = A::SNAPSHOT_VERSION,
            "snapshot was taken with another snapshot_version of the state; ignoring it and \
             replaying the whole stream"
        );
        return None;
    }
    match serde_json::from_value::<A>(snapshot.state) {
        Ok(state) => Some(AggregateRoot::from_state(
            snapshot.aggregate_id,
            snapshot.version,
            state,
        )),
        Err(error) => {
            tracing::warn!(
                aggregate_type = A::AGGREGATE_TYPE,
                aggregate_id = %snapshot.aggregate_id,
                version = snapshot.version,
                %error,
                "snapshot state no longer decodes; ignoring it and replaying the whole stream"
            );
            None
        }
    }
}

/// The snapshot's `aggregate_type` for `A`: its name, plus `@vN` when its
/// [`SNAPSHOT_VERSION`](Aggregate::SNAPSHOT_VERSION) is not 1 (so snapshots
/// written before versions existed read as version 1).
pub(super) fn snapshot_type<A: Aggregate>() -> String {
    match A::SNAPSHOT_VERSION {
        1 => A::AGGREGATE_TYPE.to_owned(),
        version => format!("{}@v{version}", A::AGGREGATE_TYPE),
    }
}

/// Splits a snapshot's `aggregate_type` into the aggregate name and the
/// state version (`Name@v2` -> `("Name", 2)`, `Name` -> `("Name", 1)`).
/// Aggregate names cannot contain `@` (`#[aggregate]` refuses them).
fn parse_snapshot_type(aggregate_type: &str) -> (&str, u32) {
    aggregate_type
        .rsplit_once("@v")
        .and_then(|(name, version)| Some((name, version.parse().ok()?)))
        .unwrap_or((aggregate_type, 1))
}

#[cfg(test)]
mod tests {
    use super::parse_snapshot_type;

    #[test]
    fn snapshot_types_carry_the_state_version() {
        assert_eq!(parse_snapshot_type("Account"), ("Account", 1));
        assert_eq!(parse_snapshot_type("Account@v2"), ("Account", 2));
        assert_eq!(
            parse_snapshot_type("bank.Account@v17"),
            ("bank.Account", 17)
        );
        assert_eq!(parse_snapshot_type("Account@vX"), ("Account@vX", 1));
    }
}
