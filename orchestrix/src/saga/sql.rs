//! What the SQL saga state stores (PostgreSQL, SQLite) share: the
//! statements, which differ only in their clock, table name and parameter
//! sign, and the lease protocol on top of them.
//!
//! Every transition is one `UPDATE` that checks the caller still holds the
//! lease and pushes its expiry, on the database's clock. Of two concurrent
//! acquirers one wins: on PostgreSQL the second waits for the row lock and
//! re-checks the `WHERE` clause on the new row (READ COMMITTED), on SQLite
//! the statement runs under the file's write lock from its read to its
//! write.

use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;

use super::error::SagaStoreError;
use super::state::{Lease, SagaState, SagaStatus};
use super::store::{CreateOutcome, LeaseOutcome, clamp_ttl};

/// The columns of a saga row, in the order the stores' rows read them.
pub(super) const COLUMNS: &str = "saga_id, saga_type, status, data, steps, error, \
                                  compensation_error, lease_owner, lease_expires_at, created_at, \
                                  updated_at";

/// The SQL of every operation.
///
/// Parameters: `1` saga id, `2` lease owner, `3` TTL in milliseconds, then
/// the state's columns.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) create: String,
    pub(super) select: String,
    pub(super) acquire: String,
    pub(super) save: String,
    pub(super) renew: String,
    pub(super) release: String,
    pub(super) unfinished: String,
}

impl Statements {
    /// The statements on `table`, with `now` the database's clock in the
    /// lease columns' unit, `expiry` now plus the TTL (`$3`) in that unit,
    /// and `sign` the parameter sign (`$` for PostgreSQL, `?` for SQLite).
    /// `now`, `expiry` and `table` write parameters as `$n`.
    pub(super) fn new(table: &str, now: &str, expiry: &str, sign: char) -> Self {
        let statements = Self {
            create: format!(
                "INSERT INTO {table} (saga_id, saga_type, status, data, steps, error, \
                 compensation_error, lease_owner, lease_expires_at, created_at, updated_at) \
                 VALUES ($1, $4, $5, $6, $7, $8, $9, $2, {expiry}, $10, $11) \
                 ON CONFLICT (saga_id) DO NOTHING RETURNING {COLUMNS}"
            ),
            select: format!("SELECT {COLUMNS} FROM {table} WHERE saga_id = $1"),
            acquire: format!(
                "UPDATE {table} SET lease_owner = $2, lease_expires_at = {expiry} \
                 WHERE saga_id = $1 AND (lease_owner IS NULL OR lease_owner = $2 \
                 OR lease_expires_at <= {now}) RETURNING {COLUMNS}"
            ),
            save: format!(
                "UPDATE {table} SET status = $4, data = $5, steps = $6, error = $7, \
                 compensation_error = $8, updated_at = $9, lease_expires_at = {expiry} \
                 WHERE saga_id = $1 AND lease_owner = $2"
            ),
            renew: format!(
                "UPDATE {table} SET lease_expires_at = {expiry} \
                 WHERE saga_id = $1 AND lease_owner = $2"
            ),
            release: format!(
                "UPDATE {table} SET lease_owner = NULL, lease_expires_at = NULL \
                 WHERE saga_id = $1 AND lease_owner = $2"
            ),
            unfinished: format!(
                "SELECT {COLUMNS} FROM {table} WHERE status IN ('running', 'compensating') \
                 ORDER BY created_at, saga_id"
            ),
        };
        if sign == '$' {
            return statements;
        }
        let sign = sign.to_string();
        let with_sign = |sql: String| sql.replace('$', &sign);
        Self {
            create: with_sign(statements.create),
            select: with_sign(statements.select),
            acquire: with_sign(statements.acquire),
            save: with_sign(statements.save),
            renew: with_sign(statements.renew),
            release: with_sign(statements.release),
            unfinished: with_sign(statements.unfinished),
        }
    }
}

/// A lease's TTL in whole milliseconds (at least 1), cut to the longest
/// lease a store grants.
pub(super) fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(clamp_ttl(ttl).as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

/// A stored status (`running`, ...).
pub(super) fn status(text: String, saga_id: &str) -> Result<SagaStatus, SagaStoreError> {
    serde_json::from_value::<SagaStatus>(serde_json::Value::String(text)).map_err(|source| {
        SagaStoreError::Malformed {
            saga_id: saga_id.to_owned(),
            source,
        }
    })
}

/// The lease a row's two lease columns hold, if any.
pub(super) fn lease(owner: Option<String>, expires_at: Option<OffsetDateTime>) -> Option<Lease> {
    match (owner, expires_at) {
        (Some(owner), Some(expires_at)) => Some(Lease { owner, expires_at }),
        _ => None,
    }
}

/// `create`'s outcome from the row the insert returned (`None`: a saga with
/// that id exists) and a `select` of the saga.
pub(super) async fn created(
    inserted: Option<SagaState>,
    saga_id: &str,
    select: impl Future<Output = Result<Option<SagaState>, SagaStoreError>>,
) -> Result<CreateOutcome, SagaStoreError> {
    match inserted {
        Some(state) => Ok(CreateOutcome::Created(state)),
        // Sagas are never deleted, so a conflicting row is still there.
        None => match select.await? {
            Some(existing) => Ok(CreateOutcome::Existing(existing)),
            None => Err(SagaStoreError::NotFound {
                saga_id: saga_id.to_owned(),
            }),
        },
    }
}

/// `acquire_lease` on top of a store's `acquire` (the conditional `UPDATE`:
/// the saga if it took the lease) and `select` (the saga as stored).
///
/// A lease released between the two is free again, so this tries again, a
/// few times.
pub(super) async fn acquire_lease<Acquire, Acquired, Select, Selected>(
    saga_id: &str,
    mut acquire: Acquire,
    mut select: Select,
) -> Result<LeaseOutcome, SagaStoreError>
where
    Acquire: FnMut() -> Acquired,
    Acquired: Future<Output = Result<Option<SagaState>, SagaStoreError>>,
    Select: FnMut() -> Selected,
    Selected: Future<Output = Result<Option<SagaState>, SagaStoreError>>,
{
    for _ in 0..3 {
        if let Some(state) = acquire().await? {
            return Ok(LeaseOutcome::Acquired(state));
        }
        match select().await? {
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

/// `Ok` when a write that needs the lease changed its row; else
/// `LeaseLost` if the saga exists (someone else holds it), or `NotFound`,
/// as `select` finds it.
pub(super) async fn held(
    written: bool,
    saga_id: &str,
    owner: &str,
    select: impl Future<Output = Result<Option<SagaState>, SagaStoreError>>,
) -> Result<(), SagaStoreError> {
    if written {
        return Ok(());
    }
    Err(match select.await {
        Ok(Some(_)) => SagaStoreError::LeaseLost {
            saga_id: saga_id.to_owned(),
            owner: owner.to_owned(),
        },
        Ok(None) => SagaStoreError::NotFound {
            saga_id: saga_id.to_owned(),
        },
        Err(error) => error,
    })
}
