//! The store's SQL (SQLite dialect, `?` parameters).

/// The columns a decoded event needs, in the order `decode` reads them
/// (after `stream_id` when reading the global stream). The last is the
/// load record (a BLOB: `store::context::record`, checked against the
/// columns before it), or the compact context (a BLOB) of a row without
/// one (written before migration 4, or updated since), or for a row
/// without either (written before migration 3, or by a program that
/// predates it) the text `"<recorded_at> <metadata JSON>"`, decoded in
/// Rust (see `store::context`), so a damaged row fails alone, named. One
/// column in every case: a load copies each column of every row.
macro_rules! event_columns {
    () => {
        "version, position, event_type, schema_version, payload, \
         coalesce(load_record, context, recorded_at || ' ' || metadata)"
    };
}

/// The columns of a stream load by load record: the payload and the
/// record, two values per row (see `store::context::record`).
macro_rules! record_columns {
    () => {
        "payload, load_record"
    };
}

/// A load record (`?11`, see `context::record::start`) ended in SQL with
/// the row's version, position and their check (`!(version ^ position)`,
/// `context::record::tail_check`, in the bitwise operators SQLite has):
/// three big-endian `i64`s, from 16 upper-case hex digits each (`%X`
/// prints a negative value's 64 bits; `||` makes text of the bytes,
/// unchanged; the cast makes them a BLOB again). `$position` is written
/// three times: each is evaluated.
macro_rules! record_tail {
    ($record:literal, $version:literal, $position:literal) => {
        concat!(
            "CAST(",
            $record,
            " || unhex(printf('%016X%016X%016X', ",
            $version,
            ", ",
            $position,
            ", ~((",
            $version,
            " | ",
            $position,
            ") & ~(",
            $version,
            " & ",
            $position,
            "))",
            ")) AS BLOB)"
        )
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
///
/// `?11` is the load record without its version and position
/// (`context::record::start`): the statement adds them (and the
/// position's check), as the record's last 24 bytes, once it has them
/// (`record_tail!`).
pub(super) const APPEND_ONE: &str = concat!(
    "INSERT INTO events (position, stream_id, version, event_id, \
     event_type, schema_version, payload, metadata, correlation_id, causation_id, recorded_at, \
     load_record) \
     SELECT next.position, ?1, head.version + 1, \
     ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ",
    record_tail!("?11", "head.version + 1", "next.position"),
    " FROM (SELECT coalesce((SELECT max(version) FROM events WHERE stream_id = ?1), 0) AS version) AS head, \
     (SELECT coalesce(max(position), 0) + 1 AS position FROM events) AS next \
     WHERE ?2 IS NULL OR head.version = ?2 \
     RETURNING position, version"
);

/// [`APPEND_ONE`] for an append with an expected version (`?2`), without
/// `INSERT ... SELECT` and `RETURNING`: each makes SQLite build a temporary
/// table per append (the select reads the table it inserts into), which
/// cost about a fifth of a single append's instructions. The version is
/// `?2 + 1` when the stream is at `?2` and NULL otherwise, so a conflict is
/// the `version` column's NOT NULL violation (nothing written); the
/// position is the row's rowid.
/// The record's position is the same `max + 1`, its version `?2 + 1` (on
/// a conflict nothing is written). The subquery is written four times (the
/// column, and three times in `record_tail!`): SQLite evaluates each once
/// per statement, a look at the last entry of the rowid tree, all inside
/// the statement's write transaction, so all four agree.
pub(super) const APPEND_ONE_EXPECTED: &str = concat!(
    "INSERT INTO events (position, stream_id, version, \
     event_id, event_type, schema_version, payload, metadata, correlation_id, causation_id, \
     recorded_at, load_record) \
     VALUES ((SELECT coalesce(max(position), 0) + 1 FROM events), ?1, \
     (SELECT CASE WHEN head = ?2 THEN head + 1 END \
      FROM (SELECT coalesce(max(version), 0) AS head FROM events WHERE stream_id = ?1)), \
     ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ",
    record_tail!(
        "?11",
        "?2 + 1",
        "(SELECT coalesce(max(position), 0) + 1 FROM events)"
    ),
    ")"
);

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
                     recorded_at, load_record) VALUES {values}"
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

/// [`LOAD`] by load record: the rows of `?1` from version `?2` on.
pub(super) const LOAD_RECORDS: &str = concat!(
    "SELECT ",
    record_columns!(),
    " FROM events WHERE stream_id = ? AND version >= ? ORDER BY version"
);

/// [`LOAD_RANGE`] by load record.
pub(super) const LOAD_RANGE_RECORDS: &str = concat!(
    "SELECT ",
    record_columns!(),
    " FROM events WHERE stream_id = ? AND version BETWEEN ? AND ? ORDER BY version"
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
