-- Orchestrix event store, version 1.
-- Runs with search_path set to the store's schema; {{schema}} is the quoted schema name.

-- Global positions. Drawn only after the expected-version check passed, so a
-- lost race burns none; an append that fails later may leave a gap.
CREATE SEQUENCE event_positions AS bigint MINVALUE 1 MAXVALUE 281474976710655;

CREATE TABLE events (
    -- Global position (see event_positions and read_all_events).
    position        bigint      PRIMARY KEY CHECK (position >= 1),
    stream_id       text        NOT NULL,
    version         bigint      NOT NULL CHECK (version >= 1),
    event_id        uuid        NOT NULL,
    -- The registered event name and the schema version of its payload.
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    payload         jsonb       NOT NULL,
    -- The CloudEvents context (id, specversion, type, source, time, subject, ...).
    metadata        jsonb       NOT NULL,
    correlation_id  uuid        NOT NULL,
    causation_id    uuid,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- Loading a stream reads this index; a duplicate version is a concurrency conflict.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE TABLE snapshots (
    aggregate_id    text        PRIMARY KEY,
    aggregate_type  text        NOT NULL,
    version         bigint      NOT NULL CHECK (version >= 0),
    state           jsonb       NOT NULL,
    taken_at        timestamptz NOT NULL
);

-- The advisory-lock key space of this schema's in-flight appends: a 15-bit
-- tag of the schema name in bits 48..62, a position in bits 0..47.
CREATE FUNCTION in_flight_tag() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (hashtext('orchestrix.in-flight.' || {{schema_literal}}) & 32767)::bigint << 48
$$;

-- Appends events to one stream in a single call (one round trip).
--
-- 1. Checks the expected version without any lock: a writer that lost a race
--    gives up at once.
-- 2. Takes the stream's lock (a transaction-scoped advisory lock on a hash
--    of the stream id): writers to one stream commit one after the other,
--    writers to different streams do not wait for each other.
-- 3. Checks the version again under that lock (authoritative).
-- 4. Registers as "in flight from position k on", k being the next value of
--    event_positions, with a shared advisory lock on (tag | k) held until
--    commit, and only then draws its positions (all >= k).
-- 5. Inserts every event with one INSERT ... SELECT unnest(...).
--
-- applied = false means a version conflict; stream_version is then the
-- stream's actual version. p_expected NULL appends whatever the version.
CREATE FUNCTION append_events(
    p_stream_id        text,
    p_expected         bigint,
    p_event_ids        uuid[],
    p_event_types      text[],
    p_schema_versions  integer[],
    p_payloads         text[],
    p_metadata         text[],
    p_correlation_ids  uuid[],
    p_causation_ids    uuid[],
    OUT applied        boolean,
    OUT stream_version bigint,
    OUT positions      bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint := coalesce(cardinality(p_event_ids), 0);
    v_next  bigint;
BEGIN
    IF p_expected IS NOT NULL THEN
        SELECT coalesce(max(e.version), 0) INTO stream_version
          FROM {{schema}}.events e WHERE e.stream_id = p_stream_id;
        IF stream_version <> p_expected THEN
            applied := false;
            RETURN;
        END IF;
    END IF;

    IF v_count > 0 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('orchestrix.stream.' || {{schema_literal}} || '.' || p_stream_id, 0));
    END IF;

    SELECT coalesce(max(e.version), 0) INTO stream_version
      FROM {{schema}}.events e WHERE e.stream_id = p_stream_id;
    IF p_expected IS NOT NULL AND stream_version <> p_expected THEN
        applied := false;
        RETURN;
    END IF;
    applied := true;
    IF v_count = 0 THEN
        RETURN;
    END IF;

    SELECT CASE WHEN s.is_called THEN s.last_value + 1 ELSE s.last_value END INTO v_next
      FROM {{schema}}.event_positions s;
    PERFORM pg_advisory_xact_lock_shared({{schema}}.in_flight_tag() | v_next);

    WITH inserted AS (
        INSERT INTO {{schema}}.events (position, stream_id, version, event_id, event_type, schema_version,
                                       payload, metadata, correlation_id, causation_id)
        SELECT nextval('{{schema}}.event_positions'), p_stream_id, stream_version + e.n, e.event_id,
               e.event_type, e.schema_version, e.payload::jsonb, e.metadata::jsonb, e.correlation_id,
               e.causation_id
          FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads, p_metadata,
                      p_correlation_ids, p_causation_ids)
               WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata,
                                    correlation_id, causation_id, n)
         ORDER BY e.n
        RETURNING version, position
    )
    SELECT array_agg(i.position ORDER BY i.version) INTO positions FROM inserted i;
    stream_version := stream_version + v_count;
END;
$$;

-- Reads the global stream from p_from, at most p_limit events, never past an
-- event that a slower append could still commit before.
--
-- 1. v_last: the last position handed out so far.
-- 2. Every append still in flight that may hold a position <= v_last is
--    registered (step 4 above) under a key <= v_last: wait for each to end,
--    by taking its key exclusively (in key order, so readers never deadlock).
--    Appends registering later draw positions > v_last.
-- 3. Read, with a fresh snapshot, the events up to v_last: all of them have
--    committed or never will.
CREATE FUNCTION read_all_events(p_from bigint, p_limit bigint)
RETURNS TABLE (r_stream_id text, r_version bigint, r_position bigint, r_recorded_at timestamptz,
               r_event_type text, r_schema_version integer, r_payload text, r_metadata text)
LANGUAGE plpgsql AS $$
DECLARE
    v_tag  bigint := {{schema}}.in_flight_tag();
    v_last bigint;
    v_key  bigint;
BEGIN
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END INTO v_last
      FROM {{schema}}.event_positions s;
    IF v_last < p_from THEN
        RETURN;
    END IF;
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
    RETURN QUERY
        SELECT e.stream_id, e.version, e.position, e.recorded_at, e.event_type, e.schema_version,
               e.payload::text, e.metadata::text
          FROM {{schema}}.events e
         WHERE e.position >= p_from AND e.position <= v_last
         ORDER BY e.position
         LIMIT p_limit;
END;
$$;
