//! The batch loop the SQL stores (PostgreSQL, SQLite) share for
//! `rewrite_to_current`: each store says how to open a batch transaction,
//! read a page of rows, update one row and commit; the loop decides what
//! to rewrite (through [`rewrite_row`]) and keeps the report.

use super::rewrite::{RawRow, RewriteOptions, RewriteReport, RowRewrite, rewrite_row};
use crate::registry::EventRegistry;
use crate::store::StoreError;

/// One stored row as the rewrite reads it, in the columns' SQL types.
pub(crate) struct StoredRow {
    pub(crate) position: i64,
    pub(crate) stream_id: String,
    pub(crate) version: i64,
    pub(crate) event_type: String,
    pub(crate) schema_version: i64,
    pub(crate) payload: String,
}

/// A row as both stores select it: position, stream id, version, event
/// type, schema version (as a 64-bit integer) and payload (as JSON text).
pub(crate) type StoredColumns = (i64, String, i64, String, i64, String);

impl From<StoredColumns> for StoredRow {
    fn from(columns: StoredColumns) -> Self {
        let (position, stream_id, version, event_type, schema_version, payload) = columns;
        Self {
            position,
            stream_id,
            version,
            event_type,
            schema_version,
            payload,
        }
    }
}

/// A row's current form, to be written in place of what
/// [`StoredRow`] holds.
pub(crate) struct CurrentForm {
    pub(crate) event_type: &'static str,
    pub(crate) schema_version: u32,
    pub(crate) payload: String,
}

/// What a SQL store does for the rewrite loop; `Batch` is its transaction.
/// `operation` names the batch in errors.
#[async_trait::async_trait]
pub(crate) trait RewriteTarget: Sync {
    /// A batch's transaction.
    type Batch: Send;

    /// Opens a batch's transaction; a `dry_run` only reads.
    async fn begin(&self, dry_run: bool, operation: &str) -> Result<Self::Batch, StoreError>;

    /// At most `limit` rows with position `> after`, in position order.
    async fn rows(
        &self,
        batch: &mut Self::Batch,
        after: i64,
        limit: i64,
        operation: &str,
    ) -> Result<Vec<StoredRow>, StoreError>;

    /// Writes `current` over `row`, only if the row is still stored under
    /// `row`'s type and version.
    async fn update(
        &self,
        batch: &mut Self::Batch,
        row: &StoredRow,
        current: CurrentForm,
        operation: &str,
    ) -> Result<(), StoreError>;

    /// Commits the batch.
    async fn commit(&self, batch: Self::Batch, operation: &str) -> Result<(), StoreError>;
}

/// Rewrites `target`'s old rows to their current form, in batches of
/// `options.batch_size`, one transaction each, from
/// `options.after_position` (see the stores' `rewrite_to_current`).
pub(crate) async fn rewrite_in_batches<T: RewriteTarget>(
    target: &T,
    options: &RewriteOptions,
) -> Result<RewriteReport, StoreError> {
    let registry = EventRegistry::global()?;
    let limit = i64::try_from(options.batch_size.max(1)).unwrap_or(i64::MAX);
    let mut report = RewriteReport {
        last_position: options.after_position,
        ..RewriteReport::default()
    };
    loop {
        let operation = format!(
            "rewrite stored events after position {}",
            report.last_position
        );
        let mut batch = target.begin(options.dry_run, &operation).await?;
        let after = i64::try_from(report.last_position).unwrap_or(i64::MAX);
        let rows = target.rows(&mut batch, after, limit, &operation).await?;
        if rows.is_empty() {
            return Ok(report);
        }
        for row in &rows {
            report.scanned += 1;
            report.last_position = u64::try_from(row.position).unwrap_or(0);
            let raw = RawRow {
                position: report.last_position,
                stream_id: &row.stream_id,
                version: u64::try_from(row.version).unwrap_or(0),
                event_type: &row.event_type,
                schema_version: u32::try_from(row.schema_version).unwrap_or(0),
                payload: &row.payload,
            };
            let current = match rewrite_row(registry, &raw)? {
                RowRewrite::Keep => continue,
                RowRewrite::Split => {
                    report.kept_split += 1;
                    continue;
                }
                RowRewrite::Rewrite {
                    event_type,
                    schema_version,
                    payload,
                } => CurrentForm {
                    event_type,
                    schema_version,
                    payload,
                },
            };
            report.rewritten += 1;
            if !options.dry_run {
                target.update(&mut batch, row, current, &operation).await?;
            }
        }
        target.commit(batch, &operation).await?;
    }
}
