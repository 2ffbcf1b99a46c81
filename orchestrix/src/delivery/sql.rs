//! What the SQL delivery stores (PostgreSQL, SQLite) share: the statements,
//! which differ only in their table names and parameter sign, and the
//! conversions between rows and [`ParkedEvent`]s.
//!
//! The time columns differ (PostgreSQL keeps `timestamptz`, SQLite integer
//! nanoseconds, as its other stores do), so [`ParkedRow`] takes the time
//! column's type as a parameter.

use time::OffsetDateTime;
use uuid::Uuid;

use super::store::{DeliveryStoreError, ParkedEvent};

/// The columns of a parked event, in [`ParkedRow`] order.
const PARKED_COLUMNS: &str = "handler, handler_group, position, stream_id, version, event_type, \
                              event_id, error, attempts, first_failed_at, parked_at";

/// What differs between the SQL of the two backends (a build with one of
/// their features never makes the other's).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(
    not(all(feature = "postgres", feature = "sqlite")),
    allow(dead_code, reason = "one backend's feature is off")
)]
pub(super) enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// The parameter sign: both number their parameters, `$2` and `?2`.
    fn sign(self) -> &'static str {
        match self {
            Self::Postgres => "$",
            Self::Sqlite => "?",
        }
    }

    /// What makes an `ORDER BY` on a text column compare bytes, as Rust
    /// orders `str` (and so the in-memory store): PostgreSQL's default
    /// collation follows the database's locale (`a` before `B`); SQLite's
    /// default, `BINARY`, already compares bytes.
    fn byte_order(self) -> &'static str {
        match self {
            Self::Postgres => " COLLATE \"C\"",
            Self::Sqlite => "",
        }
    }
}

/// The SQL of every operation.
///
/// Parameters: `park` takes [`PARKED_COLUMNS`] in order; `parked_one`
/// the handler; `remove` the handler and position; `is_processed` and
/// `mark_processed` the handler and event id.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) park: String,
    pub(super) parked_all: String,
    pub(super) parked_one: String,
    pub(super) remove: String,
    pub(super) is_processed: String,
    pub(super) mark_processed: String,
}

impl Statements {
    /// The statements on the tables `parked` and `processed` (as the SQL
    /// names them, schema-qualified on PostgreSQL) in `dialect`.
    pub(super) fn new(parked: &str, processed: &str, dialect: Dialect) -> Self {
        let with_sign = |sql: String| sql.replace('$', dialect.sign());
        let byte_order = dialect.byte_order();
        Self {
            park: with_sign(format!(
                "INSERT INTO {parked} ({PARKED_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (handler, position) DO UPDATE SET handler_group = $2, stream_id = $4, \
                 version = $5, event_type = $6, event_id = $7, error = $8, attempts = $9, \
                 first_failed_at = $10, parked_at = $11"
            )),
            parked_all: format!(
                "SELECT {PARKED_COLUMNS} FROM {parked} ORDER BY handler{byte_order}, position"
            ),
            parked_one: with_sign(format!(
                "SELECT {PARKED_COLUMNS} FROM {parked} WHERE handler = $1 ORDER BY position"
            )),
            remove: with_sign(format!(
                "DELETE FROM {parked} WHERE handler = $1 AND position = $2"
            )),
            is_processed: with_sign(format!(
                "SELECT EXISTS (SELECT 1 FROM {processed} WHERE handler = $1 AND event_id = $2)"
            )),
            mark_processed: with_sign(format!(
                "INSERT INTO {processed} (handler, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            )),
        }
    }
}

/// A position or version as a signed 64-bit column.
pub(super) fn to_sql(value: u64) -> Result<i64, DeliveryStoreError> {
    i64::try_from(value).map_err(|_| DeliveryStoreError::Backend {
        operation: format!("store position or version {value}"),
        source: "it is larger than a signed 64-bit integer column holds".into(),
    })
}

/// An attempt count as an `integer` column.
pub(super) fn attempts_to_sql(attempts: u32) -> i32 {
    i32::try_from(attempts).unwrap_or(i32::MAX)
}

/// A `delivery_dead_letters` row ([`PARKED_COLUMNS`]); `T` is the time
/// columns' type.
pub(super) type ParkedRow<T> = (
    String,
    String,
    i64,
    String,
    i64,
    String,
    Option<Uuid>,
    String,
    i32,
    T,
    T,
);

/// The parked event a row holds; `time` reads the time columns.
pub(super) fn parked_from_row<T>(
    row: ParkedRow<T>,
    time: impl Fn(T) -> OffsetDateTime,
) -> Result<ParkedEvent, DeliveryStoreError> {
    let (
        handler,
        group,
        position,
        stream_id,
        version,
        event_type,
        event_id,
        error,
        attempts,
        first_failed_at,
        parked_at,
    ) = row;
    let unsigned = |value: i64| {
        u64::try_from(value).map_err(|_| DeliveryStoreError::Malformed {
            handler: handler.clone(),
            what: "parked event",
            source: format!("negative {value}").into(),
        })
    };
    Ok(ParkedEvent {
        position: unsigned(position)?,
        version: unsigned(version)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        handler,
        group,
        stream_id,
        event_type,
        event_id,
        error,
        first_failed_at: time(first_failed_at),
        parked_at: time(parked_at),
    })
}

#[cfg(test)]
mod tests {
    use super::{Dialect, Statements};

    #[test]
    fn sqlite_statements_number_their_parameters_with_a_question_mark() {
        let statements = Statements::new("parked", "processed", Dialect::Sqlite);
        for sql in [
            &statements.park,
            &statements.parked_one,
            &statements.remove,
            &statements.is_processed,
            &statements.mark_processed,
        ] {
            assert!(!sql.contains('$'), "{sql}");
            assert!(sql.contains("?1"), "{sql}");
        }
        assert!(statements.park.contains("handler_group = ?2"));
    }
}
