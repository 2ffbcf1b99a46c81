//! Marker traits that macro expansions put in front of serde bounds, spanned
//! on the user's type, so that a missing derive is one error on that type
//! that names the derive.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A saga step's output: kept in the saga's state for its compensation, so
/// stored as JSON.
#[diagnostic::on_unimplemented(
    message = "the output `{Self}` of this saga step cannot be stored in the saga's state",
    label = "`{Self}` must implement `Serialize` and `Deserialize`",
    note = "a step's output is kept (as JSON) for its compensation: add `#[derive(Serialize, Deserialize)]` \
            to `{Self}`, or return `()` if the compensation needs nothing"
)]
pub trait StepOutput: Serialize + DeserializeOwned {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> StepOutput for T {}

/// Checks, at compile time, that `O` can be a step's output (what
/// `#[saga_step]` generates, on the output type).
pub const fn step_output<O: StepOutput>() {}
