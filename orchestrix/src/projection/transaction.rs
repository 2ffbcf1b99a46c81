//! Projections whose read model lives in the PostgreSQL database of their
//! state store (feature `postgres`): each page of events is applied in one
//! transaction that also saves the checkpoint, so read-model writes and
//! checkpoint commit together or not at all.

use std::sync::Arc;

use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use super::error::ProjectionStoreError;

/// The transaction a page of events is applied in, as handlers get it from
/// [`ProjectionContext::transaction`](super::ProjectionContext::transaction).
///
/// Lock it for each statement (or a few): the engine takes it back to
/// commit once the page's handlers are done. Every handler attempt runs
/// inside a savepoint, so a failed attempt's writes are rolled back alone.
///
/// ```no_run
/// use orchestrix::prelude::*;
///
/// #[derive(Event, Clone, Debug, Serialize, Deserialize)]
/// struct OrderPlaced { order: String, total: i64 }
///
/// # fn demo(states: orchestrix::projection::PostgreSQLProjectionStateStore) {
/// let mut engine = ProjectionEngine::transactional("order-totals", states);
/// engine.on::<OrderPlaced, _, _>(|event, context| async move {
///     let transaction = context.transaction().ok_or("not a transactional projection")?;
///     let mut connection = transaction.lock().await?;
///     sqlx::query("INSERT INTO order_totals (order_id, total) VALUES ($1, $2) \
///                  ON CONFLICT (order_id) DO UPDATE SET total = order_totals.total + $2")
///         .bind(&event.message().order)
///         .bind(event.message().total)
///         .execute(&mut *connection)
///         .await?;
///     Ok::<(), BoxError>(())
/// });
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ProjectionTransaction {
    inner: Arc<Mutex<Option<Transaction<'static, Postgres>>>>,
}

impl ProjectionTransaction {
    pub(super) fn new(transaction: Transaction<'static, Postgres>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Some(transaction))),
        }
    }

    /// The transaction's connection, locked; an error once the page was
    /// committed or rolled back (a handler that kept its context too long).
    pub async fn lock(&self) -> Result<MappedMutexGuard<'_, PgConnection>, ProjectionStoreError> {
        MutexGuard::try_map(self.inner.lock().await, |transaction| {
            transaction.as_mut().map(|transaction| &mut **transaction)
        })
        .map_err(|_| ProjectionStoreError::Backend {
            operation: "use a projection transaction".to_owned(),
            source: "the page's transaction has ended; use the transaction only while handling the event".into(),
        })
    }

    /// Runs `statement` (a savepoint command) on the transaction.
    pub(super) async fn execute(
        &self,
        statement: &'static str,
    ) -> Result<(), ProjectionStoreError> {
        let mut connection = self.lock().await?;
        sqlx::query(statement)
            .execute(&mut *connection)
            .await
            .map_err(|source| ProjectionStoreError::Backend {
                operation: format!("run `{statement}` in a projection transaction"),
                source: Box::new(source),
            })?;
        Ok(())
    }

    /// Takes the transaction out, to commit it.
    pub(super) async fn take(&self) -> Option<Transaction<'static, Postgres>> {
        self.inner.lock().await.take()
    }
}
