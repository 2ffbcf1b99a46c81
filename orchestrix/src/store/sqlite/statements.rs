//! The store's SQL (SQLite dialect, `?` parameters).

/// The columns a decoded event needs, in the order `decode` reads them
/// (after `stream_id` when reading the global stream). The last is the
/// compact context (a BLOB), or for a row without one (written before
/// migration 3, or by a program that predates it) the text
/// `"<recorded_at> <metadata JSON>"`, decoded in Rust (see
/// `store::context`), so a damaged row fails alone, named. One column
/// either way: a load copies each column of every row.
macro_rules! event_columns {
    () => {
        "version, position, event_type, schema_version, payload, \
         coalesce(context, recorded_at || ' ' || metadata)"
    };
}

/// The columns of a raw read (after `stream_id`): the stored texts as is.
macro_rules! raw_columns {
    () => {
        "version, position, recorded_at, event_type, schema_version, payload, metadata"
    };
}

/// The stream's version and the last global position, read under the
/// append's write lock: the version check and the positions of the new
/// events (`last + 1, last + 2, ...`). `max(position)` reads the last
/// entry of the rowid tree; `max(version)` one entry of the
/// `(stream_id, version)` index.
pub(super) const APPEND_HEAD: &str = "SELECT \
     coalesce((SELECT max(version) FROM events WHERE stream_id = ?1), 0), \
     coalesce((SELECT max(position) FROM events), 0)";

/// A one-event append in one statement, so in one transaction of its own:
/// the statement takes the write lock before it reads, so the version check
/// (`?2`: expected version, NULL for any), the position (`max + 1`) and the
/// insert happen under it. No row back means a version conflict. Used for
/// appends without an expected version (see [`APPEND_ONE_EXPECTED`]).
pub(super) const APPEND_ONE: &str = "INSERT INTO events (position, stream_id, version, event_id, \
     event_type, schema_version, payload, metadata, correlation_id, causation_id, recorded_at, \
     context) \
     SELECT coalesce((SELECT max(position) FROM events), 0) + 1, ?1, head.version + 1, \
     ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
     FROM (SELECT coalesce((SELECT max(version) FROM events WHERE stream_id = ?1), 0) AS version) AS head \
     WHERE ?2 IS NULL OR head.version = ?2 \
     RETURNING position, version";

/// [`APPEND_ONE`] for an append with an expected version (`?2`), without
/// `INSERT ... SELECT` and `RETURNING`: each makes SQLite build a temporary
/// table per append (the select reads the table it inserts into), which
/// cost about a fifth of a single append's instructions. The version is
/// `?2 + 1` when the stream is at `?2` and NULL otherwise, so a conflict is
/// the `version` column's NOT NULL violation (nothing written); the
/// position is the row's rowid.
pub(super) const APPEND_ONE_EXPECTED: &str = "INSERT INTO events (position, stream_id, version, \
     event_id, event_type, schema_version, payload, metadata, correlation_id, causation_id, \
     recorded_at, context) \
     VALUES ((SELECT coalesce(max(position), 0) + 1 FROM events), ?1, \
     (SELECT CASE WHEN head = ?2 THEN head + 1 END \
      FROM (SELECT coalesce(max(version), 0) AS head FROM events WHERE stream_id = ?1)), \
     ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// The most events one `INSERT` statement writes (12 parameters each, far
/// below SQLite's limit of 32,766): a batch goes in as few statements as
/// that allows, each a round trip to the connection's worker thread.
pub(super) const MAX_ROWS_PER_INSERT: usize = 32;

/// `INSERT INTO events ... VALUES (...), (...)` for `rows` events
/// (`1..=MAX_ROWS_PER_INSERT`), written once per row count.
pub(super) fn insert_events(rows: usize) -> &'static str {
    static STATEMENTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let statements = STATEMENTS.get_or_init(|| {
        (1..=MAX_ROWS_PER_INSERT)
            .map(|rows| {
                let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(", ");
                format!(
                    "INSERT INTO events (position, stream_id, version, event_id, event_type, \
                     schema_version, payload, metadata, correlation_id, causation_id, \
                     recorded_at, context) VALUES {values}"
                )
            })
            .collect()
    });
    &statements[rows.clamp(1, MAX_ROWS_PER_INSERT) - 1]
}

pub(super) const STREAM_VERSION: &str =
    "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?";

pub(super) const LOAD: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE stream_id = ? AND version >= ? ORDER BY version"
);

pub(super) const LOAD_RANGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE stream_id = ? AND version BETWEEN ? AND ? ORDER BY version"
);

pub(super) const READ_ALL: &str = concat!(
    "SELECT stream_id, ",
    event_columns!(),
    " FROM events WHERE position >= ? ORDER BY position LIMIT ?"
);

/// The last position handed out: a reader's horizon. A later statement
/// sees every event up to it (commits come in position order).
pub(super) const LAST_POSITION: &str = "SELECT coalesce(max(position), 0) FROM events";

/// The global stream up to a horizon (`?2`), for a page that must say how
/// far it looked.
pub(super) const READ_ALL_UP_TO: &str = concat!(
    "SELECT stream_id, ",
    event_columns!(),
    " FROM events WHERE position BETWEEN ?1 AND ?2 ORDER BY position LIMIT ?3"
);

/// [`READ_ALL_UP_TO`] with the columns of a raw read.
pub(super) const READ_RAW_UP_TO: &str = concat!(
    "SELECT stream_id, ",
    raw_columns!(),
    " FROM events WHERE position BETWEEN ?1 AND ?2 ORDER BY position LIMIT ?3"
);

/// The events of some types (`?4`: a JSON array of type names) up to a
/// horizon: one range of the `(event_type, position)` index per type, so
/// rows of other types are never read.
pub(super) const READ_FILTERED: &str = concat!(
    "SELECT stream_id, ",
    event_columns!(),
    " FROM events WHERE event_type IN (SELECT value FROM json_each(?4)) \
     AND position BETWEEN ?1 AND ?2 ORDER BY position LIMIT ?3"
);

pub(super) const SAVE_SNAPSHOT: &str = "INSERT INTO snapshots \
     (aggregate_id, aggregate_type, version, state, taken_at) VALUES (?, ?, ?, ?, ?) \
     ON CONFLICT (aggregate_id) DO UPDATE SET aggregate_type = excluded.aggregate_type, \
     version = excluded.version, state = excluded.state, taken_at = excluded.taken_at \
     WHERE snapshots.version <= excluded.version";

pub(super) const LOAD_SNAPSHOT: &str =
    "SELECT aggregate_type, version, state, taken_at FROM snapshots WHERE aggregate_id = ?";
