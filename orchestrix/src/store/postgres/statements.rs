//! The store's SQL, written once per schema.

use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};

use crate::postgres::SqlIdentifier;

/// Every statement the store runs, with the (validated, quoted) schema name
/// in place. Cloning a statement clones an `Arc`.
#[derive(Debug)]
pub(super) struct Statements {
    /// Whether the append statements also write the typed metadata
    /// columns ([`TYPED_COLUMNS`], bound after [`APPEND_COLUMNS`]).
    pub(super) typed_columns: bool,
    /// One event at an expected version (scalars: no arrays to encode);
    /// returns its position (no row when the stream has not reached the
    /// expected version).
    pub(super) append_one: SqlStr,
    /// Several events at an expected version; returns one row: the
    /// positions in version order (NULL when the stream has not reached
    /// the expected version).
    pub(super) append_many: SqlStr,
    /// Several events at whatever the stream's version is (no `$2`: the
    /// arrays start at `$2`); returns one row: the positions in version
    /// order and the stream's new version.
    pub(super) append_any: SqlStr,
    pub(super) load: SqlStr,
    pub(super) load_range: SqlStr,
    pub(super) global_horizon: SqlStr,
    pub(super) read_all: SqlStr,
    /// [`read_all`](Self::read_all) with the columns of a raw read.
    pub(super) read_raw: SqlStr,
    pub(super) read_filtered: SqlStr,
    pub(super) stream_version: SqlStr,
    pub(super) notify: SqlStr,
    pub(super) save_snapshot: SqlStr,
    pub(super) load_snapshot: SqlStr,
    /// The highest position stored (0 for none).
    pub(super) last_position: SqlStr,
    /// Fills the context of the version-2 rows without one whose typed
    /// columns make one, at positions `$1` to `$2`.
    pub(super) backfill_contexts: SqlStr,
    /// A stream's events at versions `$2` to `$3`, for a replay: the
    /// columns of [`REPLAY_COLUMNS`].
    pub(super) replay: SqlStr,
    /// The global position of stream `$1`'s event at version `$2` (one
    /// row: `(stream_id, version)` is unique), fetched only when a
    /// replayed payload fails to decode, so that the error names the row.
    pub(super) replay_position: SqlStr,
}

/// The condition under which a row's typed columns (schema version 2)
/// make a context: every value `built_context!` casts fits its field
/// (`recorded_at` in nanoseconds in an `i64`, the time within what the
/// compact form reads, the source set).
macro_rules! context_buildable {
    () => {
        concat!(
            "recorded_at BETWEEN '1677-09-21 00:12:43.145225+00' AND '2262-04-11 23:47:16.854775+00' ",
            "AND occurred_at > '-infinity' AND occurred_at < '10000-01-02 01:59:00+00' AND source IS NOT NULL "
        )
    };
}

/// The compact form (`store::context`) of a version-2 row, built from its
/// typed columns, where `context_buildable!` holds: integers as
/// `int8send`/`int4send` write them (big-endian), the time as UTC seconds
/// and nanoseconds with offset 0 from `extract(epoch FROM ...)` (exact
/// `numeric` from PostgreSQL 14; independent of the session's time zone),
/// the texts as UTF-8 with their lengths.
macro_rules! built_context {
    () => {
        concat!(
            "'\\x01'::bytea || int8send((extract(epoch FROM recorded_at) * 1000000000)::bigint) || ",
            "uuid_send(event_id) || uuid_send(correlation_id) || ",
            // The time as stored: UTC (offset 0), except past the end of year 9999
            // in UTC (a local time of 9999-12-31 west of UTC), given as the same
            // instant at -25:59 so its local year stays 9999.
            "int8send(floor(extract(epoch FROM occurred_at))::bigint - ",
            "CASE WHEN occurred_at >= '10000-01-01 00:00:00+00' THEN 93540 ELSE 0 END) || ",
            "int4send(((extract(epoch FROM occurred_at) - floor(extract(epoch FROM occurred_at))) * 1000000000)::integer) || ",
            "int4send(CASE WHEN occurred_at >= '10000-01-01 00:00:00+00' THEN -93540 ELSE 0 END) || ",
            "set_byte('\\x00'::bytea, 0, (causation_id IS NOT NULL)::integer + 2 * (subject IS NOT NULL)::integer ",
            "+ 4 * (datacontenttype IS NOT NULL)::integer + 8 * (dataschema IS NOT NULL)::integer) || ",
            "coalesce(uuid_send(causation_id), '\\x'::bytea) || ",
            "int4send(octet_length(convert_to(coalesce(message_type, event_type), 'UTF8'))) || ",
            "convert_to(coalesce(message_type, event_type), 'UTF8') || ",
            "int4send(octet_length(convert_to(source, 'UTF8'))) || convert_to(source, 'UTF8') || ",
            "coalesce(int4send(octet_length(convert_to(subject, 'UTF8'))) || convert_to(subject, 'UTF8'), '\\x'::bytea) || ",
            "coalesce(int4send(octet_length(convert_to(datacontenttype, 'UTF8'))) || convert_to(datacontenttype, 'UTF8'), '\\x'::bytea) || ",
            "coalesce(int4send(octet_length(convert_to(dataschema, 'UTF8'))) || convert_to(dataschema, 'UTF8'), '\\x'::bytea) "
        )
    };
}

/// The columns a decoded event needs, in the order `decode` reads them
/// (after `stream_id` when reading the global stream): six, the last the
/// event's context and the time the store accepted it, in one column
/// (`store::context`). A load copies each column of every row, so the row
/// is kept narrow.
///
/// A row stored without a context (written before migration 0003, or by a
/// program that predates it) gets one built from its other columns:
///
/// * schema version 2 (typed columns): the compact form itself, built in
///   SQL, with exact integer arithmetic that does not
///   depend on the session's time zone;
/// * schema version 1 (the `metadata` JSON Orchestrix wrote): the bytes
///   [`JSON_MARKER`] then the text `"<recorded_at in ns> <metadata JSON>"`;
/// * a version-2 row whose values make no context (an infinite or
///   NULL time, a `recorded_at` outside the nanoseconds an `i64` holds,
///   years 1677 to 2262, a NULL source; only writable past the store):
///   [`UNBUILDABLE_MARKER`] then `"<recorded_at in ns> <column> <why>"`,
///   which the decoder turns into the row's `Decode` error.
///
/// Nothing is cast to a type it could overflow unless the guard before it
/// holds, so a bad row fails alone, never the whole query. `CASE` computes
/// none of this for a row that has a context.
pub(super) const EVENT_COLUMNS: &str = concat!(
    "version, position, event_type, schema_version, payload, ",
    "CASE WHEN context IS NOT NULL THEN context ",
    "WHEN metadata IS NOT NULL THEN '\\x006a736f6e20'::bytea || ",
    "convert_to(trunc(extract(epoch FROM recorded_at) * 1000000000)::text || ' ' || metadata::text, 'UTF8') ",
    "WHEN ",
    context_buildable!(),
    " THEN ",
    built_context!(),
    " ",
    "ELSE '\\x007479706564'::bytea || convert_to(' ' || ",
    "coalesce(trunc(extract(epoch FROM recorded_at) * 1000000000)::text, 'NULL') || ' ' || ",
    "CASE WHEN source IS NULL THEN 'source is NULL' WHEN occurred_at IS NULL THEN 'occurred_at is NULL' ",
    "WHEN NOT (occurred_at > '-infinity' AND occurred_at < '10000-01-02 01:59:00+00') ",
    "THEN 'occurred_at ' || occurred_at::text || ' is out of range' ",
    "ELSE 'recorded_at ' || recorded_at::text || ' is out of range' END, 'UTF8') ",
    "END"
);

/// The columns a replay needs (`AsyncEventStore::replay`), in the order
/// `decode`'s replay reads them: the event's version, type, schema version
/// and payload. Not the context: rebuilding an aggregate reads no
/// metadata, and the context is a fifth of a row's bytes (its `CASE`, for
/// a row stored without one, builds it in the server), so a replay neither
/// sends nor decodes it. Not the global position either: a replay needs it
/// only for a `Decode` error naming the row, so the failing row's position
/// is fetched then (`replay_position`), not read from every row.
pub(super) const REPLAY_COLUMNS: &str = "version, event_type, schema_version, payload";

/// The start of what [`EVENT_COLUMNS`] selects for a version-1 row without
/// a context (a NUL byte, then `json `): no stored context starts with it
/// (the compact form starts with its format byte, 1; a damaged context
/// starting with these bytes would be read as that text, and still fail
/// as a `Decode` error naming the row).
pub(super) const JSON_MARKER: &[u8] = b"\0json ";

/// The start of what [`EVENT_COLUMNS`] selects for a version-2 row whose
/// typed columns make no context (a NUL byte, then `typed `).
pub(super) const UNBUILDABLE_MARKER: &[u8] = b"\0typed ";

/// The columns of a raw read, in the order `decode` reads them (after
/// `stream_id`): the `metadata` JSON of a row of schema version 1, the
/// typed metadata columns of a row of version 2 or 3, the context of a row
/// of version 4 (its only copy of the metadata; a row that has the typed
/// columns is read from them, so a damaged context of such a row does not
/// stop a raw read). The context is sent only for a row whose metadata
/// the decoder takes from it (no JSON, and not the typed columns it needs,
/// as `decode`'s `typed_metadata` checks them): a version-3 row's would
/// go unread.
pub(super) const RAW_COLUMNS: &str = "version, position, recorded_at, event_type, schema_version, \
     payload, metadata, event_id, source, occurred_at, subject, datacontenttype, dataschema, \
     message_type, correlation_id, causation_id, \
     CASE WHEN metadata IS NULL AND (event_id IS NULL OR correlation_id IS NULL \
          OR source IS NULL OR occurred_at IS NULL) THEN context END";

/// The columns an append writes, with the type of the parameter that
/// binds each, in the order the append statements bind them (from `$3`
/// on; `$1` is the stream, `$2` the expected version). The metadata is in
/// the context only (migration 0004): the typed columns of migration 0002
/// stay NULL (unless [`TYPED_COLUMNS`] are written too), `recorded_at`
/// takes its default.
const APPEND_COLUMNS: [(&str, &str); 4] = [
    ("event_type", "text"),
    ("schema_version", "integer"),
    ("payload", "text"),
    ("context", "bytea"),
];

/// The typed metadata columns of migration 0002, bound after
/// [`APPEND_COLUMNS`] by a store told to write them too
/// (`write_typed_metadata_columns`): the same metadata as the context, as
/// appends of schema versions 2 and 3 wrote it, for processes of those
/// versions and SQL that read these columns.
const TYPED_COLUMNS: [(&str, &str); 9] = [
    ("event_id", "uuid"),
    ("message_type", "text"),
    ("source", "text"),
    ("occurred_at", "timestamptz"),
    ("subject", "text"),
    ("datacontenttype", "text"),
    ("dataschema", "text"),
    ("correlation_id", "uuid"),
    ("causation_id", "uuid"),
];

/// The value an append inserts into `column` from `value` (a parameter or
/// an `unnest` column): the payload's text as `jsonb`, the context with
/// the time the store accepts the event put in.
fn inserted(column: &str, value: &str) -> String {
    match column {
        "payload" => format!("{value}::jsonb"),
        "context" => with_recorded_at(&format!("{value}::bytea")),
        _ => value.to_owned(),
    }
}

/// The time the store accepts an append's events, as the context holds it:
/// the transaction's `now()`, the `recorded_at` column's default, in
/// nanoseconds (the compact form's bytes 2 to 9, as `int8send` writes
/// them). Computed once per statement, in the `registered` subquery (its
/// column [`RECORDED_AT`]): per row, its `numeric` arithmetic cost more
/// than the rest of the context's handling.
const RECORDED_AT_BYTES: &str = "int8send(trunc(extract(epoch FROM now()) * 1000000000)::bigint)";

/// The `registered` subquery's column holding [`RECORDED_AT_BYTES`].
const RECORDED_AT: &str = "registered.recorded_at";

/// The context an append binds (`context::encode`, its `recorded_at`
/// left 0) with the time the store accepts the event put in
/// ([`RECORDED_AT`]).
fn with_recorded_at(context: &str) -> String {
    format!("overlay({context} placing {RECORDED_AT} from 2 for 8)")
}

impl Statements {
    /// The statements for `schema`; appends also write the typed metadata
    /// columns when `typed_columns` is set.
    pub(super) fn new(schema: &SqlIdentifier, typed_columns: bool) -> Self {
        let s = schema.quoted();
        let sql = |text: String| AssertSqlSafe(text).into_sql_str();
        // The append's registration as in flight (see migration 0002,
        // `global_horizon`): a shared advisory lock on the next position,
        // taken before any position is drawn. Every inserted row joins this
        // one-row subquery, so no `nextval` runs before it; OFFSET 0 keeps
        // it from being flattened into the rows. Computing it once (the
        // lock, and the time the contexts get, `RECORDED_AT`) is then the
        // plan's doing, not a rule of SQL: checked with `EXPLAIN ANALYZE`
        // (`loops=1`, under a `Materialize` or as the join's outer side,
        // custom and generic plans). A rescan would change nothing a
        // reader sees: `now()` is the same all transaction long, and the
        // lock is shared and taken again by the same transaction.
        //
        // The next position, k: `pg_sequence_last_value` reads the
        // sequence's last value as a `SELECT` from the sequence would, for
        // fewer of the server's instructions (no scan node over the
        // sequence relation: about 3 % of a single append's statement,
        // docs/performance.md). It is an undocumented catalog-support
        // function of PostgreSQL (it backs the `pg_sequences` view; present
        // since PostgreSQL 10, NULL while the sequence is not called); it
        // needs SELECT or USAGE on the sequence, where the `SELECT` needed
        // SELECT. Should its signature ever change, this statement fails
        // to prepare: loudly, never a skip.
        //
        // Why the key is safe whatever the function returns: when it is
        // not NULL (the sequence is called), k is exactly the next value,
        // as before. Any NULL, whatever its cause (not called yet, a
        // `setval(.., false)`, `ALTER SEQUENCE .. RESTART`, or a newer
        // PostgreSQL's answer to a role without privileges), gives k = 1,
        // and 1 is <= every position (positions are >= 1): a lower key
        // costs readers a wait, never a skip, and a reader whose horizon
        // is >= 1 waits for it. The key must never be above the first
        // position the append draws: a reader waits only for keys up to
        // its horizon and then reports having looked through that horizon
        // (a page's `scanned_through`), so a key one too high would let a
        // follower move past a position that commits later (pinned by
        // `a_page_read_waits_for_the_first_position_of_an_append_in_flight`).
        // Without the `coalesce` the key would be NULL and
        // `pg_advisory_xact_lock_shared` (strict) would register nothing.
        let registered = format!(
            "(SELECT pg_advisory_xact_lock_shared({s}.in_flight_tag() | \
                 (coalesce(pg_sequence_last_value('{s}.event_positions'::regclass), 0) + 1)) AS locked, \
                 {RECORDED_AT_BYTES} AS recorded_at OFFSET 0) registered"
        );
        // The expected version $2 must be the stream's version: here the
        // stream must have reached it (a one-time filter: when it fails,
        // nothing is registered, drawn or inserted), and the unique
        // (stream_id, version) constraint refuses the insert when another
        // append got there first.
        let reached = format!(
            "($2 = 0 OR EXISTS (SELECT 1 FROM {s}.events c WHERE c.stream_id = $1 AND c.version = $2))"
        );
        // The columns an append writes: with the typed metadata columns
        // too when asked.
        let columns: Vec<(&str, &str)> = if typed_columns {
            APPEND_COLUMNS
                .iter()
                .chain(&TYPED_COLUMNS)
                .copied()
                .collect()
        } else {
            APPEND_COLUMNS.to_vec()
        };
        let names = columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ");
        // One event's values, as scalars from parameter `$3` on.
        let scalars = (3..)
            .zip(&columns)
            .map(|(n, (name, _))| inserted(name, &format!("${n}")))
            .collect::<Vec<_>>()
            .join(", ");
        // The events' columns as arrays, from parameter `$first` on.
        let unnest = |first: usize| {
            let arrays: Vec<String> = (first..)
                .zip(&columns)
                .map(|(n, (_, ty))| format!("${n}::{ty}[]"))
                .collect();
            format!(
                "unnest({}) WITH ORDINALITY AS e({names}, n)",
                arrays.join(", ")
            )
        };
        let from_unnest = columns
            .iter()
            .map(|(name, _)| inserted(name, &format!("e.{name}")))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            typed_columns,
            append_one: sql(format!(
                "INSERT INTO {s}.events (position, stream_id, version, {names}) \
                 SELECT nextval('{s}.event_positions'), $1, $2 + 1, {scalars} \
                   FROM {registered} WHERE {reached} \
                 RETURNING position"
            )),
            // A batch returns one row, its positions in one array (NULL when
            // nothing was inserted): one value for the client to decode
            // instead of a row per event. The array is in version order,
            // as `AppendOutcome::positions` promises (the positions are
            // drawn in that order too, `ORDER BY e.n`).
            append_many: sql(format!(
                "WITH appended AS (\
                 INSERT INTO {s}.events (position, stream_id, version, {names}) \
                 SELECT nextval('{s}.event_positions'), $1, $2 + e.n, {from_unnest} \
                   FROM {registered}, {} WHERE {reached} ORDER BY e.n \
                 RETURNING position, version) \
                 SELECT array_agg(position ORDER BY version) FROM appended",
                unnest(3)
            )),
            append_any: sql(format!(
                "WITH appended AS (\
                 INSERT INTO {s}.events (position, stream_id, version, {names}) \
                 SELECT nextval('{s}.event_positions'), $1, current.version + e.n, {from_unnest} \
                   FROM (SELECT coalesce(max(c.version), 0) AS version FROM {s}.events c \
                          WHERE c.stream_id = $1) current, \
                        {registered}, {} ORDER BY e.n \
                 RETURNING position, version) \
                 SELECT array_agg(position ORDER BY version), max(version) FROM appended",
                unnest(2)
            )),
            // No `ORDER BY`: the rows come in the order the plan reads them
            // and `fetch_stream` puts them in version order (see there).
            load: sql(format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE stream_id = $1 AND version >= $2"
            )),
            load_range: sql(format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events \
                 WHERE stream_id = $1 AND version BETWEEN $2 AND $3"
            )),
            global_horizon: sql(format!("SELECT {s}.global_horizon()")),
            read_all: sql(format!(
                "SELECT stream_id, {EVENT_COLUMNS} FROM {s}.events \
                 WHERE position BETWEEN $1 AND $2 ORDER BY position LIMIT $3"
            )),
            read_raw: sql(format!(
                "SELECT stream_id, {RAW_COLUMNS} FROM {s}.events \
                 WHERE position BETWEEN $1 AND $2 ORDER BY position LIMIT $3"
            )),
            read_filtered: sql(format!(
                "SELECT stream_id, {EVENT_COLUMNS} FROM {s}.events \
                 WHERE position BETWEEN $1 AND $2 AND event_type = ANY($4) ORDER BY position LIMIT $3"
            )),
            stream_version: sql(format!(
                "SELECT coalesce(max(version), 0)::bigint FROM {s}.events WHERE stream_id = $1"
            )),
            // Its own transaction, committed without waiting for a flush:
            // see `notify`.
            notify: sql(
                "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)"
                    .to_owned(),
            ),
            save_snapshot: sql(format!(
                "INSERT INTO {s}.snapshots (aggregate_id, aggregate_type, version, state, taken_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (aggregate_id) DO UPDATE SET aggregate_type = excluded.aggregate_type, \
                 version = excluded.version, state = excluded.state, taken_at = excluded.taken_at \
                 WHERE snapshots.version <= excluded.version"
            )),
            last_position: sql(format!(
                "SELECT coalesce(max(position), 0)::bigint FROM {s}.events"
            )),
            backfill_contexts: sql(format!(
                "UPDATE {s}.events SET context = {} \
                 WHERE position BETWEEN $1 AND $2 AND context IS NULL AND metadata IS NULL AND {}",
                built_context!(),
                context_buildable!()
            )),
            load_snapshot: sql(format!(
                "SELECT aggregate_type, version, state::text, taken_at FROM {s}.snapshots WHERE aggregate_id = $1"
            )),
            // No `ORDER BY`, as `load`: the replay puts the rows in version
            // order (see `replay_stream`).
            replay: sql(format!(
                "SELECT {REPLAY_COLUMNS} FROM {s}.events \
                 WHERE stream_id = $1 AND version BETWEEN $2 AND $3"
            )),
            replay_position: sql(format!(
                "SELECT position FROM {s}.events WHERE stream_id = $1 AND version = $2"
            )),
        }
    }
}
