//! [`PostgreSQLSagaStateStore`]: saga state in PostgreSQL (feature
//! `postgres`), one row per saga, leases taken with conditional UPDATEs.

use std::time::Duration;

use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};
use time::OffsetDateTime;

use super::checks;
use super::error::SagaStoreError;
use super::sql::{self, Statements, ttl_millis};
use super::state::{SagaState, StepState};
use super::store::{CreateOutcome, LeaseOutcome, SagaStateStore};
use crate::postgres::{
    ConnectGate, DEFAULT_SCHEMA, Migration, PostgresError, PostgresOptions, SqlIdentifier,
    connect_pool, describe_target, is_connection_error, migrate,
};

/// The saga state store's migrations (versions `100..200`).
pub const SAGA_STATE_MIGRATIONS: &[Migration] = &[Migration::new(
    100,
    "saga state",
    include_str!("../../migrations/0100_saga_state.sql"),
)];

/// A [`SagaStateStore`] in PostgreSQL.
///
/// One row per saga in `<schema>.saga_state`; every transition is one
/// `UPDATE` that also checks the caller still holds the lease and pushes
/// its expiry (on the database's clock, so processes need not agree on
/// time). Call [`initialize`](SagaStateStore::initialize) once: it applies
/// [`SAGA_STATE_MIGRATIONS`] (idempotent, safe from many processes).
///
/// ```no_run
/// use std::sync::Arc;
/// use orchestrix::saga::{PostgreSQLSagaStateStore, SagaStateStore};
///
/// # async fn run() -> Result<(), orchestrix::saga::SagaStoreError> {
/// let store = PostgreSQLSagaStateStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// store.initialize().await?;
/// let store: Arc<dyn SagaStateStore> = Arc::new(store);
/// # drop(store);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgreSQLSagaStateStore {
    pool: PgPool,
    schema: SqlIdentifier,
    statements: std::sync::Arc<Statements>,
    target: String,
    gate: std::sync::Arc<ConnectGate>,
}

impl PostgreSQLSagaStateStore {
    /// Connects with default pool settings, in the default schema.
    pub async fn connect(connection_string: &str) -> Result<Self, SagaStoreError> {
        let options = PostgresOptions::new(connection_string).map_err(from_postgres)?;
        Self::connect_with(options).await
    }

    /// Connects as `options` describe (pool sizes, timeouts, schema).
    pub async fn connect_with(options: PostgresOptions) -> Result<Self, SagaStoreError> {
        let pool = connect_pool(&options).await.map_err(from_postgres)?;
        let store = Self::from_pool_in(pool, options.schema().clone());
        Ok(Self {
            gate: std::sync::Arc::new(ConnectGate::new(&options)),
            ..store
        })
    }

    /// Uses an existing pool (e.g. the event store's), in the default schema.
    pub fn from_pool(pool: PgPool) -> Result<Self, SagaStoreError> {
        Self::from_pool_with_schema(pool, DEFAULT_SCHEMA)
    }

    /// Uses an existing pool, with the table in `schema` (a plain identifier).
    pub fn from_pool_with_schema(pool: PgPool, schema: &str) -> Result<Self, SagaStoreError> {
        let schema = SqlIdentifier::new(schema).map_err(from_postgres)?;
        Ok(Self::from_pool_in(pool, schema))
    }

    fn from_pool_in(pool: PgPool, schema: SqlIdentifier) -> Self {
        let target = describe_target(&pool.connect_options());
        Self {
            statements: std::sync::Arc::new(Statements::new(
                &format!("{}.saga_state", schema.quoted()),
                "now()",
                "now() + $3::bigint * interval '1 millisecond'",
                '$',
            )),
            gate: std::sync::Arc::new(ConnectGate::for_pool(&pool)),
            pool,
            schema,
            target,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the table lives in.
    pub fn schema(&self) -> &SqlIdentifier {
        &self.schema
    }

    /// Fails fast (as unavailable) when the pool would have to open a
    /// connection and the server refuses it; see [`ConnectGate`].
    async fn reachable(&self, operation: &'static str) -> Result<(), SagaStoreError> {
        self.gate
            .check(&self.pool)
            .await
            .map_err(from_postgres_during(operation))
    }

    fn failed(
        &self,
        operation: &'static str,
        saga_id: &str,
    ) -> impl FnOnce(sqlx::Error) -> SagaStoreError + '_ {
        let saga_id = saga_id.to_owned();
        move |error| {
            if is_connection_error(&error) {
                self.gate.connection_lost();
                SagaStoreError::Unavailable {
                    operation,
                    target: self.target.clone(),
                    source: Box::new(error),
                }
            } else {
                SagaStoreError::Backend {
                    operation,
                    saga_id,
                    source: Box::new(error),
                }
            }
        }
    }

    async fn select(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError> {
        sqlx::query_as::<_, Row>(AssertSqlSafe(self.statements.select.as_str()))
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
        sqlx::query_as::<_, Row>(AssertSqlSafe(self.statements.acquire.as_str()))
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

fn from_postgres(error: PostgresError) -> SagaStoreError {
    match error {
        PostgresError::Configuration(what) => SagaStoreError::Configuration(what),
        PostgresError::Unavailable { target, source } => SagaStoreError::Unavailable {
            operation: "connect",
            target,
            source,
        },
        other => SagaStoreError::Backend {
            operation: "prepare the saga state schema",
            saga_id: "-".into(),
            source: Box::new(other),
        },
    }
}

/// As [`from_postgres`], naming `operation` when the server is unreachable.
fn from_postgres_during(operation: &'static str) -> impl FnOnce(PostgresError) -> SagaStoreError {
    move |error| match error {
        PostgresError::Unavailable { target, source } => SagaStoreError::Unavailable {
            operation,
            target,
            source,
        },
        other => from_postgres(other),
    }
}

/// One `saga_state` row, decoded straight from the wire (steps and data
/// from JSONB bytes).
#[derive(sqlx::FromRow)]
struct Row {
    saga_id: String,
    saga_type: String,
    status: String,
    data: Json<serde_json::Value>,
    steps: Json<Vec<StepState>>,
    error: Option<String>,
    compensation_error: Option<String>,
    lease_owner: Option<String>,
    lease_expires_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl Row {
    fn into_state(self) -> Result<SagaState, SagaStoreError> {
        let status = sql::status(self.status, &self.saga_id)?;
        let lease = sql::lease(self.lease_owner, self.lease_expires_at);
        Ok(SagaState {
            saga_id: self.saga_id,
            saga_type: self.saga_type,
            status,
            data: self.data.0,
            steps: self.steps.0,
            error: self.error,
            compensation_error: self.compensation_error,
            lease,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[async_trait::async_trait]
impl SagaStateStore for PostgreSQLSagaStateStore {
    async fn ping(&self) -> Result<(), SagaStoreError> {
        crate::postgres::ping(&self.pool, &self.gate)
            .await
            .map_err(from_postgres_during("answer a ping"))
    }

    async fn initialize(&self) -> Result<(), SagaStoreError> {
        migrate(&self.pool, &self.schema, SAGA_STATE_MIGRATIONS)
            .await
            .map_err(from_postgres)
    }

    async fn create(
        &self,
        state: &SagaState,
        owner: &str,
        ttl: Duration,
    ) -> Result<CreateOutcome, SagaStoreError> {
        checks::state(state, owner)?;
        self.reachable("create a saga").await?;
        let inserted = sqlx::query_as::<_, Row>(AssertSqlSafe(self.statements.create.as_str()))
            .bind(&state.saga_id)
            .bind(owner)
            .bind(ttl_millis(ttl))
            .bind(&state.saga_type)
            .bind(state.status.as_str())
            .bind(Json(&state.data))
            .bind(Json(&state.steps))
            .bind(&state.error)
            .bind(&state.compensation_error)
            .bind(state.created_at)
            .bind(state.updated_at)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.failed("create a saga", &state.saga_id))?;
        let inserted = inserted.map(Row::into_state).transpose()?;
        sql::created(inserted, &state.saga_id, self.select(&state.saga_id)).await
    }

    async fn load(&self, saga_id: &str) -> Result<Option<SagaState>, SagaStoreError> {
        checks::saga_id(saga_id)?;
        self.reachable("load a saga").await?;
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
        self.reachable("acquire a saga lease").await?;
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
        self.reachable("save a saga").await?;
        let updated = sqlx::query(AssertSqlSafe(self.statements.save.as_str()))
            .bind(&state.saga_id)
            .bind(owner)
            .bind(ttl_millis(ttl))
            .bind(state.status.as_str())
            .bind(Json(&state.data))
            .bind(Json(&state.steps))
            .bind(&state.error)
            .bind(&state.compensation_error)
            .bind(state.updated_at)
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
        self.reachable("renew a saga lease").await?;
        let updated = sqlx::query(AssertSqlSafe(self.statements.renew.as_str()))
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
        self.reachable("release a saga lease").await?;
        sqlx::query(AssertSqlSafe(self.statements.release.as_str()))
            .bind(saga_id)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(self.failed("release a saga lease", saga_id))?;
        Ok(())
    }

    async fn unfinished(&self) -> Result<Vec<SagaState>, SagaStoreError> {
        self.reachable("list unfinished sagas").await?;
        sqlx::query_as::<_, Row>(AssertSqlSafe(self.statements.unfinished.as_str()))
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("list unfinished sagas", "-"))?
            .into_iter()
            .map(Row::into_state)
            .collect()
    }
}
