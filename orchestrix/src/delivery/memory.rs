//! [`InMemoryDeliveryStore`]: delivery state in maps, for tests and
//! single-process programs.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;

use super::store::{DeliveryStore, DeliveryStoreError, ParkedEvent};
use crate::projection::{InMemoryProjectionStateStore, ProjectionStateStore};

/// A [`DeliveryStore`] in memory: checkpoints in an
/// [`InMemoryProjectionStateStore`], parked events and processed ids in
/// maps. Lost with the process, so it guarantees nothing across restarts;
/// for tests, and for programs whose event store is in memory too.
///
/// ```
/// use orchestrix::delivery::{DeliveryStore, InMemoryDeliveryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), orchestrix::delivery::DeliveryStoreError> {
/// let store = InMemoryDeliveryStore::new();
/// let id = uuid::Uuid::new_v4();
/// assert!(store.mark_processed("send_receipt", id).await?);
/// assert!(!store.mark_processed("send_receipt", id).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct InMemoryDeliveryStore {
    checkpoints: Arc<InMemoryProjectionStateStore>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    parked: BTreeMap<(String, u64), ParkedEvent>,
    processed: HashSet<(String, Uuid)>,
}

impl InMemoryDeliveryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait::async_trait]
impl DeliveryStore for InMemoryDeliveryStore {
    async fn initialize(&self) -> Result<(), DeliveryStoreError> {
        Ok(self.checkpoints.initialize().await?)
    }

    fn checkpoints(&self) -> Arc<dyn ProjectionStateStore> {
        self.checkpoints.clone()
    }

    async fn park(&self, parked: &ParkedEvent) -> Result<(), DeliveryStoreError> {
        self.lock()
            .parked
            .insert((parked.handler.clone(), parked.position), parked.clone());
        Ok(())
    }

    async fn parked(&self, handler: Option<&str>) -> Result<Vec<ParkedEvent>, DeliveryStoreError> {
        Ok(self
            .lock()
            .parked
            .values()
            .filter(|parked| handler.is_none_or(|handler| parked.handler == handler))
            .cloned()
            .collect())
    }

    async fn remove_parked(
        &self,
        handler: &str,
        position: u64,
    ) -> Result<bool, DeliveryStoreError> {
        Ok(self
            .lock()
            .parked
            .remove(&(handler.to_owned(), position))
            .is_some())
    }

    async fn is_processed(
        &self,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        Ok(self
            .lock()
            .processed
            .contains(&(handler.to_owned(), event_id)))
    }

    async fn mark_processed(
        &self,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        Ok(self.lock().processed.insert((handler.to_owned(), event_id)))
    }
}
