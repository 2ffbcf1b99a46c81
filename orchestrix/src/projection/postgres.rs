//! [`PostgreSQLProjectionStateStore`]: projection checkpoints, leases and
//! dead letters in PostgreSQL (feature `postgres`).

use std::time::Duration;

use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use time::OffsetDateTime;

use super::error::ProjectionStoreError;
use super::sql::{
    LETTER_COLUMNS, LetterRow, STATE_COLUMNS, StateRow, attempts_to_sql, held, letter_from_row,
    state_from_row, to_sql, ttl_millis,
};
use super::state::{DeadLetter, ProjectionState};
use super::store::{LeaseOutcome, ProjectionStateStore};
use crate::postgres::{
    DEFAULT_SCHEMA, Migration, PostgresError, PostgresOptions, SqlIdentifier, connect_pool, migrate,
};

/// The projection state store's migrations (versions `200..300`).
pub const PROJECTION_STATE_MIGRATIONS: &[Migration] = &[Migration::new(
    200,
    "projection state",
    include_str!("../../migrations/0200_projection_state.sql"),
)];

/// The SQL of every operation, qualified with the schema once.
#[derive(Debug)]
struct Statements {
    load: String,
    save: String,
    acquire: String,
    holder: String,
    release: String,
    park: String,
    dead_letters: String,
    remove: String,
}

impl Statements {
    fn new(schema: &SqlIdentifier) -> Self {
        let state = format!("{}.projection_state", schema.quoted());
        let letters = format!("{}.projection_dead_letters", schema.quoted());
        // The lease is free for `owner` when nobody, `owner` or an expired
        // lease holds it. Under READ COMMITTED a concurrent upsert waits for
        // the row lock and re-checks this on the new row: one acquirer wins.
        let free = format!(
            "({state}.lease_owner IS NULL OR {state}.lease_owner = $2 OR {state}.lease_expires_at <= now())"
        );
        let expiry = "now() + $3::bigint * interval '1 millisecond'";
        Self {
            load: format!("SELECT {STATE_COLUMNS} FROM {state} WHERE name = $1 AND has_state"),
            save: format!(
                "INSERT INTO {state} (name, has_state, position, last_event_position, last_event_id, \
                 processed, failed, healthy, last_error, head_position, updated_at) \
                 VALUES ($1, true, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (name) DO UPDATE SET has_state = true, position = $3, \
                 last_event_position = $4, last_event_id = $5, processed = $6, failed = $7, \
                 healthy = $8, last_error = $9, head_position = $10, updated_at = $11 \
                 WHERE {free}"
            ),
            acquire: format!(
                "INSERT INTO {state} (name, lease_owner, lease_expires_at) VALUES ($1, $2, {expiry}) \
                 ON CONFLICT (name) DO UPDATE SET lease_owner = $2, lease_expires_at = {expiry} \
                 WHERE {free} RETURNING name"
            ),
            holder: format!(
                "SELECT lease_owner, lease_expires_at FROM {state} \
                 WHERE name = $1 AND lease_owner IS NOT NULL AND lease_owner <> $2 AND lease_expires_at > now()"
            ),
            release: format!(
                "UPDATE {state} SET lease_owner = NULL, lease_expires_at = NULL \
                 WHERE name = $1 AND lease_owner = $2"
            ),
            park: format!(
                "INSERT INTO {letters} ({LETTER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (projection, position) DO UPDATE SET stream_id = $3, version = $4, \
                 event_type = $5, event_id = $6, error = $7, attempts = $8, parked_at = $9"
            ),
            dead_letters: format!(
                "SELECT {LETTER_COLUMNS} FROM {letters} WHERE projection = $1 ORDER BY position"
            ),
            remove: format!("DELETE FROM {letters} WHERE projection = $1 AND position = $2"),
        }
    }
}

/// A [`ProjectionStateStore`] in PostgreSQL.
///
/// One row per projection in `<schema>.projection_state` (checkpoint,
/// counts, health and the lease, on the database's clock), parked events in
/// `<schema>.projection_dead_letters`. Every write is one statement that
/// also checks the lease. Call [`initialize`](ProjectionStateStore::initialize)
/// once: it applies [`PROJECTION_STATE_MIGRATIONS`] (idempotent, safe from
/// many processes).
///
/// ```no_run
/// use orchestrix::projection::{PostgreSQLProjectionStateStore, ProjectionEngine};
///
/// # async fn run() -> Result<(), orchestrix::projection::ProjectionStoreError> {
/// let states = PostgreSQLProjectionStateStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// let engine = ProjectionEngine::new("order-summary", states);
/// # drop(engine);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgreSQLProjectionStateStore {
    pool: PgPool,
    schema: SqlIdentifier,
    statements: std::sync::Arc<Statements>,
}

impl PostgreSQLProjectionStateStore {
    /// Connects with default pool settings, in the default schema.
    pub async fn connect(connection_string: &str) -> Result<Self, ProjectionStoreError> {
        let options = PostgresOptions::new(connection_string).map_err(from_postgres)?;
        Self::connect_with(options).await
    }

    /// Connects as `options` describe (pool sizes, timeouts, schema).
    pub async fn connect_with(options: PostgresOptions) -> Result<Self, ProjectionStoreError> {
        let pool = connect_pool(&options).await.map_err(from_postgres)?;
        Ok(Self::from_pool_in(pool, options.schema().clone()))
    }

    /// Uses an existing pool (e.g. the event store's), in the default schema.
    pub fn from_pool(pool: PgPool) -> Result<Self, ProjectionStoreError> {
        Self::from_pool_with_schema(pool, DEFAULT_SCHEMA)
    }

    /// Uses an existing pool, with the tables in `schema` (a plain identifier).
    pub fn from_pool_with_schema(pool: PgPool, schema: &str) -> Result<Self, ProjectionStoreError> {
        let schema = SqlIdentifier::new(schema).map_err(from_postgres)?;
        Ok(Self::from_pool_in(pool, schema))
    }

    fn from_pool_in(pool: PgPool, schema: SqlIdentifier) -> Self {
        Self {
            statements: std::sync::Arc::new(Statements::new(&schema)),
            pool,
            schema,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &SqlIdentifier {
        &self.schema
    }

    /// Saves `state` on `connection` (inside its transaction, if any),
    /// unless another owner holds the projection's lease.
    pub(super) async fn save_in(
        &self,
        connection: &mut PgConnection,
        state: &ProjectionState,
        owner: &str,
    ) -> Result<(), ProjectionStoreError> {
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
            .bind(state.updated_at)
            .execute(&mut *connection)
            .await
            .map_err(failed("save a projection state"))?;
        held(saved.rows_affected() == 1, &state.name, owner)
    }

    /// Parks `letter` on `connection` (inside its transaction, if any).
    pub(super) async fn park_in(
        &self,
        connection: &mut PgConnection,
        letter: &DeadLetter,
    ) -> Result<(), ProjectionStoreError> {
        sqlx::query(AssertSqlSafe(self.statements.park.as_str()))
            .bind(&letter.projection)
            .bind(to_sql(letter.position, "position")?)
            .bind(&letter.stream_id)
            .bind(to_sql(letter.version, "version")?)
            .bind(&letter.event_type)
            .bind(letter.event_id)
            .bind(&letter.error)
            .bind(attempts_to_sql(letter.attempts))
            .bind(letter.parked_at)
            .execute(&mut *connection)
            .await
            .map_err(failed("park an event"))?;
        Ok(())
    }

    /// Begins a transaction on the pool.
    pub(super) async fn begin(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ProjectionStoreError> {
        self.pool
            .begin()
            .await
            .map_err(failed("begin a projection transaction"))
    }

    async fn connection(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, ProjectionStoreError> {
        self.pool
            .acquire()
            .await
            .map_err(failed("connect to the projection state store"))
    }

    /// Who holds `projection`'s lease against `owner`, if someone else does.
    async fn holder(
        &self,
        projection: &str,
        owner: &str,
    ) -> Result<Option<(String, OffsetDateTime)>, ProjectionStoreError> {
        sqlx::query_as::<_, (String, OffsetDateTime)>(AssertSqlSafe(
            self.statements.holder.as_str(),
        ))
        .bind(projection)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look up a projection lease"))
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
            .map_err(failed("take a projection lease"))?
            .is_some())
    }
}

fn from_postgres(error: PostgresError) -> ProjectionStoreError {
    match error {
        PostgresError::Configuration(what) => ProjectionStoreError::Configuration(what),
        other => ProjectionStoreError::Backend {
            operation: "prepare the projection state schema".to_owned(),
            source: Box::new(other),
        },
    }
}

fn failed(operation: &'static str) -> impl FnOnce(sqlx::Error) -> ProjectionStoreError {
    move |error| ProjectionStoreError::Backend {
        operation: operation.to_owned(),
        source: Box::new(error),
    }
}

/// Rows as PostgreSQL returns them (`timestamptz` times).
type Row = StateRow<OffsetDateTime>;
type Letter = LetterRow<OffsetDateTime>;

fn same(at: OffsetDateTime) -> OffsetDateTime {
    at
}

#[async_trait::async_trait]
impl ProjectionStateStore for PostgreSQLProjectionStateStore {
    async fn initialize(&self) -> Result<(), ProjectionStoreError> {
        migrate(&self.pool, &self.schema, PROJECTION_STATE_MIGRATIONS)
            .await
            .map_err(from_postgres)
    }

    async fn load(
        &self,
        projection: &str,
    ) -> Result<Option<ProjectionState>, ProjectionStoreError> {
        sqlx::query_as::<_, Row>(AssertSqlSafe(self.statements.load.as_str()))
            .bind(projection)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("load a projection state"))?
            .map(|row| state_from_row(row, same))
            .transpose()
    }

    async fn save(&self, state: &ProjectionState, owner: &str) -> Result<(), ProjectionStoreError> {
        let mut connection = self.connection().await?;
        self.save_in(&mut connection, state, owner).await
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
        sqlx::query(AssertSqlSafe(self.statements.release.as_str()))
            .bind(projection)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(failed("release a projection lease"))?;
        Ok(())
    }

    async fn park(&self, letter: &DeadLetter) -> Result<(), ProjectionStoreError> {
        let mut connection = self.connection().await?;
        self.park_in(&mut connection, letter).await
    }

    async fn dead_letters(
        &self,
        projection: &str,
    ) -> Result<Vec<DeadLetter>, ProjectionStoreError> {
        sqlx::query_as::<_, Letter>(AssertSqlSafe(self.statements.dead_letters.as_str()))
            .bind(projection)
            .fetch_all(&self.pool)
            .await
            .map_err(failed("list parked events"))?
            .into_iter()
            .map(|row| letter_from_row(row, same))
            .collect()
    }

    async fn remove_dead_letter(
        &self,
        projection: &str,
        position: u64,
    ) -> Result<bool, ProjectionStoreError> {
        let removed = sqlx::query(AssertSqlSafe(self.statements.remove.as_str()))
            .bind(projection)
            .bind(to_sql(position, "position")?)
            .execute(&self.pool)
            .await
            .map_err(failed("remove a parked event"))?;
        Ok(removed.rows_affected() == 1)
    }
}
