//! [`PostgreSQLEventStore::rewrite_to_current`]: old rows rewritten in
//! place to their current name and schema version (the batch loop is
//! shared with SQLite: `evolution::sql_rewrite`).

use sqlx::{AssertSqlSafe, Postgres, Transaction};

use super::PostgreSQLEventStore;
use crate::evolution::{
    CurrentForm, RewriteOptions, RewriteReport, RewriteTarget, StoredColumns, StoredRow,
    rewrite_in_batches,
};
use crate::store::StoreError;

impl PostgreSQLEventStore {
    /// Rewrites every stored event that is at an older schema version or
    /// under a former name (an alias) to its current form, through the
    /// same upcasters reads use; stream versions, positions and metadata
    /// are untouched.
    ///
    /// In batches of `batch_size` rows, one transaction each, in position
    /// order; [`RewriteReport::last_position`] resumes an interrupted run.
    /// Safe to run again (rows already current are left alone; each
    /// update is conditional on the row still being in the form it was
    /// read in) and next to live traffic (appends write current rows,
    /// which it leaves alone; a reader sees a row before or after, and both
    /// read the same). A row a split or drop reads as other than one event is kept
    /// as it is and counted. `dry_run` writes nothing. A row that does not
    /// decode stops the rewrite with the same [`StoreError::Decode`] a read
    /// gives, after the batches before it were committed.
    pub async fn rewrite_to_current(
        &self,
        options: &RewriteOptions,
    ) -> Result<RewriteReport, StoreError> {
        let events = format!("{}.events", self.schema.quoted());
        let target = Rewrite {
            store: self,
            select: format!(
                "SELECT position, stream_id, version, event_type, schema_version::bigint, payload::text \
                 FROM {events} WHERE position > $1 ORDER BY position LIMIT $2"
            ),
            update: format!(
                "UPDATE {events} SET event_type = $1, schema_version = $2, payload = $3::jsonb \
                 WHERE position = $4 AND event_type = $5 AND schema_version = $6"
            ),
        };
        rewrite_in_batches(&target, options).await
    }
}

/// The store's side of the shared rewrite loop, with its statements.
struct Rewrite<'a> {
    store: &'a PostgreSQLEventStore,
    select: String,
    update: String,
}

impl Rewrite<'_> {
    fn backend(operation: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |error| StoreError::Backend {
            operation: operation.to_owned(),
            source: Box::new(error),
        }
    }
}

#[async_trait::async_trait]
impl RewriteTarget for Rewrite<'_> {
    type Batch = Transaction<'static, Postgres>;

    async fn begin(&self, _dry_run: bool, operation: &str) -> Result<Self::Batch, StoreError> {
        self.store
            .pool
            .begin()
            .await
            .map_err(Self::backend(operation))
    }

    async fn rows(
        &self,
        batch: &mut Self::Batch,
        after: i64,
        limit: i64,
        operation: &str,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let rows = sqlx::query_as::<_, StoredColumns>(AssertSqlSafe(self.select.as_str()))
            .bind(after)
            .bind(limit)
            .fetch_all(&mut **batch)
            .await
            .map_err(Self::backend(operation))?;
        Ok(rows.into_iter().map(StoredRow::from).collect())
    }

    async fn update(
        &self,
        batch: &mut Self::Batch,
        row: &StoredRow,
        current: CurrentForm,
        operation: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(AssertSqlSafe(self.update.as_str()))
            .bind(current.event_type)
            .bind(i32::try_from(current.schema_version).unwrap_or(i32::MAX))
            .bind(current.payload)
            .bind(row.position)
            .bind(&row.event_type)
            .bind(i32::try_from(row.schema_version).unwrap_or(i32::MAX))
            .execute(&mut **batch)
            .await
            .map_err(Self::backend(operation))?;
        Ok(())
    }

    async fn commit(&self, batch: Self::Batch, operation: &str) -> Result<(), StoreError> {
        batch.commit().await.map_err(Self::backend(operation))
    }
}
