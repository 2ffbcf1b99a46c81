//! [`SqliteEventStore::rewrite_to_current`]: old rows rewritten in place to
//! their current name and schema version (the batch loop is shared with
//! PostgreSQL: `evolution::sql_rewrite`).

use sqlx::{Sqlite, Transaction};

use super::SqliteEventStore;
use super::decode;
use super::turn::WriteTurn;
use crate::evolution::{
    CurrentForm, RewriteOptions, RewriteReport, RewriteTarget, StoredColumns, StoredRow,
    rewrite_in_batches,
};
use crate::store::StoreError;
use crate::store::context::record::RowHead;

const SELECT: &str = "SELECT position, stream_id, version, event_type, schema_version, payload \
                      FROM events WHERE position > ?1 ORDER BY position LIMIT ?2";

/// What a row stores of its metadata and time, in the one column a load
/// reads it from (`statements::event_columns!`'s last).
const STORED_CONTEXT: &str = "SELECT coalesce(load_record, context, recorded_at || ' ' || metadata) \
     FROM events WHERE position = ?1";

/// The row in its current form, with a new load record (`?7`) when one
/// could be built, which the context column then no longer repeats; with
/// `?7` NULL the record is kept, and the trigger of migration 4 drops it
/// (the row is left in the older form).
const UPDATE: &str = "UPDATE events SET event_type = ?1, schema_version = ?2, payload = ?3, \
                      load_record = coalesce(?7, load_record), \
                      context = CASE WHEN ?7 IS NULL THEN context END \
                      WHERE position = ?4 AND event_type = ?5 AND schema_version = ?6";

impl SqliteEventStore {
    /// Rewrites every stored event at an older schema version or under a
    /// former name to its current form, in batches of `batch_size` rows
    /// (one `BEGIN IMMEDIATE` transaction each); the same rules and report
    /// as PostgreSQL's
    /// [`rewrite_to_current`](crate::store::postgres::PostgreSQLEventStore::rewrite_to_current):
    /// resumable from [`RewriteReport::last_position`], safe to run again,
    /// splits and drops kept, nothing written in a `dry_run`.
    pub async fn rewrite_to_current(
        &self,
        options: &RewriteOptions,
    ) -> Result<RewriteReport, StoreError> {
        rewrite_in_batches(self, options).await
    }
}

/// A rewrite batch's transaction, and its turn in the store's write queue
/// (held until the batch commits or is dropped; none for a dry run).
pub(crate) struct Batch {
    tx: Transaction<'static, Sqlite>,
    _turn: Option<WriteTurn>,
}

#[async_trait::async_trait]
impl RewriteTarget for SqliteEventStore {
    type Batch = Batch;

    async fn begin(&self, dry_run: bool, operation: &str) -> Result<Self::Batch, StoreError> {
        // A dry run only reads; a rewrite queues with the store's other
        // writes (up to the busy timeout), then takes the file's write lock
        // first (SQLite waiting up to the whole busy timeout again: the
        // batch's transaction is the pool's own).
        let turn = if dry_run {
            None
        } else {
            Some(
                self.write_queue
                    .turn(&self.path, || operation.to_owned())
                    .await?,
            )
        };
        let tx = self
            .pool
            .begin_with(if dry_run { "BEGIN" } else { "BEGIN IMMEDIATE" })
            .await
            .map_err(|error| self.failed(error, operation.to_owned()))?;
        Ok(Batch { tx, _turn: turn })
    }

    async fn rows(
        &self,
        batch: &mut Self::Batch,
        after: i64,
        limit: i64,
        operation: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let rows = sqlx::query_as::<_, StoredColumns>(SELECT)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *batch.tx)
            .await
            .map_err(|error| self.failed(error, operation.to_owned()))?;
        Ok(rows.into_iter().map(StoredRow::from).collect())
    }

    async fn update(
        &self,
        batch: &mut Self::Batch,
        row: &StoredRow,
        current: CurrentForm,
        operation: &str,
    ) -> Result<(), StoreError> {
        // The row's load record, rebuilt for its new form: a rewritten
        // row loads by record as it did before (from any of the forms it
        // may be stored in).
        let stored = sqlx::query(STORED_CONTEXT)
            .bind(row.position)
            .fetch_one(&mut *batch.tx)
            .await
            .map_err(|error| self.failed(error, operation.to_owned()))?;
        let record = decode::rebuilt_record(
            &stored,
            RowHead {
                version: u64::try_from(row.version).unwrap_or(0),
                position: u64::try_from(row.position).unwrap_or(0),
                schema_version: u32::try_from(row.schema_version).unwrap_or(0),
                event_type: &row.event_type,
            },
            current.schema_version,
            current.event_type,
        );
        sqlx::query(UPDATE)
            .bind(current.event_type)
            .bind(i64::from(current.schema_version))
            .bind(current.payload)
            .bind(row.position)
            .bind(&row.event_type)
            .bind(row.schema_version)
            .bind(record)
            .execute(&mut *batch.tx)
            .await
            .map_err(|error| self.failed(error, operation.to_owned()))?;
        Ok(())
    }

    async fn commit(&self, batch: Self::Batch, operation: &str) -> Result<(), StoreError> {
        batch
            .tx
            .commit()
            .await
            .map_err(|error| self.failed(error, operation.to_owned()))
    }
}
