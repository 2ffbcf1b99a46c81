//! The store's SQL, written once per schema.

use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};

use crate::postgres::SqlIdentifier;

/// Every statement the store runs, with the (validated, quoted) schema name
/// in place. Cloning a statement clones an `Arc`.
#[derive(Debug)]
pub(super) struct Statements {
    /// One event at an expected version (scalars: no arrays to encode).
    pub(super) append_one: SqlStr,
    /// Several events at an expected version.
    pub(super) append_many: SqlStr,
    /// Several events at whatever the stream's version is (no `$2`: the
    /// arrays start at `$2`).
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
}

/// The columns a decoded event needs, in the order `decode` reads them
/// (after `stream_id` when reading the global stream): six, the last the
/// event's context and the time the store accepted it, in one column
/// (`store::context`). A load copies each column of every row, so the row
/// is kept narrow.
///
/// A row stored without a context (written before migration 0003, or by a
/// program that predates it) gets the text `"<recorded_at> <metadata
/// JSON>"` there instead, as bytes (`decode` tells the two apart by their
/// first byte): its `metadata` JSON (schema version 1) or that JSON built
/// from its typed columns (version 2), decoded by the same code. Built in
/// text, never in a form that could overflow: a row whose values are out
/// of range (written past the store) fails alone, as a `Decode` error
/// naming it, never the whole load. `coalesce` computes none of this for
/// a row that has a context.
pub(super) const EVENT_COLUMNS: &str = "version, position, event_type, schema_version, payload, \
     coalesce(context, convert_to(trunc(extract(epoch FROM recorded_at) * 1000000000)::text || ' ' || \
       coalesce(metadata::text, json_build_object('id', event_id, 'specversion', '1.0', \
         'type', coalesce(message_type, event_type), 'source', source, 'time', occurred_at, \
         'subject', subject, 'datacontenttype', datacontenttype, 'dataschema', dataschema, \
         'correlationid', correlation_id, 'causationid', causation_id)::text), 'UTF8'))";

/// The columns of a raw read, in the order `decode` reads them (after
/// `stream_id`): the typed metadata columns, or the `metadata` JSON of a
/// row of schema version 1. Never the context: a damaged one does not stop
/// a raw read.
pub(super) const RAW_COLUMNS: &str = "version, position, recorded_at, event_type, schema_version, \
     payload, metadata, event_id, source, occurred_at, subject, datacontenttype, dataschema, \
     message_type, correlation_id, causation_id";

/// The columns an append writes, in the order the append statements bind
/// them (from `$3` on; `$1` is the stream, `$2` the expected version). The
/// typed metadata columns and the context hold the same metadata: the
/// typed columns for SQL, filters, raw reads and processes of an earlier
/// version during a rolling upgrade, the context for loads.
const APPEND_COLUMNS: &str = "event_id, event_type, schema_version, payload, message_type, source, \
     occurred_at, subject, datacontenttype, dataschema, correlation_id, causation_id, context";

/// The context an append binds (`context::encode`, its `recorded_at`
/// left 0) with the time the store accepts the event put in: the
/// transaction's `now()`, the `recorded_at` column's default, in
/// nanoseconds (the compact form's bytes 2 to 9, as `int8send` writes
/// them).
fn accepted(context: &str) -> String {
    format!(
        "overlay({context} placing int8send(trunc(extract(epoch FROM now()) * 1000000000)::bigint) \
         from 2 for 8)"
    )
}

impl Statements {
    pub(super) fn new(schema: &SqlIdentifier) -> Self {
        let s = schema.quoted();
        let sql = |text: String| AssertSqlSafe(text).into_sql_str();
        // The append's registration as in flight (see migration 0002,
        // `global_horizon`): a shared advisory lock on the next position,
        // taken before any position is drawn. Every inserted row joins this
        // one-row subquery, so no `nextval` runs before it; OFFSET 0 keeps
        // it from being flattened.
        let registered = format!(
            "(SELECT pg_advisory_xact_lock_shared({s}.in_flight_tag() | \
                 (SELECT CASE WHEN q.is_called THEN q.last_value + 1 ELSE q.last_value END \
                    FROM {s}.event_positions q)) OFFSET 0) registered"
        );
        // The expected version $2 must be the stream's version: here the
        // stream must have reached it (a one-time filter: when it fails,
        // nothing is registered, drawn or inserted), and the unique
        // (stream_id, version) constraint refuses the insert when another
        // append got there first.
        let reached = format!(
            "($2 = 0 OR EXISTS (SELECT 1 FROM {s}.events c WHERE c.stream_id = $1 AND c.version = $2))"
        );
        // The events' columns as arrays, from parameter `$first` on.
        let unnest = |first: usize| {
            let types = [
                "uuid",
                "text",
                "integer",
                "text",
                "text",
                "text",
                "timestamptz",
                "text",
                "text",
                "text",
                "uuid",
                "uuid",
                "bytea",
            ];
            let arrays: Vec<String> = (first..)
                .zip(types)
                .map(|(n, ty)| format!("${n}::{ty}[]"))
                .collect();
            format!(
                "unnest({}) WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, \
                 message_type, source, occurred_at, subject, datacontenttype, dataschema, \
                 correlation_id, causation_id, context, n)",
                arrays.join(", ")
            )
        };
        let from_unnest = format!(
            "e.event_id, e.event_type, e.schema_version, e.payload::jsonb, e.message_type, \
             e.source, e.occurred_at, e.subject, e.datacontenttype, e.dataschema, \
             e.correlation_id, e.causation_id, {}",
            accepted("e.context")
        );
        Self {
            append_one: sql(format!(
                "INSERT INTO {s}.events (position, stream_id, version, {APPEND_COLUMNS}) \
                 SELECT nextval('{s}.event_positions'), $1, $2 + 1, $3, $4, $5, $6::jsonb, $7, $8, $9, \
                        $10, $11, $12, $13, $14, {} \
                   FROM {registered} WHERE {reached} \
                 RETURNING position",
                accepted("$15::bytea")
            )),
            append_many: sql(format!(
                "INSERT INTO {s}.events (position, stream_id, version, {APPEND_COLUMNS}) \
                 SELECT nextval('{s}.event_positions'), $1, $2 + e.n, {from_unnest} \
                   FROM {registered}, {} WHERE {reached} ORDER BY e.n \
                 RETURNING position",
                unnest(3)
            )),
            append_any: sql(format!(
                "INSERT INTO {s}.events (position, stream_id, version, {APPEND_COLUMNS}) \
                 SELECT nextval('{s}.event_positions'), $1, current.version + e.n, {from_unnest} \
                   FROM (SELECT coalesce(max(c.version), 0) AS version FROM {s}.events c \
                          WHERE c.stream_id = $1) current, \
                        {registered}, {} ORDER BY e.n \
                 RETURNING position, version",
                unnest(2)
            )),
            load: sql(format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events \
                 WHERE stream_id = $1 AND version >= $2 ORDER BY version"
            )),
            load_range: sql(format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events \
                 WHERE stream_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version"
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
            load_snapshot: sql(format!(
                "SELECT aggregate_type, version, state::text, taken_at FROM {s}.snapshots WHERE aggregate_id = $1"
            )),
        }
    }
}
