//! Appends: one plain `INSERT ... SELECT` per append (see `statements`).
//!
//! The expected version is checked twice, by the statement itself: it
//! inserts only when the stream has reached the expected version (otherwise
//! it inserts nothing and draws no position), and the unique
//! `(stream_id, version)` constraint refuses it when another append got
//! there first. Both come back as a [`ConcurrencyError`] carrying the
//! stream's actual version, never as a database error.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgExecutor, Postgres, Row};

use super::encode::EventBatch;
use super::{PostgreSQLEventStore, to_i64, to_u64};
use crate::error::ConcurrencyError;
use crate::store::{AppendOutcome, StoreError};

/// How often an append without an expected version retries after another
/// append took the version it computed.
const ANY_VERSION_ATTEMPTS: u32 = 32;

impl PostgreSQLEventStore {
    /// Appends the encoded events of `batch` through `executor` (the pool,
    /// or a caller's transaction), once: a lost race is a
    /// [`ConcurrencyError`].
    pub(super) async fn append_once<'e>(
        &self,
        executor: impl PgExecutor<'e>,
        aggregate_id: &str,
        batch: &EventBatch<'_>,
        expected_version: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        let rows = match expected_version {
            Some(expected) => {
                self.insert_at(executor, aggregate_id, expected, batch)
                    .await
            }
            None => self.insert_any(executor, aggregate_id, batch).await,
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                let failure = self.failure(error, format!("append to stream `{aggregate_id}`"));
                return Err(failure.resolve(self, aggregate_id, expected_version).await);
            }
        };
        let Some(last) = rows.last() else {
            // The stream has not reached the expected version.
            let expected = expected_version.unwrap_or(0);
            return Err(ConcurrencyError {
                aggregate_id: aggregate_id.to_owned(),
                expected,
                actual: self.stream_version(aggregate_id).await?,
            }
            .into());
        };
        let new_version = match expected_version {
            Some(expected) => expected + batch.len() as u64,
            None => to_u64(last.try_get::<i64, _>(1).unwrap_or(0)),
        };
        let positions: Vec<u64> = rows
            .iter()
            .map(|row| to_u64(row.try_get::<i64, _>(0).unwrap_or(0)))
            .collect();
        Ok(AppendOutcome {
            new_version,
            positions,
        })
    }

    /// Appends at whatever version the stream is at, retrying (with the
    /// same encoded batch) when another append takes that version first.
    pub(super) async fn append_at_any_version(
        &self,
        aggregate_id: &str,
        batch: &EventBatch<'_>,
    ) -> Result<AppendOutcome, StoreError> {
        let mut attempt = 1;
        loop {
            match self
                .append_once(&self.pool, aggregate_id, batch, None)
                .await
            {
                Err(StoreError::Concurrency(_)) if attempt < ANY_VERSION_ATTEMPTS => attempt += 1,
                outcome => return outcome,
            }
        }
    }

    async fn insert_at<'e>(
        &self,
        executor: impl PgExecutor<'e>,
        aggregate_id: &str,
        expected: u64,
        batch: &EventBatch<'_>,
    ) -> Result<Vec<PgRow>, sqlx::Error> {
        if batch.len() == 1 {
            let query = sqlx::query(self.statements.append_one.clone())
                .bind(aggregate_id)
                .bind(to_i64(expected))
                .bind(batch.event_types[0])
                .bind(batch.schema_versions[0])
                .bind(&batch.payloads[0])
                .bind(&batch.contexts[0]);
            let query = match &batch.typed {
                Some(typed) => query
                    .bind(typed.event_ids[0])
                    .bind(typed.message_types[0])
                    .bind(typed.sources[0])
                    .bind(typed.times[0])
                    .bind(typed.subjects[0])
                    .bind(typed.datacontenttypes[0])
                    .bind(typed.dataschemas[0])
                    .bind(typed.correlation_ids[0])
                    .bind(typed.causation_ids[0]),
                None => query,
            };
            return query.fetch_all(executor).await;
        }
        let query = sqlx::query(self.statements.append_many.clone())
            .bind(aggregate_id)
            .bind(to_i64(expected));
        bind_columns(query, batch).fetch_all(executor).await
    }

    async fn insert_any<'e>(
        &self,
        executor: impl PgExecutor<'e>,
        aggregate_id: &str,
        batch: &EventBatch<'_>,
    ) -> Result<Vec<PgRow>, sqlx::Error> {
        let query = sqlx::query(self.statements.append_any.clone()).bind(aggregate_id);
        bind_columns(query, batch).fetch_all(executor).await
    }
}

/// Binds the batch's columns as arrays, in `statements::APPEND_COLUMNS`
/// order, then its typed columns, if any, in `statements::TYPED_COLUMNS`
/// order.
fn bind_columns<'q>(
    query: Query<'q, Postgres, PgArguments>,
    batch: &'q EventBatch<'_>,
) -> Query<'q, Postgres, PgArguments> {
    let query = query
        .bind(&batch.event_types)
        .bind(&batch.schema_versions)
        .bind(&batch.payloads)
        .bind(&batch.contexts);
    match &batch.typed {
        Some(typed) => query
            .bind(&typed.event_ids)
            .bind(&typed.message_types)
            .bind(&typed.sources)
            .bind(&typed.times)
            .bind(&typed.subjects)
            .bind(&typed.datacontenttypes)
            .bind(&typed.dataschemas)
            .bind(&typed.correlation_ids)
            .bind(&typed.causation_ids),
        None => query,
    }
}
