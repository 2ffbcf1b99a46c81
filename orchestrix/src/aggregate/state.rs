//! What a repository needs of an aggregate's state to snapshot it
//! (`with_snapshots::<A>`): serde. Marker traits stand in front of the serde bounds so that
//! a missing derive is one error that names it.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The aggregate's state can be written to a snapshot (serde's `Serialize`).
#[diagnostic::on_unimplemented(
    message = "aggregate `{Self}` does not implement `Serialize`, which a repository needs for its snapshots",
    label = "add `#[derive(Serialize)]` to `{Self}`",
    note = "aggregates an `AggregateRepository` snapshots (`with_snapshots::<A>(...)`) derive `Serialize` \
            and `Deserialize` (`use orchestrix::prelude::*;` brings both derives); without snapshots, \
            neither is needed"
)]
pub trait SerializeState: Serialize {}

#[diagnostic::do_not_recommend]
impl<T: Serialize> SerializeState for T {}

/// The aggregate's state can be read back from a snapshot (serde's
/// `Deserialize`).
#[diagnostic::on_unimplemented(
    message = "aggregate `{Self}` does not implement `Deserialize`, which a repository needs for its snapshots",
    label = "add `#[derive(Deserialize)]` to `{Self}`",
    note = "aggregates an `AggregateRepository` snapshots (`with_snapshots::<A>(...)`) derive `Serialize` \
            and `Deserialize` (`use orchestrix::prelude::*;` brings both derives); without snapshots, \
            neither is needed"
)]
pub trait DeserializeState: DeserializeOwned {}

#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned> DeserializeState for T {}
