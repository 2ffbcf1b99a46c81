//! [`SqliteEventStore::rewrite_to_current`]: old rows rewritten in place to
//! their current name and schema version.

use sqlx::Row;

use super::SqliteEventStore;
use crate::evolution::{RawRow, RewriteOptions, RewriteReport, RowRewrite, rewrite_row};
use crate::registry::EventRegistry;
use crate::store::StoreError;

const SELECT: &str = "SELECT position, stream_id, version, event_type, schema_version, payload \
                      FROM events WHERE position > ?1 ORDER BY position LIMIT ?2";

const UPDATE: &str = "UPDATE events SET event_type = ?1, schema_version = ?2, payload = ?3 \
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
        let registry = EventRegistry::global()?;
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
                // A dry run only reads; a rewrite takes the write lock first.
                .begin_with(if options.dry_run {
                    "BEGIN"
                } else {
                    "BEGIN IMMEDIATE"
                })
                .await
                .map_err(|error| self.failed(error, operation()))?;
            let rows = sqlx::query(SELECT)
                .bind(i64::try_from(from).unwrap_or(i64::MAX))
                .bind(batch)
                .fetch_all(&mut *tx)
                .await
                .map_err(|error| self.failed(error, operation()))?;
            if rows.is_empty() {
                return Ok(report);
            }
            for row in &rows {
                let read = || -> Result<_, sqlx::Error> {
                    Ok((
                        row.try_get::<i64, _>(0)?,
                        row.try_get::<&str, _>(1)?,
                        row.try_get::<i64, _>(2)?,
                        row.try_get::<&str, _>(3)?,
                        row.try_get::<i64, _>(4)?,
                        row.try_get::<&str, _>(5)?,
                    ))
                };
                let (position, stream_id, version, event_type, schema_version, payload) =
                    read().map_err(|error| self.failed(error, operation()))?;
                report.scanned += 1;
                report.last_position = u64::try_from(position).unwrap_or(0);
                let raw = RawRow {
                    position: report.last_position,
                    stream_id,
                    version: u64::try_from(version).unwrap_or(0),
                    event_type,
                    schema_version: u32::try_from(schema_version).unwrap_or(0),
                    payload,
                };
                let (name, new_version, json) = match rewrite_row(registry, &raw)? {
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
                sqlx::query(UPDATE)
                    .bind(name)
                    .bind(i64::from(new_version))
                    .bind(json)
                    .bind(position)
                    .bind(event_type)
                    .bind(schema_version)
                    .execute(&mut *tx)
                    .await
                    .map_err(|error| self.failed(error, operation()))?;
            }
            tx.commit()
                .await
                .map_err(|error| self.failed(error, operation()))?;
        }
    }
}
