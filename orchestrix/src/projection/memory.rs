//! [`InMemoryProjectionStateStore`]: projection states in a map.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

use super::error::ProjectionStoreError;
use super::state::{DeadLetter, ProjectionState};
use super::store::{LeaseOutcome, ProjectionStateStore, expiry};

/// A [`ProjectionStateStore`] in memory, for tests and single-process
/// programs whose read models live in memory too. Every operation takes one
/// lock, so lease changes are atomic.
///
/// ```
/// use orchestrix::projection::{InMemoryProjectionStateStore, ProjectionEngine};
///
/// let engine = ProjectionEngine::new("order-summary", InMemoryProjectionStateStore::new());
/// assert_eq!(engine.name(), "order-summary");
/// ```
#[derive(Debug, Default)]
pub struct InMemoryProjectionStateStore {
    projections: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Default)]
struct Entry {
    state: Option<ProjectionState>,
    lease: Option<(String, OffsetDateTime)>,
    dead_letters: BTreeMap<u64, DeadLetter>,
}

impl Entry {
    /// The owner of an unexpired lease other than `owner`, if any.
    fn held_by_other(&self, owner: &str, now: OffsetDateTime) -> Option<&(String, OffsetDateTime)> {
        self.lease
            .as_ref()
            .filter(|(holder, expires_at)| holder != owner && *expires_at > now)
    }
}

impl InMemoryProjectionStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.projections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn lease_lost(projection: &str, owner: &str) -> ProjectionStoreError {
    ProjectionStoreError::LeaseLost {
        projection: projection.to_owned(),
        owner: owner.to_owned(),
    }
}

#[async_trait::async_trait]
impl ProjectionStateStore for InMemoryProjectionStateStore {
    async fn initialize(&self) -> Result<(), ProjectionStoreError> {
        Ok(())
    }

    async fn load(
        &self,
        projection: &str,
    ) -> Result<Option<ProjectionState>, ProjectionStoreError> {
        Ok(self
            .lock()
            .get(projection)
            .and_then(|entry| entry.state.clone()))
    }

    async fn save(&self, state: &ProjectionState, owner: &str) -> Result<(), ProjectionStoreError> {
        let mut projections = self.lock();
        let entry = projections.entry(state.name.clone()).or_default();
        if entry
            .held_by_other(owner, OffsetDateTime::now_utc())
            .is_some()
        {
            return Err(lease_lost(&state.name, owner));
        }
        entry.state = Some(state.clone());
        Ok(())
    }

    async fn acquire_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, ProjectionStoreError> {
        let now = OffsetDateTime::now_utc();
        let mut projections = self.lock();
        let entry = projections.entry(projection.to_owned()).or_default();
        if let Some((holder, expires_at)) = entry.held_by_other(owner, now) {
            return Ok(LeaseOutcome::Held {
                owner: holder.clone(),
                expires_at: *expires_at,
            });
        }
        entry.lease = Some((owner.to_owned(), expiry(now, ttl)));
        Ok(LeaseOutcome::Acquired)
    }

    async fn renew_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), ProjectionStoreError> {
        let now = OffsetDateTime::now_utc();
        let mut projections = self.lock();
        let entry = projections.entry(projection.to_owned()).or_default();
        if entry.held_by_other(owner, now).is_some() {
            return Err(lease_lost(projection, owner));
        }
        entry.lease = Some((owner.to_owned(), expiry(now, ttl)));
        Ok(())
    }

    async fn release_lease(
        &self,
        projection: &str,
        owner: &str,
    ) -> Result<(), ProjectionStoreError> {
        if let Some(entry) = self.lock().get_mut(projection)
            && entry
                .lease
                .as_ref()
                .is_some_and(|(holder, _)| holder == owner)
        {
            entry.lease = None;
        }
        Ok(())
    }

    async fn park(&self, letter: &DeadLetter) -> Result<(), ProjectionStoreError> {
        self.lock()
            .entry(letter.projection.clone())
            .or_default()
            .dead_letters
            .insert(letter.position, letter.clone());
        Ok(())
    }

    async fn dead_letters(
        &self,
        projection: &str,
    ) -> Result<Vec<DeadLetter>, ProjectionStoreError> {
        Ok(self
            .lock()
            .get(projection)
            .map(|entry| entry.dead_letters.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn remove_dead_letter(
        &self,
        projection: &str,
        position: u64,
    ) -> Result<bool, ProjectionStoreError> {
        Ok(self
            .lock()
            .get_mut(projection)
            .is_some_and(|entry| entry.dead_letters.remove(&position).is_some()))
    }
}
