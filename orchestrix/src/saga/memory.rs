//! [`InMemorySagaStateStore`]: sagas kept in a map, for tests and
//! single-process programs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

use crate::limits::stored_precision;

use super::checks::{self, at_stored_precision};
use super::error::SagaStoreError;
use super::state::{Lease, SagaState};
use super::store::{CreateOutcome, LeaseOutcome, SagaStateStore, expiry};

/// A [`SagaStateStore`] in memory. Every operation takes one lock, so
/// creates and lease changes are atomic.
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::saga::{InMemorySagaStateStore, SagaStateStore};
///
/// let store: Arc<dyn SagaStateStore> = Arc::new(InMemorySagaStateStore::new());
/// # let _ = store;
/// ```
#[derive(Debug, Default)]
pub struct InMemorySagaStateStore {
    sagas: Mutex<HashMap<String, SagaState>>,
}

impl InMemorySagaStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `states` (e.g. read back from a file).
    pub fn with_states(states: impl IntoIterator<Item = SagaState>) -> Self {
        Self {
            sagas: Mutex::new(states.into_iter().map(|s| (s.saga_id.clone(), s)).collect()),
        }
    }

    /// Every stored state, sorted by creation time then id.
    pub fn states(&self) -> Vec<SagaState> {
        let mut states: Vec<_> = self.lock().values().cloned().collect();
        states.sort_by(|a, b| (a.created_at, &a.saga_id).cmp(&(b.created_at, &b.saga_id)));
        states
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SagaState>> {
        self.sagas
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn held_by(state: &SagaState, owner: &str) -> bool {
    state
        .lease
        .as_ref()
        .is_some_and(|lease| lease.owner == owner)
}

fn lease_lost(saga_id: &str, owner: &str) -> SagaStoreError {
    SagaStoreError::LeaseLost {
        saga_id: saga_id.to_owned(),
        owner: owner.to_owned(),
    }
}

#[async_trait::async_trait]
impl SagaStateStore for InMemorySagaStateStore {
    async fn initialize(&self) -> Result<(), SagaStoreError> {
        Ok(())
    }

    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        checks::state(state, owner)?;
        let mut sagas = self.lock();
        if let Some(existing) = sagas.get(&state.saga_id) {
            return Ok(CreateOutcome::Existing(existing.clone()));
        }
        let mut stored = state.clone();
        let now = OffsetDateTime::now_utc();
        stored.lease = Some(Lease {
            owner: owner.to_owned(),
            expires_at: expiry(now, ttl),
        });
        let stored = at_stored_precision(stored);
        sagas.insert(stored.saga_id.clone(), stored.clone());
        Ok(CreateOutcome::Created(stored))
    }

    async fn load(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError> {
        checks::saga_id(saga_id)?;
        Ok(self.lock().get(saga_id).cloned())
    }

    async fn acquire_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        let mut sagas = self.lock();
        let Some(state) = sagas.get_mut(saga_id) else {
            return Ok(LeaseOutcome::NotFound);
        };
        let now = OffsetDateTime::now_utc();
        if let Some(lease) = &state.lease
            && lease.owner != owner
            && lease.expires_at > now
        {
            return Ok(LeaseOutcome::Held {
                owner: lease.owner.clone(),
                expires_at: lease.expires_at,
            });
        }
        state.lease = Some(Lease {
            owner: owner.to_owned(),
            expires_at: stored_precision(expiry(now, ttl)),
        });
        Ok(LeaseOutcome::Acquired(state.clone()))
    }

    async fn save(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        checks::state(state, owner)?;
        let mut sagas = self.lock();
        let Some(stored) = sagas.get_mut(&state.saga_id) else {
            return Err(SagaStoreError::NotFound {
                saga_id: state.saga_id.clone(),
            });
        };
        if !held_by(stored, owner) {
            return Err(lease_lost(&state.saga_id, owner));
        }
        let now = OffsetDateTime::now_utc();
        *stored = at_stored_precision(SagaState {
            lease: Some(Lease {
                owner: owner.to_owned(),
                expires_at: expiry(now, ttl),
            }),
            ..state.clone()
        });
        Ok(())
    }

    async fn renew_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        let mut sagas = self.lock();
        match sagas.get_mut(saga_id) {
            Some(stored) if held_by(stored, owner) => {
                stored.lease = Some(Lease {
                    owner: owner.to_owned(),
                    expires_at: stored_precision(expiry(OffsetDateTime::now_utc(), ttl)),
                });
                Ok(())
            }
            Some(_) => Err(lease_lost(saga_id, owner)),
            None => Err(SagaStoreError::NotFound {
                saga_id: saga_id.to_owned(),
            }),
        }
    }

    async fn release_lease(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        if let Some(stored) = self.lock().get_mut(saga_id)
            && held_by(stored, owner)
        {
            stored.lease = None;
        }
        Ok(())
    }

    async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError> {
        Ok(self
            .states()
            .into_iter()
            .filter(|s| !s.status.is_finished())
            .collect())
    }
}
