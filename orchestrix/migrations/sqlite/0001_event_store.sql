-- Orchestrix event store on SQLite, version 1.

CREATE TABLE events (
    -- Global position: the rowid. Assigned as max(position) + 1 inside the
    -- append's write transaction; SQLite lets one write transaction run at a
    -- time, so positions are handed out and committed in one order, without
    -- gaps (a rolled-back append hands its positions to the next one).
    position        INTEGER PRIMARY KEY CHECK (position >= 1),
    stream_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    event_id        BLOB    NOT NULL,
    -- The registered event name and the schema version of its payload.
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    -- JSON text.
    payload         TEXT    NOT NULL,
    -- The CloudEvents context (id, specversion, type, source, time, subject, ...), JSON text.
    metadata        TEXT    NOT NULL,
    correlation_id  BLOB    NOT NULL,
    causation_id    BLOB,
    -- When the store accepted it: nanoseconds since the Unix epoch, UTC.
    recorded_at     INTEGER NOT NULL,
    -- Loading a stream reads this index; a duplicate version is a concurrency conflict.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE TABLE snapshots (
    aggregate_id    TEXT    PRIMARY KEY,
    aggregate_type  TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 0),
    -- JSON text.
    state           TEXT    NOT NULL,
    -- Nanoseconds since the Unix epoch, UTC.
    taken_at        INTEGER NOT NULL
);
