//! [`SqliteProjectionStateStore`]: projection checkpoints, leases and dead
//! letters in a SQLite file (feature `sqlite`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AssertSqlSafe, SqlitePool};
use time::OffsetDateTime;

use super::error::ProjectionStoreError;
use super::sql::{
    LETTER_COLUMNS, LetterRow, STATE_COLUMNS, StateRow, attempts_to_sql, held, letter_from_row,
    state_from_row, to_sql, ttl_millis,
};
use super::state::{DeadLetter, ProjectionState};
use super::store::{LeaseOutcome, ProjectionStateStore};
use crate::migration::Migration;
use crate::sqlite::{NOW_MS, SqliteError, SqliteOptions, connect_pool, migrate};
use crate::store::sqlite::{nanos, time_from_nanos};

/// The projection state store's SQLite migrations (versions `200..300`).
pub const SQLITE_PROJECTION_STATE_MIGRATIONS: &[Migration] = &[Migration::new(
    200,
    "projection state",
    include_str!("../../migrations/sqlite/0200_projection_state.sql"),
)];

/// The SQL of every operation.
#[derive(Debug)]
struct Statements {
    load: String,
    save: String,
    acquire: String,
    holder: String,
    release: &'static str,
    park: String,
    dead_letters: String,
    remove: &'static str,
}

impl Statements {
    fn new() -> Self {
        // The lease is free for `?2` when nobody, `?2` or an expired lease
        // holds it. Each upsert is one statement, so it runs under the
        // file's write lock from its read to its write: of two concurrent
        // acquirers (tasks or processes) the second sees the first's lease.
        let free = format!(
            "(projection_state.lease_owner IS NULL OR projection_state.lease_owner = ?2 \
             OR projection_state.lease_expires_at <= {NOW_MS})"
        );
        // ?3 is the TTL in milliseconds.
        let expiry = format!("{NOW_MS} + ?3");
        Self {
            load: format!(
                "SELECT {STATE_COLUMNS} FROM projection_state WHERE name = ?1 AND has_state"
            ),
            save: format!(
                "INSERT INTO projection_state (name, has_state, position, last_event_position, \
                 last_event_id, processed, failed, healthy, last_error, head_position, updated_at) \
                 VALUES (?1, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (name) DO UPDATE SET has_state = 1, position = ?3, \
                 last_event_position = ?4, last_event_id = ?5, processed = ?6, failed = ?7, \
                 healthy = ?8, last_error = ?9, head_position = ?10, updated_at = ?11 \
                 WHERE {free}"
            ),
            acquire: format!(
                "INSERT INTO projection_state (name, lease_owner, lease_expires_at) \
                 VALUES (?1, ?2, {expiry}) \
                 ON CONFLICT (name) DO UPDATE SET lease_owner = ?2, lease_expires_at = {expiry} \
                 WHERE {free} RETURNING name"
            ),
            holder: format!(
                "SELECT lease_owner, lease_expires_at FROM projection_state \
                 WHERE name = ?1 AND lease_owner IS NOT NULL AND lease_owner <> ?2 \
                 AND lease_expires_at > {NOW_MS}"
            ),
            release: "UPDATE projection_state SET lease_owner = NULL, lease_expires_at = NULL \
                      WHERE name = ?1 AND lease_owner = ?2",
            park: format!(
                "INSERT INTO projection_dead_letters ({LETTER_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (projection, position) DO UPDATE SET stream_id = ?3, version = ?4, \
                 event_type = ?5, event_id = ?6, error = ?7, attempts = ?8, parked_at = ?9"
            ),
            dead_letters: format!(
                "SELECT {LETTER_COLUMNS} FROM projection_dead_letters WHERE projection = ?1 \
                 ORDER BY position"
            ),
            remove: "DELETE FROM projection_dead_letters WHERE projection = ?1 AND position = ?2",
        }
    }
}

/// A [`ProjectionStateStore`] in a SQLite file.
///
/// One row per projection in `projection_state` (checkpoint, counts,
/// health and the lease), parked events in `projection_dead_letters`. Every
/// write is one statement that also checks the lease, on the clock SQLite
/// reads when the statement runs (the machine's, shared by every process
/// using the file), so two runners in two processes on one file take turns
/// as they do on PostgreSQL. It can share a file, and a pool, with
/// [`SqliteEventStore`](crate::store::sqlite::SqliteEventStore): the
/// projection's checkpoints then live next to the events it reads.
///
/// ```rust,standalone_crate
/// use orchestrix::projection::{ProjectionEngine, ProjectionStateStore, SqliteProjectionStateStore};
/// use orchestrix::sqlite::{SqliteOptions, connect_pool};
/// use orchestrix::store::sqlite::SqliteEventStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // One file for the events and the checkpoints: `sqlite://app.db`.
/// let pool = connect_pool(&SqliteOptions::new("sqlite::memory:")?).await?;
/// let events = SqliteEventStore::from_pool(pool.clone());
/// events.initialize().await?;
/// let states = SqliteProjectionStateStore::from_pool(pool);
/// states.initialize().await?;
/// let engine = ProjectionEngine::new("order-summary", states);
/// # drop((events, engine));
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteProjectionStateStore {
    pool: SqlitePool,
    path: Arc<Path>,
    statements: Arc<Statements>,
}

/// Rows as SQLite returns them (times as integers).
type Row = StateRow<i64>;
type Letter = LetterRow<i64>;

impl SqliteProjectionStateStore {
    /// Opens `connection_string` (`sqlite://app.db`, `sqlite::memory:`) with
    /// the default options and migrates it.
    pub async fn connect(connection_string: &str) -> Result<Self, ProjectionStoreError> {
        let options = SqliteOptions::new(connection_string).map_err(from_sqlite)?;
        Self::connect_with(options).await
    }

    /// Opens the database as `options` describe and migrates it.
    pub async fn connect_with(options: SqliteOptions) -> Result<Self, ProjectionStoreError> {
        let pool = connect_pool(&options).await.map_err(from_sqlite)?;
        let store = Self::from_pool(pool);
        store.initialize().await?;
        Ok(store)
    }

    /// Uses an existing pool (e.g. the event store's); call
    /// [`initialize`](ProjectionStateStore::initialize) before use.
    pub fn from_pool(pool: SqlitePool) -> Self {
        let path = Arc::from(pool.connect_options().get_filename());
        Self {
            pool,
            path,
            statements: Arc::new(Statements::new()),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A driver error while doing `operation`, classified (locked,
    /// read-only, corrupt, ...) as a [`SqliteError`] in the source.
    fn failed(&self, operation: &'static str) -> impl FnOnce(sqlx::Error) -> ProjectionStoreError {
        let path = Arc::clone(&self.path);
        move |error| ProjectionStoreError::Backend {
            operation: operation.to_owned(),
            source: Box::new(SqliteError::from_sqlx(error, &path, operation)),
        }
    }

    /// Who holds `projection`'s lease against `owner`, if someone else does.
    async fn holder(
        &self,
        projection: &str,
        owner: &str,
    ) -> Result<Option<(String, OffsetDateTime)>, ProjectionStoreError> {
        let holder =
            sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(self.statements.holder.as_str()))
                .bind(projection)
                .bind(owner)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.failed("look up a projection lease"))?;
        Ok(holder.map(|(owner, expires_ms)| {
            (owner, time_from_nanos(expires_ms.saturating_mul(1_000_000)))
        }))
    }

    async fn take_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, ProjectionStoreError> {
        Ok(sqlx::query(AssertSqlSafe(self.statements.acquire.as_str()))
            .bind(projection)
            .bind(owner)
            .bind(ttl_millis(ttl))
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed("take a projection lease"))?
            .is_some())
    }
}

fn from_sqlite(error: SqliteError) -> ProjectionStoreError {
    match error {
        SqliteError::Configuration(what) => ProjectionStoreError::Configuration(what),
        other => ProjectionStoreError::Backend {
            operation: "prepare the projection state schema".to_owned(),
            source: Box::new(other),
        },
    }
}

#[async_trait::async_trait]
impl ProjectionStateStore for SqliteProjectionStateStore {
    async fn initialize(&self) -> Result<(), ProjectionStoreError> {
        migrate(&self.pool, &self.path, SQLITE_PROJECTION_STATE_MIGRATIONS)
            .await
            .map_err(from_sqlite)
    }

    async fn load(
        &self,
        projection: &str,
    ) -> Result<Option<ProjectionState>, ProjectionStoreError> {
        sqlx::query_as::<_, Row>(AssertSqlSafe(self.statements.load.as_str()))
            .bind(projection)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed("load a projection state"))?
            .map(|row| state_from_row(row, time_from_nanos))
            .transpose()
    }

    async fn save(&self, state: &ProjectionState, owner: &str) -> Result<(), ProjectionStoreError> {
        let saved = sqlx::query(AssertSqlSafe(self.statements.save.as_str()))
            .bind(&state.name)
            .bind(owner)
            .bind(to_sql(state.position, "position")?)
            .bind(
                state
                    .last_event_position
                    .map(|p| to_sql(p, "position"))
                    .transpose()?,
            )
            .bind(state.last_event_id)
            .bind(to_sql(state.processed, "count")?)
            .bind(to_sql(state.failed, "count")?)
            .bind(state.healthy)
            .bind(&state.last_error)
            .bind(to_sql(state.head_position, "position")?)
            .bind(nanos(state.updated_at))
            .execute(&self.pool)
            .await
            .map_err(self.failed("save a projection state"))?;
        held(saved.rows_affected() == 1, &state.name, owner)
    }

    async fn acquire_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, ProjectionStoreError> {
        super::sql::acquire_lease(
            projection,
            || self.take_lease(projection, owner, ttl),
            || self.holder(projection, owner),
        )
        .await
    }

    async fn renew_lease(
        &self,
        projection: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), ProjectionStoreError> {
        held(
            self.take_lease(projection, owner, ttl).await?,
            projection,
            owner,
        )
    }

    async fn release_lease(
        &self,
        projection: &str,
        owner: &str,
    ) -> Result<(), ProjectionStoreError> {
        sqlx::query(self.statements.release)
            .bind(projection)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(self.failed("release a projection lease"))?;
        Ok(())
    }

    async fn park(&self, letter: &DeadLetter) -> Result<(), ProjectionStoreError> {
        sqlx::query(AssertSqlSafe(self.statements.park.as_str()))
            .bind(&letter.projection)
            .bind(to_sql(letter.position, "position")?)
            .bind(&letter.stream_id)
            .bind(to_sql(letter.version, "version")?)
            .bind(&letter.event_type)
            .bind(letter.event_id)
            .bind(&letter.error)
            .bind(attempts_to_sql(letter.attempts))
            .bind(nanos(letter.parked_at))
            .execute(&self.pool)
            .await
            .map_err(self.failed("park an event"))?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        projection: &str,
    ) -> Result<Vec<DeadLetter>, ProjectionStoreError> {
        sqlx::query_as::<_, Letter>(AssertSqlSafe(self.statements.dead_letters.as_str()))
            .bind(projection)
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("list parked events"))?
            .into_iter()
            .map(|row| letter_from_row(row, time_from_nanos))
            .collect()
    }

    async fn remove_dead_letter(
        &self,
        projection: &str,
        position: u64,
    ) -> Result<bool, ProjectionStoreError> {
        let removed = sqlx::query(self.statements.remove)
            .bind(projection)
            .bind(to_sql(position, "position")?)
            .execute(&self.pool)
            .await
            .map_err(self.failed("remove a parked event"))?;
        Ok(removed.rows_affected() == 1)
    }
}
