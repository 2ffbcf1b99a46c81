//! [`SqliteSagaStateStore`]: saga state in a SQLite file (feature
//! `sqlite`), one row per saga, leases taken with conditional UPDATEs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;

use super::checks;
use super::error::SagaStoreError;
use super::state::{Lease, SagaState, SagaStatus};
use super::store::{CreateOutcome, LeaseOutcome, SagaStateStore, clamp_ttl};
use crate::migration::Migration;
use crate::sqlite::{NOW_MS, SqliteError, SqliteOptions, connect_pool, migrate};
use crate::store::sqlite::{nanos, time_from_nanos};

/// The saga state store's SQLite migrations (versions `100..200`).
pub const SQLITE_SAGA_STATE_MIGRATIONS: &[Migration] = &[Migration::new(
    100,
    "saga state",
    include_str!("../../migrations/sqlite/0100_saga_state.sql"),
)];

const COLUMNS: &str = "saga_id, saga_type, status, data, steps, error, compensation_error, \
                       lease_owner, lease_expires_at, created_at, updated_at";

/// The SQL of every operation.
#[derive(Debug)]
struct Statements {
    create: String,
    select: String,
    acquire: String,
    save: String,
    renew: String,
    release: String,
    unfinished: String,
}

impl Statements {
    fn new() -> Self {
        // ?3 is the TTL in milliseconds.
        let expiry = format!("{NOW_MS} + ?3");
        Self {
            create: format!(
                "INSERT INTO saga_state (saga_id, saga_type, status, data, steps, error, compensation_error, \
                 lease_owner, lease_expires_at, created_at, updated_at) \
                 VALUES (?1, ?4, ?5, ?6, ?7, ?8, ?9, ?2, {expiry}, ?10, ?11) \
                 ON CONFLICT (saga_id) DO NOTHING RETURNING {COLUMNS}"
            ),
            select: format!("SELECT {COLUMNS} FROM saga_state WHERE saga_id = ?1"),
            // One statement takes the write lock, checks and updates: of two
            // concurrent acquirers the second sees the first one's lease.
            acquire: format!(
                "UPDATE saga_state SET lease_owner = ?2, lease_expires_at = {expiry} \
                 WHERE saga_id = ?1 AND (lease_owner IS NULL OR lease_owner = ?2 \
                 OR lease_expires_at <= {NOW_MS}) RETURNING {COLUMNS}"
            ),
            save: format!(
                "UPDATE saga_state SET status = ?4, data = ?5, steps = ?6, error = ?7, \
                 compensation_error = ?8, updated_at = ?9, lease_expires_at = {expiry} \
                 WHERE saga_id = ?1 AND lease_owner = ?2"
            ),
            renew: format!(
                "UPDATE saga_state SET lease_expires_at = {expiry} WHERE saga_id = ?1 AND lease_owner = ?2"
            ),
            release: "UPDATE saga_state SET lease_owner = NULL, lease_expires_at = NULL \
                      WHERE saga_id = ?1 AND lease_owner = ?2"
                .to_owned(),
            unfinished: format!(
                "SELECT {COLUMNS} FROM saga_state WHERE status IN ('running', 'compensating') \
                 ORDER BY created_at, saga_id"
            ),
        }
    }
}

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
            statements: Arc::new(Statements::new()),
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

    /// `LeaseLost` if the saga exists (someone else holds it), else `NotFound`.
    async fn not_held(&self, saga_id: &str, owner: &str) -> SagaStoreError {
        match self.select(saga_id).await {
            Ok(Some(_)) => SagaStoreError::LeaseLost {
                saga_id: saga_id.to_owned(),
                owner: owner.to_owned(),
            },
            Ok(None) => SagaStoreError::NotFound {
                saga_id: saga_id.to_owned(),
            },
            Err(error) => error,
        }
    }
}

fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(clamp_ttl(ttl).as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
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
        let status =
            serde_json::from_value::<SagaStatus>(serde_json::Value::String(self.status.clone()))
                .map_err(malformed)?;
        let data = serde_json::from_str(&self.data).map_err(malformed)?;
        let steps = serde_json::from_str(&self.steps).map_err(malformed)?;
        let lease = match (self.lease_owner, self.lease_expires_at) {
            (Some(owner), Some(expires_at)) => Some(Lease {
                owner,
                expires_at: time_from_nanos(expires_at.saturating_mul(1_000_000)),
            }),
            _ => None,
        };
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
        match inserted {
            Some(row) => Ok(CreateOutcome::Created(row.into_state()?)),
            // Sagas are never deleted, so a conflicting row is still there.
            None => match self.select(&state.saga_id).await? {
                Some(existing) => Ok(CreateOutcome::Existing(existing)),
                None => Err(SagaStoreError::NotFound {
                    saga_id: state.saga_id.clone(),
                }),
            },
        }
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
        // A lease released between the UPDATE and the SELECT is free again:
        // try once more.
        for _ in 0..3 {
            let acquired =
                sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(self.statements.acquire.as_str()))
                    .bind(saga_id)
                    .bind(owner)
                    .bind(ttl_millis(ttl))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(self.failed("acquire a saga lease", saga_id))?;
            if let Some(row) = acquired {
                return Ok(LeaseOutcome::Acquired(row.into_state()?));
            }
            match self.select(saga_id).await? {
                None => return Ok(LeaseOutcome::NotFound),
                Some(SagaState {
                    lease: Some(lease), ..
                }) => {
                    return Ok(LeaseOutcome::Held {
                        owner: lease.owner,
                        expires_at: lease.expires_at,
                    });
                }
                Some(_) => continue,
            }
        }
        Err(SagaStoreError::Backend {
            operation: "acquire a saga lease",
            saga_id: saga_id.to_owned(),
            source: "the lease kept changing hands".into(),
        })
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
        if updated.rows_affected() == 1 {
            Ok(())
        } else {
            Err(self.not_held(&state.saga_id, owner).await)
        }
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
        if updated.rows_affected() == 1 {
            Ok(())
        } else {
            Err(self.not_held(saga_id, owner).await)
        }
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
