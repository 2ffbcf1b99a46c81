//! The store's SQL, written once per schema.

use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};

use crate::postgres::SqlIdentifier;

/// Every statement the store runs, with the (validated, quoted) schema name
/// in place. Cloning a statement clones an `Arc`.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) append: SqlStr,
    pub(super) load: SqlStr,
    pub(super) load_range: SqlStr,
    pub(super) read_all: SqlStr,
    pub(super) stream_version: SqlStr,
    pub(super) save_snapshot: SqlStr,
    pub(super) load_snapshot: SqlStr,
}

/// The columns a decoded event needs, in the order `decode` reads them
/// (after `stream_id` when reading the global stream).
const EVENT_COLUMNS: &str =
    "version, position, recorded_at, event_type, schema_version, payload::text, metadata::text";

impl Statements {
    pub(super) fn new(schema: &SqlIdentifier) -> Self {
        let s = schema.quoted();
        let sql = |text: String| AssertSqlSafe(text).into_sql_str();
        Self {
            append: sql(format!(
                "SELECT applied, stream_version, positions \
                 FROM {s}.append_events($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            )),
            load: sql(format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events \
                 WHERE stream_id = $1 AND version >= $2 ORDER BY version"
            )),
            load_range: sql(format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events \
                 WHERE stream_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version"
            )),
            read_all: sql(format!("SELECT * FROM {s}.read_all_events($1, $2)")),
            stream_version: sql(format!(
                "SELECT coalesce(max(version), 0)::bigint FROM {s}.events WHERE stream_id = $1"
            )),
            save_snapshot: sql(format!(
                "INSERT INTO {s}.snapshots (aggregate_id, aggregate_type, version, state, taken_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (aggregate_id) DO UPDATE SET aggregate_type = excluded.aggregate_type, \
                 version = excluded.version, state = excluded.state, taken_at = excluded.taken_at \
                 WHERE snapshots.version <= excluded.version"
            )),
            load_snapshot: sql(format!(
                "SELECT aggregate_type, version, state::text, taken_at FROM {s}.snapshots WHERE aggregate_id = $1"
            )),
        }
    }
}
