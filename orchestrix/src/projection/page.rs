//! One page of events being applied: plain, or (for a transactional
//! projection on PostgreSQL) inside one transaction that also saves the
//! checkpoint, with a savepoint around every handler attempt.

use super::engine::ProjectionEngine;
use super::error::ProjectionError;
use super::state::{DeadLetter, ProjectionState};
use crate::error::BoxError;

/// The page's transaction, if the projection is transactional.
pub(super) struct Page {
    #[cfg(feature = "postgres")]
    transaction: Option<super::ProjectionTransaction>,
}

impl Page {
    /// Starts a page: begins the transaction of a transactional projection.
    pub(super) async fn begin(engine: &ProjectionEngine) -> Result<Self, ProjectionError> {
        #[cfg(feature = "postgres")]
        {
            let transaction = match &engine.transactional {
                Some(states) => Some(super::ProjectionTransaction::new(
                    states
                        .begin()
                        .await
                        .map_err(|source| ProjectionError::state(&engine.name, source))?,
                )),
                None => None,
            };
            Ok(Self { transaction })
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = engine;
            Ok(Self {})
        }
    }

    #[cfg(feature = "postgres")]
    pub(super) fn transaction(&self) -> Option<&super::ProjectionTransaction> {
        self.transaction.as_ref()
    }

    /// Before a handler attempt: a savepoint, so a failed attempt's writes
    /// can be undone alone.
    pub(super) async fn before_attempt(&self) -> Result<(), BoxError> {
        self.run("SAVEPOINT orchestrix_projection_event").await
    }

    /// After a successful attempt.
    pub(super) async fn after_success(&self) -> Result<(), BoxError> {
        self.run("RELEASE SAVEPOINT orchestrix_projection_event")
            .await
    }

    /// After a failed attempt: its writes are rolled back.
    pub(super) async fn after_failure(&self) -> Result<(), BoxError> {
        self.run("ROLLBACK TO SAVEPOINT orchestrix_projection_event")
            .await
    }

    async fn run(&self, statement: &'static str) -> Result<(), BoxError> {
        #[cfg(feature = "postgres")]
        if let Some(transaction) = &self.transaction {
            transaction.execute(statement).await?;
        }
        let _ = statement;
        Ok(())
    }

    /// Parks `letter`: in the page's transaction, or in the state store.
    pub(super) async fn park(
        &self,
        engine: &ProjectionEngine,
        letter: &DeadLetter,
    ) -> Result<(), ProjectionError> {
        #[cfg(feature = "postgres")]
        if let (Some(states), Some(transaction)) = (&engine.transactional, &self.transaction) {
            let mut connection = transaction
                .lock()
                .await
                .map_err(|source| ProjectionError::state(&engine.name, source))?;
            return states
                .park_in(&mut connection, letter)
                .await
                .map_err(|source| ProjectionError::state(&engine.name, source));
        }
        engine
            .state_store
            .park(letter)
            .await
            .map_err(|source| ProjectionError::state(&engine.name, source))
    }

    /// Saves `state` (stamped now) and ends the page: in the transaction,
    /// then commits it, so the read-model writes and the checkpoint land
    /// together; else in the state store. Publishes the state to watchers.
    pub(super) async fn commit(
        self,
        engine: &ProjectionEngine,
        state: &mut ProjectionState,
    ) -> Result<(), ProjectionError> {
        state.updated_at = time::OffsetDateTime::now_utc();
        let failed = |source| ProjectionError::state(&engine.name, source);
        #[cfg(feature = "postgres")]
        if let (Some(states), Some(transaction)) = (&engine.transactional, &self.transaction) {
            {
                let mut connection = transaction.lock().await.map_err(failed)?;
                states
                    .save_in(&mut connection, state, &engine.owner)
                    .await
                    .map_err(failed)?;
            }
            if let Some(transaction) = transaction.take().await {
                transaction.commit().await.map_err(|source| {
                    failed(super::ProjectionStoreError::Backend {
                        operation: "commit a projection page".to_owned(),
                        source: Box::new(source),
                    })
                })?;
            }
            engine.state.send_replace(state.clone());
            return Ok(());
        }
        engine
            .state_store
            .save(state, &engine.owner)
            .await
            .map_err(failed)?;
        engine.state.send_replace(state.clone());
        Ok(())
    }
}
