//! Pages of the global stream that say how far they looked, decoded or raw.
//!
//! Two statements: the last position handed out (the horizon), then the
//! rows from `from_position` up to it. Commits come in position order and a
//! statement sees every commit before it starts, so the second statement
//! sees every event up to the horizon: a short page looked at all of them.

use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;

use super::decode::RowDecoder;
use super::{SqliteEventStore, statements, to_i64};
use crate::store::{EventTypeFilter, StoreError};

impl SqliteEventStore {
    /// Reads up to `limit` events (of `filter`'s types; `None`: every
    /// event, with the columns of a raw read) from `from_position` on,
    /// handing each row to `decode` (which returns the item and its
    /// position). Returns the items and how far the read looked
    /// (`GlobalPage::scanned_through`).
    pub(super) async fn read_global<T>(
        &self,
        from_position: u64,
        limit: usize,
        filter: Option<&EventTypeFilter>,
        mut decode: impl FnMut(&mut RowDecoder, &SqliteRow) -> Result<(T, u64), StoreError>,
    ) -> Result<(Vec<T>, u64), StoreError> {
        let nothing_yet = from_position.saturating_sub(1);
        let operation = || format!("read the global stream from position {from_position}");
        if limit == 0 {
            return Ok((Vec::new(), nothing_yet));
        }
        let horizon = self.last_position().await?;
        if horizon < from_position {
            return Ok((Vec::new(), nothing_yet));
        }
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let query = match filter.map(EventTypeFilter::event_types) {
            None => sqlx::query(statements::READ_RAW_UP_TO)
                .bind(to_i64(from_position))
                .bind(to_i64(horizon))
                .bind(limit_sql),
            Some(None) => sqlx::query(statements::READ_ALL_UP_TO)
                .bind(to_i64(from_position))
                .bind(to_i64(horizon))
                .bind(limit_sql),
            Some(Some(types)) => {
                let types = serde_json::to_string(types).map_err(|source| StoreError::Backend {
                    operation: operation(),
                    source: Box::new(source),
                })?;
                sqlx::query(statements::READ_FILTERED)
                    .bind(to_i64(from_position))
                    .bind(to_i64(horizon))
                    .bind(limit_sql)
                    .bind(types)
            }
        };
        let mut rows = query.fetch(&self.pool);
        let mut decoder = RowDecoder::default();
        let mut items = Vec::with_capacity(limit.min(1024));
        let mut last_position = nothing_yet;
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => {
                    let (item, position) = decode(&mut decoder, &row)?;
                    last_position = position;
                    items.push(item);
                }
                Ok(None) => break,
                Err(error) => return Err(self.failed(error, operation())),
            }
        }
        // A full page looked as far as its last event; a short one looked
        // at everything up to the horizon.
        let scanned_through = if items.len() == limit {
            last_position
        } else {
            horizon
        };
        Ok((items, scanned_through))
    }
}
