//! [`SqliteSagaStateStore`]: saga state in a SQLite file (feature
//! `sqlite`), one row per saga, leases taken with conditional UPDATEs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;

use super::checks;
use super::error::SagaStoreError;
use super::sql::{self, Statements, ttl_millis};
use super::state::SagaState;
use super::store::{CreateOutcome, LeaseOutcome, SagaStateStore};
use crate::migration::Migration;
use crate::sqlite::{NOW_MS, SqliteError, SqliteOptions, connect_pool, migrate};
use crate::store::sqlite::{nanos, time_from_nanos};

/// The saga state store's SQLite migrations (versions `100..200`).
pub const SQLITE_SAGA_STATE_MIGRATIONS: &[Migration] = &[Migration::new(
    100,
    "saga state",
    include_str!("../../migrations/sqlite/0100_saga_state.sql"),
)];

/// A [`SagaStateStore`] in a SQLite file.
///
/// One row per saga in the `saga_state` table; every transition is one
/// `UPDATE` that also checks the caller still holds the lease and pushes its
/// expiry, both on the clock SQLite reads when the statement runs (the
/// machine's clock, shared by every process using the file). It can share a
/// file, and a pool, with [`SqliteEventStore`](crate::store::sqlite::SqliteEventStore).
///
/// ```
/// use std::sync::Arc;
/// use orchestrix::saga::{SagaStateStore, SqliteSagaStateStore};
///
/// # async fn run() -> Result<(), orchestrix::saga::SagaStoreError> {
/// // A file: `SqliteSagaStateStore::connect("sqlite://app.db")`.
/// let store = SqliteSagaStateStore::connect("sqlite::memory:").await?;
/// let store: Arc<dyn SagaStateStore> = Arc::new(store);
/// assert!(store.unfinished().await?.is_empty());
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteSagaStateStore {
    pool: SqlitePool,
    path: Arc<Path>,
    statements: Arc<Statements>,
}

impl SqliteSagaStateStore {
    /// Opens `connection_string` (`sqlite://app.db`, `sqlite::memory:`) with
    /// the default options and migrates it.
    pub async fn connect(connection_string: &str) -> Result<Self, SagaStoreError> {
        let options = SqliteOptions::new(connection_string)
            .map_err(|error| error.into_saga_error("connect", "-"))?;
        Self::connect_with(options).await
    }

    /// Opens the database as `options` describe and migrates it.
    pub async fn connect_with(options: SqliteOptions) -> Result<Self, SagaStoreError> {
        let pool = connect_pool(&options)
            .await
            .map_err(|error| error.into_saga_error("connect", "-"))?;
        let store = Self::from_pool(pool);
        store.initialize().await?;
        Ok(store)
    }

    /// Uses an existing pool (e.g. the event store's); call
    /// [`initialize`](SagaStateStore::initialize) before use.
    pub fn from_pool(pool: SqlitePool) -> Self {
        let path = Arc::from(pool.connect_options().get_filename());
        Self {
            pool,
            path,
            statements: Arc::new(Statements::new(
                "saga_state",
                NOW_MS,
                &format!("{NOW_MS} + $3"),
                '?',
            )),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn failed(
        &self,
        operation: &'static str,
        saga_id: &str,
    ) -> impl FnOnce(sqlx::Error) -> SagaStoreError + '_ {
        let saga_id = saga_id.to_owned();
        move |error| {
            SqliteError::from_sqlx(error, &self.path, operation)
                .into_saga_error(operation, &saga_id)
        }
    }

    async fn select(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError> {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(self.statements.select.as_str()))
            .bind(saga_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed("load a saga", saga_id))?
            .map(Row::into_state)
            .transpose()
    }

    /// Takes the lease if it is free, expired or `owner`'s: the saga, if
    /// it did.
    async fn try_acquire(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<SagaState>, SagaStoreError> {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(self.statements.acquire.as_str()))
            .bind(saga_id)
            .bind(owner)
            .bind(ttl_millis(ttl))
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed("acquire a saga lease", saga_id))?
            .map(Row::into_state)
            .transpose()
    }
}

fn json<T: serde::Serialize>(value: &T, saga_id: &str) -> Result<String, SagaStoreError> {
    serde_json::to_string(value).map_err(|source| SagaStoreError::Malformed {
        saga_id: saga_id.to_owned(),
        source,
    })
}

/// One `saga_state` row.
#[derive(sqlx::FromRow)]
struct Row {
    saga_id: String,
    saga_type: String,
    status: String,
    data: String,
    steps: String,
    error: Option<String>,
    compensation_error: Option<String>,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_state(self) -> Result<SagaState, SagaStoreError> {
        let malformed = |source| SagaStoreError::Malformed {
            saga_id: self.saga_id.clone(),
            source,
        };
        let data = serde_json::from_str(&self.data).map_err(malformed)?;
        let steps = serde_json::from_str(&self.steps).map_err(malformed)?;
        let status = sql::status(self.status, &self.saga_id)?;
        let lease = sql::lease(
            self.lease_owner,
            self.lease_expires_at
                .map(|millis| time_from_nanos(millis.saturating_mul(1_000_000))),
        );
        Ok(SagaState {
            saga_id: self.saga_id,
            saga_type: self.saga_type,
            status,
            data,
            steps,
            error: self.error,
            compensation_error: self.compensation_error,
            lease,
            created_at: time_from_nanos(self.created_at),
            updated_at: time_from_nanos(self.updated_at),
        })
    }
}

#[async_trait::async_trait]
impl SagaStateStore for SqliteSagaStateStore {
    async fn ping(&self) -> Result<(), SagaStoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(self.failed("answer a ping", "-"))
    }

    async fn initialize(&self) -> Result<(), SagaStoreError> {
        migrate(&self.pool, &self.path, SQLITE_SAGA_STATE_MIGRATIONS)
            .await
            .map_err(|error| error.into_saga_error("prepare the saga state schema", "-"))
    }

    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        checks::state(state, owner)?;
        let inserted =
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(self.statements.create.as_str()))
                .bind(&state.saga_id)
                .bind(owner)
                .bind(ttl_millis(ttl))
                .bind(&state.saga_type)
                .bind(state.status.as_str())
                .bind(json(&state.data, &state.saga_id)?)
                .bind(json(&state.steps, &state.saga_id)?)
                .bind(&state.error)
                .bind(&state.compensation_error)
                .bind(nanos(state.created_at))
                .bind(nanos(state.updated_at))
                .fetch_optional(&self.pool)
                .await
                .map_err(self.failed("create a saga", &state.saga_id))?;
        let inserted = inserted.map(Row::into_state).transpose()?;
        sql::created(inserted, &state.saga_id, self.select(&state.saga_id)).await
    }

    async fn load(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError> {
        checks::saga_id(saga_id)?;
        self.select(saga_id).await
    }

    async fn acquire_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        sql::acquire_lease(
            saga_id,
            || self.try_acquire(saga_id, owner, ttl),
            || self.select(saga_id),
        )
        .await
    }

    async fn save(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        checks::state(state, owner)?;
        let updated = sqlx::query(sqlx::AssertSqlSafe(self.statements.save.as_str()))
            .bind(&state.saga_id)
            .bind(owner)
            .bind(ttl_millis(ttl))
            .bind(state.status.as_str())
            .bind(json(&state.data, &state.saga_id)?)
            .bind(json(&state.steps, &state.saga_id)?)
            .bind(&state.error)
            .bind(&state.compensation_error)
            .bind(nanos(state.updated_at))
            .execute(&self.pool)
            .await
            .map_err(self.failed("save a saga", &state.saga_id))?;
        sql::held(
            updated.rows_affected() == 1,
            &state.saga_id,
            owner,
            self.select(&state.saga_id),
        )
        .await
    }

    async fn renew_lease(
        &self,
        saga_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<(), SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        let updated = sqlx::query(sqlx::AssertSqlSafe(self.statements.renew.as_str()))
            .bind(saga_id)
            .bind(owner)
            .bind(ttl_millis(ttl))
            .execute(&self.pool)
            .await
            .map_err(self.failed("renew a saga lease", saga_id))?;
        sql::held(
            updated.rows_affected() == 1,
            saga_id,
            owner,
            self.select(saga_id),
        )
        .await
    }

    async fn release_lease(&self, saga_id: &str, owner: &str) -> Result<(), SagaStoreError> {
        checks::saga_id(saga_id)?;
        checks::owner(owner)?;
        sqlx::query(sqlx::AssertSqlSafe(self.statements.release.as_str()))
            .bind(saga_id)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(self.failed("release a saga lease", saga_id))?;
        Ok(())
    }

    async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError> {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(self.statements.unfinished.as_str()))
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("list unfinished sagas", "-"))?
            .into_iter()
            .map(Row::into_state)
            .collect()
    }
}
