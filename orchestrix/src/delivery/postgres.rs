//! [`PostgreSQLDeliveryStore`]: durable delivery in the event store's
//! PostgreSQL database (feature `postgres`).

use std::sync::Arc;

use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

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

const PARKED_COLUMNS: &str = "handler, handler_group, position, stream_id, version, event_type, \
                              event_id, error, attempts, first_failed_at, parked_at";

#[derive(Debug)]
struct Statements {
    park: String,
    parked_all: String,
    parked_one: String,
    remove: String,
    is_processed: String,
    mark_processed: String,
}

impl Statements {
    fn new(schema: &SqlIdentifier) -> Self {
        let parked = format!("{}.delivery_dead_letters", schema.quoted());
        let processed = format!("{}.delivery_processed", schema.quoted());
        Self {
            park: format!(
                "INSERT INTO {parked} ({PARKED_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (handler, position) DO UPDATE SET handler_group = $2, stream_id = $4, \
                 version = $5, event_type = $6, event_id = $7, error = $8, attempts = $9, \
                 first_failed_at = $10, parked_at = $11"
            ),
            parked_all: format!("SELECT {PARKED_COLUMNS} FROM {parked} ORDER BY handler, position"),
            parked_one: format!(
                "SELECT {PARKED_COLUMNS} FROM {parked} WHERE handler = $1 ORDER BY position"
            ),
            remove: format!("DELETE FROM {parked} WHERE handler = $1 AND position = $2"),
            is_processed: format!(
                "SELECT EXISTS (SELECT 1 FROM {processed} WHERE handler = $1 AND event_id = $2)"
            ),
            mark_processed: format!(
                "INSERT INTO {processed} (handler, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            ),
        }
    }
}

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
            statements: Arc::new(Statements::new(checkpoints.schema())),
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

fn to_sql(value: u64) -> Result<i64, DeliveryStoreError> {
    i64::try_from(value).map_err(|_| DeliveryStoreError::Backend {
        operation: format!("store position or version {value}"),
        source: "it is larger than a PostgreSQL bigint".into(),
    })
}

type ParkedRow = (
    String,
    String,
    i64,
    String,
    i64,
    String,
    Option<Uuid>,
    String,
    i32,
    OffsetDateTime,
    OffsetDateTime,
);

fn parked_from_row(row: ParkedRow) -> Result<ParkedEvent, DeliveryStoreError> {
    let (
        handler,
        group,
        position,
        stream_id,
        version,
        event_type,
        event_id,
        error,
        attempts,
        first_failed_at,
        parked_at,
    ) = row;
    let unsigned = |value: i64| {
        u64::try_from(value).map_err(|_| DeliveryStoreError::Malformed {
            handler: handler.clone(),
            what: "parked event",
            source: format!("negative {value}").into(),
        })
    };
    Ok(ParkedEvent {
        position: unsigned(position)?,
        version: unsigned(version)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        handler,
        group,
        stream_id,
        event_type,
        event_id,
        error,
        first_failed_at,
        parked_at,
    })
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
            .bind(i32::try_from(parked.attempts).unwrap_or(i32::MAX))
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
                sqlx::query_as::<_, ParkedRow>(AssertSqlSafe(self.statements.parked_one.as_str()))
                    .bind(handler)
                    .fetch_all(self.pool())
                    .await
            }
            None => {
                sqlx::query_as::<_, ParkedRow>(AssertSqlSafe(self.statements.parked_all.as_str()))
                    .fetch_all(self.pool())
                    .await
            }
        }
        .map_err(failed("list parked events"))?;
        rows.into_iter().map(parked_from_row).collect()
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
