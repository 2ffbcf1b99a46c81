//! Blue/green rebuilds: a new version of a read model is built under its own
//! projection name while the old one keeps serving queries, and queries
//! switch to it once it has caught up with the store.
//!
//! Nothing appended meanwhile is lost: both versions follow the store (each
//! with its own runner and checkpoint), and the switch waits until the new
//! version has applied everything the store held when the switch was asked
//! for; it keeps following afterwards.

use std::sync::{Arc, RwLock};

use super::engine::ProjectionEngine;
use super::state::ProjectionState;
use crate::store::{AsyncEventStore, EventTypeFilter, StoreError};

/// Why a switch to a new version of a read model did not happen; the old
/// version keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// The store's head could not be read.
    #[error(
        "switching to projection `{projection}`: reading the store's head from position {from_position} failed"
    )]
    Head {
        /// The new version's projection name.
        projection: String,
        /// Where the read started.
        from_position: u64,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The new version stopped (unhealthy) before it caught up.
    #[error(
        "switching to projection `{projection}`: it stopped at position {position} before catching up to {head}: {error}"
    )]
    Unhealthy {
        /// The new version's projection name.
        projection: String,
        /// Its checkpoint.
        position: u64,
        /// The head it had to reach.
        head: u64,
        /// Its last error.
        error: String,
    },
}

/// The version of a read model that serves queries: a handle `M` (for
/// example an `Arc<RwLock<Summary>>`, or the name of a table) and the
/// projection that maintains it.
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::prelude::*;
/// use orchestrix::projection::ServedReadModel;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryAsyncEventStore::new();
/// let served = ServedReadModel::new("order-summary", "order_summary_v1");
///
/// // Version 2 is built under its own name, into its own table, while
/// // version 1 keeps serving (normally `run` in a task, following live).
/// let green = ProjectionEngine::new("order-summary@2", InMemoryProjectionStateStore::new());
/// green.rebuild(&store).await?;
/// let head = served.switch_when_caught_up(&green, &store, "order_summary_v2").await?;
///
/// assert_eq!(head, 0);
/// assert_eq!(served.serving(), "order_summary_v2");
/// assert_eq!(&*served.serving_projection(), "order-summary@2");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ServedReadModel<M> {
    serving: RwLock<Serving<M>>,
}

#[derive(Debug)]
struct Serving<M> {
    projection: Arc<str>,
    model: M,
}

impl<M: Clone> ServedReadModel<M> {
    /// `model`, maintained by the projection `projection`, serves queries.
    pub fn new(projection: impl Into<String>, model: M) -> Self {
        Self {
            serving: RwLock::new(Serving {
                projection: projection.into().into(),
                model,
            }),
        }
    }

    /// The read model queries use now.
    pub fn serving(&self) -> M {
        self.read().model.clone()
    }

    /// The projection maintaining the read model queries use now.
    pub fn serving_projection(&self) -> Arc<str> {
        Arc::clone(&self.read().projection)
    }

    /// Waits until `green` (the engine building the new version, running or
    /// rebuilding elsewhere) has applied every event the store holds now,
    /// then makes `model` the read model served. Returns the position it
    /// caught up to. Until then, and when it fails, the old version keeps
    /// serving; stop its runner after the switch.
    pub async fn switch_when_caught_up<S>(
        &self,
        green: &ProjectionEngine,
        store: &S,
        model: M,
    ) -> Result<u64, SwitchError>
    where
        S: AsyncEventStore + ?Sized,
    {
        let head = head_position(store, green).await?;
        let mut states = green.watch_state();
        let reached = |state: &ProjectionState| state.position >= head || !state.healthy;
        // The engine (and so the sender) lives as long as `green` is borrowed.
        let state = match states.wait_for(reached).await {
            Ok(state) => state.clone(),
            Err(_) => green.state(),
        };
        if state.position < head {
            return Err(SwitchError::Unhealthy {
                projection: green.name().to_owned(),
                position: state.position,
                head,
                error: state.last_error.unwrap_or_default(),
            });
        }
        let mut serving = self
            .serving
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *serving = Serving {
            projection: green.name().into(),
            model,
        };
        Ok(head)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Serving<M>> {
        self.serving
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The store's last readable position, scanned from `green`'s checkpoint
/// without fetching any event.
async fn head_position<S>(store: &S, green: &ProjectionEngine) -> Result<u64, SwitchError>
where
    S: AsyncEventStore + ?Sized,
{
    let nothing = EventTypeFilter::only(Vec::<String>::new());
    let mut head = green.state().position;
    loop {
        let from_position = head + 1;
        let page = store
            .read_all_filtered(from_position, 1_000, &nothing)
            .await
            .map_err(|source| SwitchError::Head {
                projection: green.name().to_owned(),
                from_position,
                source,
            })?;
        if page.scanned_through < from_position {
            return Ok(head);
        }
        head = page.scanned_through;
    }
}
