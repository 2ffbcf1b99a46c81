//! Event schema evolution: reading events stored at older schema versions,
//! under older names, or in an older split of the domain.
//!
//! An event's history is declared next to the event, in `#[event(...)]`
//! (guide: `docs/evolution.md`):
//!
//! * `upcast(from = N, shape = OldType, with = f)`: version `N` is stored
//!   as `OldType` (a plain serde struct kept for reading only) and `f`
//!   turns it into version `N + 1`;
//! * `upcast(from = N, with = f)` without `shape`: `f` works on the JSON
//!   value (`serde_json::Value -> serde_json::Value`), for an old shape that
//!   is impractical to keep as a type;
//! * `upcast(from = N, shape = OldType, split = f)`: `f` turns the stored
//!   event into zero or more current events ([`Upcasted`]);
//! * `alias = "OldName"`: rows stored under a former name decode too;
//! * `since = N`: versions below `N` were never stored, so no upcaster is
//!   needed for them.
//!
//! Why attributes on the event rather than free-standing registrations: the
//! whole chain of one event is then in one place, so the derive can check it
//! when the program is compiled (each function's input and output types
//! against the versions they claim, versions consecutive, none declared
//! twice), and it compiles the chain into one monomorphic function per
//! stored version: an old row is parsed once into its old shape and handed
//! from function to function as Rust values, with no JSON in between.
//! What only the whole program knows (every version from `since` to the
//! current one covered, for every event type) is checked by
//! [`registry::validate`](crate::registry::validate) at start-up, which
//! reports every gap at once.
//!
//! Decoding a row stored at the current version is untouched: one pass over
//! the stored bytes into the Rust type.

mod memory;
mod output;
mod rewrite;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod rows;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql_rewrite;
mod versioned;

pub use memory::StoredEvent;
pub(crate) use memory::{StoredPayload, expand_stored};
pub use output::{UpcastOutput, Upcasted};
pub use rewrite::{RewriteOptions, RewriteReport};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use rows::RowEvents;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use sql_rewrite::{
    CurrentForm, RewriteTarget, StoredColumns, StoredRow, rewrite_in_batches,
};
pub use versioned::VersionedEvent;

use crate::error::BoxError;
use crate::registry::EventRegistry;
use crate::store::EventTypeFilter;

/// Why an upcaster did not produce the next version.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpcastError {
    /// The stored payload does not deserialize into the old shape the
    /// event declares for its version.
    #[error("the payload stored at version {version} does not decode into `{shape}`: {source}")]
    Shape {
        /// The schema version whose shape was read.
        version: u32,
        /// The Rust type (or `serde_json::Value`) it was read as.
        shape: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The upcaster from `from` returned an error.
    #[error("the upcaster from version {from} failed: {source}")]
    Failed {
        /// The version the failing upcaster reads.
        from: u32,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// No upcaster reads the stored version.
    #[error("no upcaster reads version {version}")]
    Missing {
        /// The stored version.
        version: u32,
    },
}

/// One version of one event type that no upcaster reads: found by
/// [`registry::validate`](crate::registry::validate).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UpcasterGap {
    /// The registered event name.
    pub event_type: &'static str,
    /// The Rust type.
    pub rust_type: &'static str,
    /// The version nothing turns into the next one.
    pub missing_from: u32,
    /// The event's current schema version.
    pub current: u32,
}

impl std::fmt::Display for UpcasterGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` (`{}`, at version {}) has no upcaster from version {}",
            self.event_type, self.rust_type, self.current, self.missing_from
        )
    }
}

/// `filter` widened to the names rows may be stored under: the aliases of
/// its types, and the types with a split upcaster (whose rows may yield a
/// type the filter wants). `None` when nothing needs adding, which is the
/// usual case. The caller filters the decoded events with the original.
pub(crate) fn stored_filter(filter: &EventTypeFilter) -> Option<EventTypeFilter> {
    let wanted = filter.event_types()?;
    let registry = EventRegistry::global().ok()?;
    let extra = registry.stored_names_for(wanted);
    if extra.is_empty() {
        return None;
    }
    Some(EventTypeFilter::only(
        wanted
            .iter()
            .cloned()
            .chain(extra.into_iter().map(str::to_owned)),
    ))
}

/// What the derive's generated upcasting code calls; outside semver.
#[doc(hidden)]
pub mod __private {
    pub use super::{UpcastError, UpcastOutput, Upcasted};

    /// Parses the stored bytes as the shape of `version`.
    pub fn read<T: serde::de::DeserializeOwned>(
        version: u32,
        json: &[u8],
    ) -> Result<T, UpcastError> {
        serde_json::from_slice(json).map_err(|source| UpcastError::Shape {
            version,
            shape: std::any::type_name::<T>(),
            source,
        })
    }

    /// Reads a JSON value (a JSON upcaster's output) as the shape of
    /// `version`.
    pub fn reshape<T: serde::de::DeserializeOwned>(
        version: u32,
        json: serde_json::Value,
    ) -> Result<T, UpcastError> {
        serde_json::from_value(json).map_err(|source| UpcastError::Shape {
            version,
            shape: std::any::type_name::<T>(),
            source,
        })
    }

    /// Runs the upcaster from `from`: `f` must take `In` (the shape the
    /// event declares for `from`) and return `Out` (the shape of the next
    /// version), or a `Result` of it. The derive emits this call spanned on
    /// the user's function, so a mismatch is reported there.
    pub fn step<In, Out, R: UpcastOutput<Out>>(
        from: u32,
        f: fn(In) -> R,
        input: In,
    ) -> Result<Out, UpcastError> {
        f(input)
            .into_upcast()
            .map_err(|source| UpcastError::Failed { from, source })
    }

    /// One current event.
    pub fn one<E: crate::message::Event>(event: E) -> Upcasted {
        Upcasted::one(event)
    }

    /// The error for a stored version no upcaster reads.
    pub fn missing(version: u32) -> Result<Upcasted, UpcastError> {
        Err(UpcastError::Missing { version })
    }
}
