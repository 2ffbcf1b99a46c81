//! What the SQL-backed projection state stores (PostgreSQL, SQLite) share:
//! the columns, the conversions between rows and states, and the lease
//! protocol on top of their one-statement "take" and "who holds it".
//!
//! Only the SQL and the time columns differ between the two: PostgreSQL
//! keeps `timestamptz`, SQLite integers (see `projection/sqlite.rs`), so the
//! row types take the time column's type as a parameter.

use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::error::ProjectionStoreError;
use super::state::{DeadLetter, ProjectionState};
use super::store::{LeaseOutcome, MAX_LEASE_TTL};

/// The columns of a state, in [`StateRow`] order.
pub(super) const STATE_COLUMNS: &str = "name, position, last_event_position, last_event_id, \
                                        processed, failed, healthy, last_error, head_position, \
                                        updated_at";

/// The columns of a dead letter, in [`LetterRow`] order.
pub(super) const LETTER_COLUMNS: &str =
    "projection, position, stream_id, version, event_type, event_id, error, attempts, parked_at";

/// A lease's TTL in whole milliseconds (at least 1), cut to
/// [`MAX_LEASE_TTL`].
pub(super) fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.min(MAX_LEASE_TTL).as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

/// A count or position as a signed 64-bit column.
pub(super) fn to_sql(value: u64, what: &str) -> Result<i64, ProjectionStoreError> {
    i64::try_from(value).map_err(|_| ProjectionStoreError::Backend {
        operation: format!("store {what} {value}"),
        source: "it is larger than a signed 64-bit integer column holds".into(),
    })
}

fn from_sql(value: i64, projection: &str, what: &'static str) -> Result<u64, ProjectionStoreError> {
    u64::try_from(value).map_err(|_| ProjectionStoreError::Malformed {
        projection: projection.to_owned(),
        what,
        source: format!("negative {value}").into(),
    })
}

/// A dead letter's attempt count as an `integer` column.
pub(super) fn attempts_to_sql(attempts: u32) -> i32 {
    i32::try_from(attempts).unwrap_or(i32::MAX)
}

/// A `projection_state` row ([`STATE_COLUMNS`]); `T` is the time column.
pub(super) type StateRow<T> = (
    String,
    i64,
    Option<i64>,
    Option<Uuid>,
    i64,
    i64,
    bool,
    Option<String>,
    i64,
    T,
);

/// The state a row holds; `time` reads the time column.
pub(super) fn state_from_row<T>(
    row: StateRow<T>,
    time: impl FnOnce(T) -> OffsetDateTime,
) -> Result<ProjectionState, ProjectionStoreError> {
    let (name, position, last, last_id, processed, failed, healthy, last_error, head, updated_at) =
        row;
    Ok(ProjectionState {
        position: from_sql(position, &name, "state")?,
        last_event_position: last.map(|p| from_sql(p, &name, "state")).transpose()?,
        last_event_id: last_id,
        processed: from_sql(processed, &name, "state")?,
        failed: from_sql(failed, &name, "state")?,
        healthy,
        last_error,
        head_position: from_sql(head, &name, "state")?,
        updated_at: time(updated_at),
        name,
    })
}

/// A `projection_dead_letters` row ([`LETTER_COLUMNS`]); `T` is the time
/// column.
pub(super) type LetterRow<T> = (String, i64, String, i64, String, Uuid, String, i32, T);

/// The dead letter a row holds; `time` reads the time column.
pub(super) fn letter_from_row<T>(
    row: LetterRow<T>,
    time: impl FnOnce(T) -> OffsetDateTime,
) -> Result<DeadLetter, ProjectionStoreError> {
    let (
        projection,
        position,
        stream_id,
        version,
        event_type,
        event_id,
        error,
        attempts,
        parked_at,
    ) = row;
    Ok(DeadLetter {
        position: from_sql(position, &projection, "dead letter")?,
        version: from_sql(version, &projection, "dead letter")?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        projection,
        stream_id,
        event_type,
        event_id,
        error,
        parked_at: time(parked_at),
    })
}

/// `acquire_lease` on top of a store's `take` (one statement that takes the
/// lease if it is free, expired or the caller's: whether it did) and
/// `holder` (who else holds an unexpired lease, if anyone).
///
/// A lease released between the two is free again, so this tries again, a
/// few times.
pub(super) async fn acquire_lease<Take, Taken, Holder, Held>(
    projection: &str,
    mut take: Take,
    mut holder: Holder,
) -> Result<LeaseOutcome, ProjectionStoreError>
where
    Take: FnMut() -> Taken,
    Taken: Future<Output = Result<bool, ProjectionStoreError>>,
    Holder: FnMut() -> Held,
    Held: Future<Output = Result<Option<(String, OffsetDateTime)>, ProjectionStoreError>>,
{
    for _ in 0..3 {
        if take().await? {
            return Ok(LeaseOutcome::Acquired);
        }
        if let Some((owner, expires_at)) = holder().await? {
            return Ok(LeaseOutcome::Held { owner, expires_at });
        }
    }
    Err(ProjectionStoreError::Backend {
        operation: format!("acquire the lease of projection `{projection}`"),
        source: "the lease kept changing hands".into(),
    })
}

/// `Ok` if a write that needs the lease went through, else
/// [`ProjectionStoreError::LeaseLost`].
pub(super) fn held(
    written: bool,
    projection: &str,
    owner: &str,
) -> Result<(), ProjectionStoreError> {
    if written {
        Ok(())
    } else {
        Err(ProjectionStoreError::LeaseLost {
            projection: projection.to_owned(),
            owner: owner.to_owned(),
        })
    }
}
