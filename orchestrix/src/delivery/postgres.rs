//! [`PostgreSQLDeliveryStore`]: durable delivery in the event store's
//! PostgreSQL database (feature `postgres`).

use std::sync::Arc;

use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{Dialect, ParkedRow, Statements, attempts_to_sql, parked_from_row, to_sql};
use super::store::{DeliveryStore, DeliveryStoreError, ParkedEvent};
use crate::postgres::{Migration, PostgresError, SqlIdentifier, migrate};
use crate::projection::{PostgreSQLProjectionStateStore, ProjectionStateStore};

/// The delivery store's migrations (versions `300..400`); the checkpoints
/// use the projection state store's (`200..300`).
pub const DELIVERY_MIGRATIONS: &[Migration] = &[Migration::new(
    300,
    "delivery dead letters and processed ids",
    include_str!("../../migrations/0300_delivery.sql"),
)];

/// A [`DeliveryStore`] in PostgreSQL, next to the events: checkpoints and
/// leases in a [`PostgreSQLProjectionStateStore`] on the same pool, parked
/// events in `<schema>.delivery_dead_letters`, processed ids in
/// `<schema>.delivery_processed`.
///
/// An idempotent handler that writes to this database records the event
/// as processed in its own transaction with
/// [`mark_processed_in`](Self::mark_processed_in), so its writes and the
/// record commit together: effectively once.
///
/// ```no_run
/// use orchestrix::delivery::PostgreSQLDeliveryStore;
/// use orchestrix::store::postgres::PostgreSQLEventStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let events = PostgreSQLEventStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// let delivery = PostgreSQLDeliveryStore::from_pool(events.pool().clone())?;
/// # drop(delivery);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgreSQLDeliveryStore {
    checkpoints: PostgreSQLProjectionStateStore,
    statements: Arc<Statements>,
}

impl PostgreSQLDeliveryStore {
    /// Uses an existing pool (the event store's), in the default schema.
    pub fn from_pool(pool: PgPool) -> Result<Self, DeliveryStoreError> {
        Ok(Self::with_checkpoints(
            PostgreSQLProjectionStateStore::from_pool(pool)?,
        ))
    }

    /// Uses an existing pool, with the tables in `schema` (a plain identifier).
    pub fn from_pool_with_schema(pool: PgPool, schema: &str) -> Result<Self, DeliveryStoreError> {
        Ok(Self::with_checkpoints(
            PostgreSQLProjectionStateStore::from_pool_with_schema(pool, schema)?,
        ))
    }

    /// Keeps the checkpoints in `checkpoints` and the rest beside them (same
    /// pool, same schema).
    pub fn with_checkpoints(checkpoints: PostgreSQLProjectionStateStore) -> Self {
        Self {
            statements: Arc::new(statements(checkpoints.schema())),
            checkpoints,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        self.checkpoints.pool()
    }

    /// Records on `connection` (inside the caller's transaction) that
    /// `handler` processed `event_id`; `false` if it was recorded already,
    /// in which case the caller rolls back its writes: they were made once
    /// before. See the [delivery guide](crate::guides::delivery).
    pub async fn mark_processed_in(
        &self,
        connection: &mut PgConnection,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        let inserted = sqlx::query(AssertSqlSafe(self.statements.mark_processed.as_str()))
            .bind(handler)
            .bind(event_id)
            .execute(connection)
            .await
            .map_err(failed("record a processed event"))?;
        Ok(inserted.rows_affected() == 1)
    }
}

fn failed(operation: &'static str) -> impl FnOnce(sqlx::Error) -> DeliveryStoreError {
    move |error| DeliveryStoreError::Backend {
        operation: operation.to_owned(),
        source: Box::new(error),
    }
}

/// The statements on the tables in `schema`.
fn statements(schema: &SqlIdentifier) -> Statements {
    Statements::new(
        &format!("{}.delivery_dead_letters", schema.quoted()),
        &format!("{}.delivery_processed", schema.quoted()),
        Dialect::Postgres,
    )
}

#[async_trait::async_trait]
impl DeliveryStore for PostgreSQLDeliveryStore {
    async fn initialize(&self) -> Result<(), DeliveryStoreError> {
        self.checkpoints.initialize().await?;
        migrate(self.pool(), self.checkpoints.schema(), DELIVERY_MIGRATIONS)
            .await
            .map_err(|error: PostgresError| DeliveryStoreError::Backend {
                operation: "prepare the delivery schema".to_owned(),
                source: Box::new(error),
            })
    }

    fn checkpoints(&self) -> Arc<dyn ProjectionStateStore> {
        Arc::new(self.checkpoints.clone())
    }

    async fn park(&self, parked: &ParkedEvent) -> Result<(), DeliveryStoreError> {
        sqlx::query(AssertSqlSafe(self.statements.park.as_str()))
            .bind(&parked.handler)
            .bind(&parked.group)
            .bind(to_sql(parked.position)?)
            .bind(&parked.stream_id)
            .bind(to_sql(parked.version)?)
            .bind(&parked.event_type)
            .bind(parked.event_id)
            .bind(&parked.error)
            .bind(attempts_to_sql(parked.attempts))
            .bind(parked.first_failed_at)
            .bind(parked.parked_at)
            .execute(self.pool())
            .await
            .map_err(failed("park an event"))?;
        Ok(())
    }

    async fn parked(&self, handler: Option<&str>) -> Result<Vec<ParkedEvent>, DeliveryStoreError> {
        let rows = match handler {
            Some(handler) => {
                sqlx::query_as::<_, ParkedRow<OffsetDateTime>>(AssertSqlSafe(
                    self.statements.parked_one.as_str(),
                ))
                .bind(handler)
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query_as::<_, ParkedRow<OffsetDateTime>>(AssertSqlSafe(
                    self.statements.parked_all.as_str(),
                ))
                .fetch_all(self.pool())
                .await
            }
        }
        .map_err(failed("list parked events"))?;
        rows.into_iter()
            .map(|row| parked_from_row(row, |at| at))
            .collect()
    }

    async fn remove_parked(
        &self,
        handler: &str,
        position: u64,
    ) -> Result<bool, DeliveryStoreError> {
        let removed = sqlx::query(AssertSqlSafe(self.statements.remove.as_str()))
            .bind(handler)
            .bind(to_sql(position)?)
            .execute(self.pool())
            .await
            .map_err(failed("remove a parked event"))?;
        Ok(removed.rows_affected() == 1)
    }

    async fn is_processed(
        &self,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        sqlx::query_scalar::<_, bool>(AssertSqlSafe(self.statements.is_processed.as_str()))
            .bind(handler)
            .bind(event_id)
            .fetch_one(self.pool())
            .await
            .map_err(failed("look up a processed event"))
    }

    async fn mark_processed(
        &self,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        let mut connection = self
            .pool()
            .acquire()
            .await
            .map_err(failed("connect to the delivery store"))?;
        self.mark_processed_in(&mut connection, handler, event_id)
            .await
    }
}
