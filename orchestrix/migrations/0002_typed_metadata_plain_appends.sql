-- Orchestrix event store, version 2: the CloudEvents context in typed
-- columns, appends as one plain statement (no server-side function), an
-- index for reads filtered by event type.
-- Runs with search_path set to the store's schema; {{schema}} is the quoted
-- schema name. Upgrades a version-1 schema in place.

-- 1. The metadata every event has, in typed columns: cheap to write (no
--    JSON parsed into jsonb) and to read (no JSON decoded). Rows written by
--    version 1 keep their whole context in `metadata` and NULL here; rows
--    written from now on have `metadata` NULL. `message_type` is set only
--    when the CloudEvents type differs from `event_type`. The time keeps
--    microseconds, in UTC (what timestamptz holds).
ALTER TABLE events
    ALTER COLUMN metadata DROP NOT NULL,
    ADD COLUMN source          text,
    ADD COLUMN occurred_at     timestamptz,
    ADD COLUMN subject         text,
    ADD COLUMN datacontenttype text,
    ADD COLUMN dataschema      text,
    ADD COLUMN message_type    text;

-- Every row has its context one way or the other (NOT VALID: the rows of
-- version 1 all have `metadata`, no need to scan them).
ALTER TABLE events
    ADD CONSTRAINT events_context_present
    CHECK (metadata IS NOT NULL OR (source IS NOT NULL AND occurred_at IS NOT NULL)) NOT VALID;

-- 2. Reads of the global stream filtered by event type walk this index, so
--    events of other types are never fetched.
CREATE INDEX events_type_position ON events (event_type, position);

-- 3. The reader side of the no-skip promise, without the read: the highest
--    position a reader of the global stream may read up to.
--
--    Every append registers itself, in the statement that appends, with a
--    shared transaction-scoped advisory lock on (in_flight_tag() | k), k
--    being the next value of event_positions at that moment, taken before
--    the append draws its positions (so all of them are >= k), and held
--    until it commits or rolls back.
--
--    1. v_last: the last position handed out so far.
--    2. Every append still in flight that may hold a position <= v_last
--       registered under a key <= v_last before v_last was handed out: wait
--       for each to end, by taking its key exclusively (in key order, so
--       readers never deadlock). Appends registering later draw positions
--       > v_last.
--    3. Return v_last: every event up to it has committed or never will, so
--       a statement that starts after this one returns sees all of them.
--
--    The tag is a 15-bit hash of the schema name: two schemas of one
--    database may share it, which only makes a reader also wait for the
--    other schema's appends (never read less).
CREATE FUNCTION global_horizon() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_tag  bigint := {{schema}}.in_flight_tag();
    v_last bigint;
    v_key  bigint;
BEGIN
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END INTO v_last
      FROM {{schema}}.event_positions s;
    FOR v_key IN
        SELECT DISTINCT k.key FROM (
            SELECT (l.classid::bigint << 32) | l.objid::bigint AS key
              FROM pg_locks l
             WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.mode = 'ShareLock'
               AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
        ) k
         WHERE k.key >= v_tag AND k.key <= v_tag + v_last
         ORDER BY k.key
    LOOP
        PERFORM pg_advisory_xact_lock(v_key);
    END LOOP;
    RETURN v_last;
END;
$$;

-- append_events and read_all_events (version 1) stay for processes still
-- running version 1 during a rolling upgrade: rows appended through
-- append_events are still read (they carry `metadata`).
