//! Aggregate names: `#[aggregate]` submits each (non-generic) aggregate type
//! with its `AGGREGATE_TYPE`, so two types under one name — same-named
//! types in two modules, or two instances of a generic aggregate used by
//! command handlers — are caught at start-up, before their snapshots and
//! errors get mixed up.

use std::any::TypeId;
use std::collections::HashMap;

use crate::aggregate::Aggregate;
use crate::error::RegistryError;

/// What `#[aggregate]` submits for a non-generic aggregate type.
#[derive(Clone, Copy, Debug)]
pub struct AggregateRegistration {
    /// The aggregate's `AGGREGATE_TYPE`.
    pub name: &'static str,
    /// `TypeId` of the aggregate type.
    pub type_id: fn() -> TypeId,
    /// Its Rust path.
    pub rust_type: fn() -> &'static str,
}

impl AggregateRegistration {
    /// The registration of `A`.
    pub const fn of<A: Aggregate>() -> Self {
        Self {
            name: A::AGGREGATE_TYPE,
            type_id: TypeId::of::<A>,
            rust_type: std::any::type_name::<A>,
        }
    }
}

inventory::collect!(AggregateRegistration);

/// Checks that no two aggregate types share a name, among those registered
/// by `#[aggregate]` and the `extra` ones (name, type, Rust path) a caller
/// knows of (the aggregates of a bus's command handlers).
pub fn check_aggregates(
    extra: impl IntoIterator<Item = (&'static str, TypeId, &'static str)>,
) -> Result<(), RegistryError> {
    let registered = inventory::iter::<AggregateRegistration>
        .into_iter()
        .map(|r| (r.name, (r.type_id)(), (r.rust_type)()));
    let mut by_name: HashMap<&'static str, (TypeId, &'static str)> = HashMap::new();
    let mut all: Vec<_> = registered.chain(extra).collect();
    all.sort_by_key(|&(name, _, path)| (name, path));
    for (name, type_id, path) in all {
        match by_name.get(name) {
            Some(&(earlier, earlier_path)) if earlier != type_id => {
                return Err(RegistryError::DuplicateAggregateType {
                    name,
                    first_type: earlier_path,
                    second_type: path,
                });
            }
            Some(_) => {}
            None => {
                by_name.insert(name, (type_id, path));
            }
        }
    }
    Ok(())
}
