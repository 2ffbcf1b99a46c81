//! Reading the global stream without ever skipping an event, and
//! replaying one stream ([`PostgreSQLEventStore::replay_stream`]).
//!
//! Two statements: `global_horizon()` (migration 0002) waits for every
//! append that may still commit a position up to the last one handed out
//! and returns that position; a plain `SELECT`, which starts after it and so
//! sees every one of those appends that committed, then reads up to it.

use std::ops::ControlFlow;

use futures::TryStreamExt;
use sqlx::postgres::PgRow;

use super::decode::RowDecoder;
use super::{PostgreSQLEventStore, stream_load, to_i64, to_u64};
use crate::evolution::RowEvents;
use crate::store::{
    EventTypeFilter, GlobalPage, ReplayedEvent, StoreError, checks, replay_messages,
};

/// How many positions a type-filtered read of `limit` events looks at, at
/// most. The filtered read walks the `(event_type, position)` index, which
/// yields each type's rows in position order but not the types' rows
/// merged, so the server sorts every matching row in the range before the
/// `LIMIT` applies. Without a bound, a follower far behind the head sorts
/// the whole rest of the log on every page (whatever plan the table's
/// statistics, or their absence, lead to); with it, a page sorts at most
/// this many rows. A page that reaches the bound is short and says how far
/// it looked (`GlobalPage::scanned_through`), so the follower simply reads
/// on from there.
fn filtered_window(limit: usize) -> u64 {
    const MIN_WINDOW: u64 = 4096;
    (limit as u64).saturating_mul(16).max(MIN_WINDOW)
}

/// The most events a replay's buffer is sized for before its rows come
/// (24 bytes each: 6 KiB).
const REPLAY_CAPACITY_HINT: usize = 256;

impl PostgreSQLEventStore {
    /// [`AsyncEventStore::replay`](crate::store::AsyncEventStore::replay):
    /// the stream's messages at versions `from_version..=to_version`,
    /// decoded straight from the rows of `statements::REPLAY_COLUMNS` (no
    /// context, no `RecordedEvent`), then handed to `apply` in version
    /// order until it breaks.
    ///
    /// The rows come in the order the plan reads them (the statement has
    /// no `ORDER BY`, as a load's: see `fetch_stream`), so the messages
    /// are collected with their versions first, and sorted (stably: the
    /// events one stored event was split into keep their order) only when
    /// they came out of order; `apply` runs after the last row, with no
    /// connection held.
    pub(super) async fn replay_stream(
        &self,
        aggregate_id: &str,
        from_version: u64,
        to_version: u64,
        apply: &mut (dyn for<'e> FnMut(ReplayedEvent<'e>) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        checks::stream_id(aggregate_id)?;
        if from_version > to_version {
            return Ok(());
        }
        self.gate.check(&self.pool).await?;
        let mut rows = sqlx::query(self.statements.replay.clone())
            .bind(aggregate_id)
            .bind(to_i64(from_version))
            .bind(to_i64(to_version))
            .fetch(&self.pool);
        let mut decoder = RowDecoder::new();
        // A hint only: the row count is not known before the rows come. A
        // bounded range (time travel) is sized exactly when small; a whole
        // stream starts at the cap and grows by doubling past it.
        let span = to_version.saturating_sub(from_version).saturating_add(1);
        let mut messages = Vec::with_capacity(
            usize::try_from(span)
                .map_or(REPLAY_CAPACITY_HINT, |span| span.min(REPLAY_CAPACITY_HINT)),
        );
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => {
                    if let Err(error) = decoder.replay_row(aggregate_id, &row, &mut messages) {
                        drop(row);
                        // Released first: the position is fetched on
                        // another of the pool's connections.
                        drop(rows);
                        return Err(self.name_replayed_row(error).await);
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    drop(rows);
                    // A load's wording (`load` / `load_range`): the
                    // repository's loads fail as they did before they
                    // replayed.
                    let bounded = (to_version != u64::MAX).then_some(to_version);
                    let operation = stream_load(aggregate_id, from_version, bounded);
                    return Err(self.failure(error, operation).report().await);
                }
            }
        }
        drop(rows);
        if !messages.is_sorted_by_key(|(version, _)| *version) {
            messages.sort_by_key(|(version, _)| *version);
        }
        replay_messages(&messages, apply);
        Ok(())
    }

    /// A replay's [`StoreError::Decode`] with the failing row's global
    /// position, which the replay's columns leave out (see
    /// `statements::REPLAY_COLUMNS`): fetched by the row's stream and
    /// version, which name one row (`(stream_id, version)` is unique;
    /// the events one stored row is split into share both). So the error
    /// is the one a load gives. Should the row be gone, or the query fail,
    /// the decode error is still returned, without a position.
    async fn name_replayed_row(&self, mut error: StoreError) -> StoreError {
        if let StoreError::Decode {
            stream_id,
            version,
            position: position @ None,
            ..
        } = &mut error
            && let Ok(Some(found)) =
                sqlx::query_scalar::<_, i64>(self.statements.replay_position.clone())
                    .bind(&**stream_id)
                    .bind(to_i64(*version))
                    .fetch_optional(&self.pool)
                    .await
        {
            *position = Some(to_u64(found));
        }
        error
    }

    /// The highest position that may be read: every append that could
    /// commit at or below it has ended.
    async fn global_horizon(
        &self,
        operation: &(dyn Fn() -> String + Sync),
    ) -> Result<u64, StoreError> {
        match sqlx::query_scalar::<_, i64>(self.statements.global_horizon.clone())
            .fetch_one(&self.pool)
            .await
        {
            Ok(horizon) => Ok(to_u64(horizon)),
            Err(error) => Err(self.failure(error, operation()).report().await),
        }
    }

    /// Reads up to `limit` events (of `filter`'s types; `None`: every
    /// event, with the columns of a raw read) from `from_position` on,
    /// handing each row to `decode`. Returns the rows' results and how far
    /// the read looked.
    pub(super) async fn read_global<T>(
        &self,
        from_position: u64,
        limit: usize,
        filter: Option<&EventTypeFilter>,
        mut decode: impl FnMut(&mut RowDecoder, &PgRow) -> Result<(T, u64), StoreError>,
    ) -> Result<(Vec<T>, u64), StoreError> {
        let nothing_yet = from_position.saturating_sub(1);
        let operation = || format!("read the global stream from position {from_position}");
        if limit == 0 {
            return Ok((Vec::new(), nothing_yet));
        }
        self.gate.check(&self.pool).await?;
        let horizon = self.global_horizon(&operation).await?;
        if horizon < from_position {
            return Ok((Vec::new(), nothing_yet));
        }
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        // How far this read looks: up to the horizon, and for a filtered
        // read at most a window of positions past its start (see
        // `filtered_window`).
        let types = filter.and_then(EventTypeFilter::event_types);
        let upper = match types {
            None => horizon,
            Some(_) => {
                horizon.min(from_position.saturating_add(filtered_window(limit).saturating_sub(1)))
            }
        };
        let all = match filter {
            Some(_) => self.statements.read_all.clone(),
            None => self.statements.read_raw.clone(),
        };
        let query = match types {
            None => sqlx::query(all)
                .bind(to_i64(from_position))
                .bind(to_i64(upper))
                .bind(limit_sql),
            Some(types) => sqlx::query(self.statements.read_filtered.clone())
                .bind(to_i64(from_position))
                .bind(to_i64(upper))
                .bind(limit_sql)
                .bind(types),
        };
        let mut rows = query.fetch(&self.pool);
        let mut decoder = RowDecoder::new();
        let mut events = Vec::with_capacity(limit.min(1024));
        let mut last_position = nothing_yet;
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => {
                    let (event, position) = decode(&mut decoder, &row)?;
                    last_position = position;
                    events.push(event);
                }
                Ok(None) => break,
                Err(error) => {
                    drop(rows);
                    return Err(self.failure(error, operation()).report().await);
                }
            }
        }
        // A full page looked as far as its last event; a short one looked
        // at everything up to its upper bound.
        let scanned_through = if events.len() == limit {
            last_position
        } else {
            upper
        };
        Ok((events, scanned_through))
    }

    /// [`read_all_filtered`](Self::read_all_filtered) as a [`GlobalPage`].
    pub(super) async fn read_page(
        &self,
        from_position: u64,
        limit: usize,
        filter: &EventTypeFilter,
    ) -> Result<GlobalPage, StoreError> {
        // Rows stored under an alias (or split into a wanted type) are
        // fetched too; what they decode into is filtered again.
        let stored = crate::evolution::stored_filter(filter);
        let (rows, scanned_through) = self
            .read_global(
                from_position,
                limit,
                Some(stored.as_ref().unwrap_or(filter)),
                |decoder, row| decoder.global_row(row),
            )
            .await?;
        let events = RowEvents::flatten(rows, stored.is_some().then_some(filter));
        Ok(GlobalPage {
            events,
            scanned_through,
        })
    }
}
