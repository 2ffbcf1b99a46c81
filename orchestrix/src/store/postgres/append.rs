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
        let appended = match expected_version {
            Some(expected) => {
                self.insert_at(executor, aggregate_id, expected, batch)
                    .await
            }
            None => self.insert_any(executor, aggregate_id, batch).await,
        };
        let appended = match appended {
            Ok(appended) => appended,
            Err(error) => {
                let failure = self.failure(error, format!("append to stream `{aggregate_id}`"));
                return Err(failure.resolve(self, aggregate_id, expected_version).await);
            }
        };
        let Some(Appended {
            positions,
            new_version,
        }) = appended
        else {
            // The stream has not reached the expected version.
            let expected = expected_version.unwrap_or(0);
            return Err(ConcurrencyError {
                aggregate_id: aggregate_id.to_owned(),
                expected,
                actual: self.stream_version(aggregate_id).await?,
            }
            .into());
        };
        Ok(AppendOutcome {
            new_version,
            positions: positions.into_iter().map(to_u64).collect(),
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
    ) -> Result<Option<Appended>, sqlx::Error> {
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
            let row = query.fetch_optional(executor).await?;
            return row
                .map(|row| {
                    Ok(Appended {
                        positions: vec![row.try_get(0)?],
                        new_version: expected + 1,
                    })
                })
                .transpose();
        }
        let query = sqlx::query(self.statements.append_many.clone())
            .bind(aggregate_id)
            .bind(to_i64(expected));
        let row = bind_columns(query, batch).fetch_one(executor).await?;
        Appended::at_expected_version(&row, expected + batch.len() as u64)
    }

    async fn insert_any<'e>(
        &self,
        executor: impl PgExecutor<'e>,
        aggregate_id: &str,
        batch: &EventBatch<'_>,
    ) -> Result<Option<Appended>, sqlx::Error> {
        let query = sqlx::query(self.statements.append_any.clone()).bind(aggregate_id);
        let row = bind_columns(query, batch).fetch_one(executor).await?;
        Appended::at_any_version(&row)
    }
}

/// What an append statement inserted: the positions, in version order, and
/// the stream's new version.
struct Appended {
    positions: Vec<i64>,
    new_version: u64,
}

impl Appended {
    /// The one row `append_many` returns, for a batch appended at the
    /// expected version, which makes the stream's version `new_version`:
    /// `None` when it inserted nothing (NULL positions: the stream has not
    /// reached the expected version).
    fn at_expected_version(row: &PgRow, new_version: u64) -> Result<Option<Self>, sqlx::Error> {
        let positions: Option<Vec<i64>> = row.try_get(0)?;
        Ok(positions.map(|positions| Self {
            positions,
            new_version,
        }))
    }

    /// The one row `append_any` returns: the positions and the stream's new
    /// version, both NULL when it inserted nothing (which it does only when
    /// the batch is empty, and an empty batch never reaches it). Positions
    /// without a version would be a broken statement: a decode error, not
    /// a guessed version.
    fn at_any_version(row: &PgRow) -> Result<Option<Self>, sqlx::Error> {
        let Some(positions) = row.try_get::<Option<Vec<i64>>, _>(0)? else {
            return Ok(None);
        };
        let new_version = row.try_get::<Option<i64>, _>(1)?.ok_or_else(|| {
            sqlx::Error::Decode(
                "an append at any version returned positions but no new version".into(),
            )
        })?;
        Ok(Some(Self {
            positions,
            new_version: to_u64(new_version),
        }))
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
