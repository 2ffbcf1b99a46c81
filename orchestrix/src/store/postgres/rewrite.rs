//! [`PostgreSQLEventStore::rewrite_to_current`]: old rows rewritten in
//! place to their current name and schema version.

use futures::TryStreamExt;
use sqlx::Row;

use super::PostgreSQLEventStore;
use crate::evolution::{RawRow, RewriteOptions, RewriteReport, RowRewrite, rewrite_row};
use crate::registry::EventRegistry;
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
        let registry = EventRegistry::global()?;
        let events = format!("{}.events", self.schema.quoted());
        let select = format!(
            "SELECT position, stream_id, version, event_type, schema_version, payload::text \
             FROM {events} WHERE position > $1 ORDER BY position LIMIT $2"
        );
        let update = format!(
            "UPDATE {events} SET event_type = $1, schema_version = $2, payload = $3::jsonb \
             WHERE position = $4 AND event_type = $5 AND schema_version = $6"
        );
        let batch = i64::try_from(options.batch_size.max(1)).unwrap_or(i64::MAX);
        let mut report = RewriteReport {
            last_position: options.after_position,
            ..RewriteReport::default()
        };
        loop {
            let from = report.last_position;
            let operation = move || format!("rewrite stored events after position {from}");
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(|error| self.backend(error, operation()))?;
            let rows: Vec<sqlx::postgres::PgRow> = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(i64::try_from(from).unwrap_or(i64::MAX))
                .bind(batch)
                .fetch(&mut *tx)
                .try_collect()
                .await
                .map_err(|error| self.backend(error, operation()))?;
            if rows.is_empty() {
                return Ok(report);
            }
            for row in &rows {
                let read = || -> Result<_, sqlx::Error> {
                    Ok((
                        row.try_get::<i64, _>(0)?,
                        row.try_get::<String, _>(1)?,
                        row.try_get::<i64, _>(2)?,
                        row.try_get::<String, _>(3)?,
                        row.try_get::<i32, _>(4)?,
                        row.try_get::<String, _>(5)?,
                    ))
                };
                let (position, stream_id, version, event_type, schema_version, payload) =
                    read().map_err(|error| self.backend(error, operation()))?;
                report.scanned += 1;
                report.last_position = u64::try_from(position).unwrap_or(0);
                let row = RawRow {
                    position: report.last_position,
                    stream_id: &stream_id,
                    version: u64::try_from(version).unwrap_or(0),
                    event_type: &event_type,
                    schema_version: u32::try_from(schema_version).unwrap_or(0),
                    payload: &payload,
                };
                let (name, new_version, json) = match rewrite_row(registry, &row)? {
                    RowRewrite::Keep => continue,
                    RowRewrite::Split => {
                        report.kept_split += 1;
                        continue;
                    }
                    RowRewrite::Rewrite {
                        event_type,
                        schema_version,
                        payload,
                    } => (event_type, schema_version, payload),
                };
                report.rewritten += 1;
                if options.dry_run {
                    continue;
                }
                sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                    .bind(name)
                    .bind(i32::try_from(new_version).unwrap_or(i32::MAX))
                    .bind(json)
                    .bind(position)
                    .bind(&event_type)
                    .bind(schema_version)
                    .execute(&mut *tx)
                    .await
                    .map_err(|error| self.backend(error, operation()))?;
            }
            tx.commit()
                .await
                .map_err(|error| self.backend(error, operation()))?;
        }
    }

    fn backend(&self, error: sqlx::Error, operation: String) -> StoreError {
        StoreError::Backend {
            operation,
            source: Box::new(error),
        }
    }
}
