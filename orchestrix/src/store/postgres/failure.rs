//! Turning driver errors into [`StoreError`]s that say what and where.

use sqlx::PgPool;

use super::PostgreSQLEventStore;
use crate::error::ConcurrencyError;
use crate::postgres::{ConnectGate, evict_broken_connections, is_connection_error};
use crate::store::StoreError;

/// SQLSTATE `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";

/// The constraint that makes a second event at one stream version
/// impossible (named in migration 0001).
const STREAM_VERSION_CONSTRAINT: &str = "events_stream_version_key";

/// A failed call, not yet classified.
pub(super) struct Failure<'a> {
    pool: &'a PgPool,
    gate: &'a ConnectGate,
    target: &'a str,
    error: sqlx::Error,
    operation: String,
}

impl<'a> Failure<'a> {
    pub(super) fn new(
        pool: &'a PgPool,
        gate: &'a ConnectGate,
        target: &'a str,
        error: sqlx::Error,
        operation: String,
    ) -> Self {
        Self {
            pool,
            gate,
            target,
            error,
            operation,
        }
    }

    /// The error for the caller. After a lost connection, first tells the
    /// gate the connection was lost and closes the pool's other broken
    /// connections, so that the next call finds out afresh.
    pub(super) async fn report(self) -> StoreError {
        if is_connection_error(&self.error) {
            self.gate.connection_lost();
            evict_broken_connections(self.pool).await;
            return StoreError::Unavailable {
                target: self.target.to_owned(),
                source: Box::new(self.error),
            };
        }
        StoreError::Backend {
            operation: self.operation,
            source: Box::new(self.error),
        }
    }

    /// As [`report`](Self::report) for an append: a duplicate stream
    /// version (SQLSTATE 23505 on `events_stream_version_key`: another
    /// append took the version first) is a [`ConcurrencyError`] with the
    /// stream's actual version.
    pub(super) async fn resolve(
        self,
        store: &PostgreSQLEventStore,
        aggregate_id: &str,
        expected_version: Option<u64>,
    ) -> StoreError {
        if !is_version_conflict(&self.error) {
            return self.report().await;
        }
        match store.stream_version(aggregate_id).await {
            Ok(actual) => ConcurrencyError {
                aggregate_id: aggregate_id.to_owned(),
                expected: expected_version.unwrap_or(actual.saturating_sub(1)),
                actual,
            }
            .into(),
            Err(error) => error,
        }
    }
}

/// Whether `error` is the unique violation of the stream-version
/// constraint, recognised by SQLSTATE and constraint name (never by the
/// message text).
pub(super) fn is_version_conflict(error: &sqlx::Error) -> bool {
    let Some(database) = error.as_database_error() else {
        return false;
    };
    database.code().as_deref() == Some(UNIQUE_VIOLATION)
        && database.constraint() == Some(STREAM_VERSION_CONSTRAINT)
}
