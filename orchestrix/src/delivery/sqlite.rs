//! [`SqliteDeliveryStore`]: durable delivery in the event store's SQLite
//! file (feature `sqlite`).

use std::path::Path;
use std::sync::Arc;

use sqlx::{AssertSqlSafe, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::sql::{Dialect, ParkedRow, Statements, attempts_to_sql, parked_from_row, to_sql};
use super::store::{DeliveryStore, DeliveryStoreError, ParkedEvent};
use crate::migration::Migration;
use crate::projection::{ProjectionStateStore, SqliteProjectionStateStore};
use crate::sqlite::{SqliteError, SqliteOptions, migrate};
use crate::store::sqlite::{nanos, time_from_nanos};

/// The delivery store's SQLite migrations (versions `300..400`); the
/// checkpoints use the projection state store's (`200..300`).
pub const SQLITE_DELIVERY_MIGRATIONS: &[Migration] = &[Migration::new(
    300,
    "delivery dead letters and processed ids",
    include_str!("../../migrations/sqlite/0300_delivery.sql"),
)];

/// A [`DeliveryStore`] in a SQLite file, next to the events: checkpoints
/// and leases in a [`SqliteProjectionStateStore`] on the same pool, parked
/// events in `delivery_dead_letters`, processed ids in
/// `delivery_processed`. The same statements and rules as
/// [`PostgreSQLDeliveryStore`](super::PostgreSQLDeliveryStore); times are
/// kept as integer nanoseconds, as the other SQLite stores keep them.
///
/// An idempotent handler that writes to this file records the event as
/// processed in its own transaction with
/// [`mark_processed_in`](Self::mark_processed_in), so its writes and the
/// record commit together: effectively once. Two processes may share the
/// file: the group leases keep one dispatcher per group running, and the
/// busy timeout makes writers take turns.
///
/// ```rust,standalone_crate
/// use orchestrix::delivery::{DeliveryStore, SqliteDeliveryStore};
/// use orchestrix::sqlite::{SqliteOptions, connect_pool};
/// use orchestrix::store::sqlite::SqliteEventStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // One file for the events and the delivery state: `sqlite://app.db`.
/// let pool = connect_pool(&SqliteOptions::new("sqlite::memory:")?).await?;
/// let events = SqliteEventStore::from_pool(pool.clone());
/// events.initialize().await?;
/// let delivery = SqliteDeliveryStore::from_pool(pool);
/// delivery.initialize().await?;
/// let id = uuid::Uuid::new_v4();
/// assert!(delivery.mark_processed("send_receipt", id).await?);
/// assert!(!delivery.mark_processed("send_receipt", id).await?);
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteDeliveryStore {
    checkpoints: SqliteProjectionStateStore,
    path: Arc<Path>,
    statements: Arc<Statements>,
}

impl SqliteDeliveryStore {
    /// Opens `connection_string` (`sqlite://app.db`, `sqlite::memory:`) with
    /// the default options and migrates it. The checkpoint store opens the
    /// file, so a connection string that does not parse is
    /// [`Checkpoints`](DeliveryStoreError::Checkpoints)`(`[`Configuration`](crate::projection::ProjectionStoreError::Configuration)`)`.
    pub async fn connect(connection_string: &str) -> Result<Self, DeliveryStoreError> {
        Self::migrated(SqliteProjectionStateStore::connect(connection_string).await?).await
    }

    /// Opens the database as `options` describe and migrates it.
    pub async fn connect_with(options: SqliteOptions) -> Result<Self, DeliveryStoreError> {
        Self::migrated(SqliteProjectionStateStore::connect_with(options).await?).await
    }

    async fn migrated(checkpoints: SqliteProjectionStateStore) -> Result<Self, DeliveryStoreError> {
        let store = Self::with_checkpoints(checkpoints);
        store.initialize().await?;
        Ok(store)
    }

    /// Uses an existing pool (the event store's); call
    /// [`initialize`](DeliveryStore::initialize) before use.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self::with_checkpoints(SqliteProjectionStateStore::from_pool(pool))
    }

    /// Keeps the checkpoints in `checkpoints` and the rest beside them (same
    /// pool).
    pub fn with_checkpoints(checkpoints: SqliteProjectionStateStore) -> Self {
        Self {
            path: Arc::from(checkpoints.pool().connect_options().get_filename()),
            statements: Arc::new(Statements::new(
                "delivery_dead_letters",
                "delivery_processed",
                Dialect::Sqlite,
            )),
            checkpoints,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        self.checkpoints.pool()
    }

    /// Records on `connection` (inside the caller's transaction) that
    /// `handler` processed `event_id`; `false` if it was recorded already,
    /// in which case the caller rolls back its writes: they were made once
    /// before. See the [delivery guide](crate::guides::delivery).
    ///
    /// Begin that transaction with `pool.begin_with("BEGIN IMMEDIATE")`: it
    /// takes the file's write lock first, waiting up to the busy timeout. A
    /// plain `BEGIN` that reads before it writes fails at once with
    /// [`SqliteError::Locked`] when another connection wrote in between
    /// (SQLite cannot upgrade its stale read to a write).
    pub async fn mark_processed_in(
        &self,
        connection: &mut SqliteConnection,
        handler: &str,
        event_id: Uuid,
    ) -> Result<bool, DeliveryStoreError> {
        let inserted = sqlx::query(AssertSqlSafe(self.statements.mark_processed.as_str()))
            .bind(handler)
            .bind(event_id)
            .execute(connection)
            .await
            .map_err(self.failed("record a processed event"))?;
        Ok(inserted.rows_affected() == 1)
    }

    /// A driver error while doing `operation`, classified (locked,
    /// read-only, corrupt, ...) as a [`SqliteError`] in the source.
    fn failed(&self, operation: &'static str) -> impl FnOnce(sqlx::Error) -> DeliveryStoreError {
        let path = Arc::clone(&self.path);
        move |error| DeliveryStoreError::Backend {
            operation: operation.to_owned(),
            source: Box::new(SqliteError::from_sqlx(error, &path, operation)),
        }
    }
}

#[async_trait::async_trait]
impl DeliveryStore for SqliteDeliveryStore {
    async fn initialize(&self) -> Result<(), DeliveryStoreError> {
        self.checkpoints.initialize().await?;
        migrate(self.pool(), &self.path, SQLITE_DELIVERY_MIGRATIONS)
            .await
            .map_err(|error| DeliveryStoreError::Backend {
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
            .bind(nanos(parked.first_failed_at))
            .bind(nanos(parked.parked_at))
            .execute(self.pool())
            .await
            .map_err(self.failed("park an event"))?;
        Ok(())
    }

    async fn parked(&self, handler: Option<&str>) -> Result<Vec<ParkedEvent>, DeliveryStoreError> {
        let rows = match handler {
            Some(handler) => {
                sqlx::query_as::<_, ParkedRow<i64>>(AssertSqlSafe(
                    self.statements.parked_one.as_str(),
                ))
                .bind(handler)
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query_as::<_, ParkedRow<i64>>(AssertSqlSafe(
                    self.statements.parked_all.as_str(),
                ))
                .fetch_all(self.pool())
                .await
            }
        }
        .map_err(self.failed("list parked events"))?;
        rows.into_iter()
            .map(|row| parked_from_row(row, time_from_nanos))
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
            .map_err(self.failed("remove a parked event"))?;
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
            .map_err(self.failed("look up a processed event"))
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
            .map_err(self.failed("connect to the delivery store"))?;
        self.mark_processed_in(&mut connection, handler, event_id)
            .await
    }
}
