-- Orchestrix event store, version 1.
-- Runs with search_path set to the store's schema; {{schema}} is the quoted schema name.

CREATE TABLE events (
    -- Global position: gapless, assigned under the append lock (see append_events).
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

-- Appends events to one stream in a single call (one round trip).
--
-- 1. Checks the expected version without any lock, so a writer that lost a
--    race gives up at once and never queues on the global lock.
-- 2. Takes the store's append lock (a transaction-scoped advisory lock), so
--    appends are serialised from here to their commit: positions are handed
--    out in commit order, and a reader can never see position n+1 while n
--    is still in flight.
-- 3. Checks the expected version again under the lock (authoritative), then
--    numbers the events after the stream's last version and the store's
--    last position, and inserts them all with one INSERT ... SELECT unnest.
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
    OUT first_position bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint := coalesce(cardinality(p_event_ids), 0);
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
        PERFORM pg_advisory_xact_lock(hashtextextended('orchestrix.append.' || {{schema_literal}}, 0));
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

    SELECT coalesce(max(e.position), 0) + 1 INTO first_position FROM {{schema}}.events e;
    INSERT INTO {{schema}}.events (position, stream_id, version, event_id, event_type, schema_version,
                                   payload, metadata, correlation_id, causation_id)
    SELECT first_position + e.n - 1, p_stream_id, stream_version + e.n, e.event_id, e.event_type,
           e.schema_version, e.payload::jsonb, e.metadata::jsonb, e.correlation_id, e.causation_id
      FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads, p_metadata,
                  p_correlation_ids, p_causation_ids)
           WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata,
                                correlation_id, causation_id, n);
    stream_version := stream_version + v_count;
END;
$$;
