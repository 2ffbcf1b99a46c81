-- Projection state on SQLite: one row per projection, holding its checkpoint,
-- counts and health, and the lease (owner + expiry in milliseconds since the
-- Unix epoch, compared with the clock SQLite reads when the statement runs)
-- that keeps two runners, in one process or two, from applying the same
-- events. A row may exist for the lease alone before the first checkpoint is
-- saved (has_state = 0).
CREATE TABLE projection_state (
    name                TEXT    PRIMARY KEY,
    has_state           INTEGER NOT NULL DEFAULT 0 CHECK (has_state IN (0, 1)),
    position            INTEGER NOT NULL DEFAULT 0 CHECK (position >= 0),
    last_event_position INTEGER,
    last_event_id       BLOB,
    processed           INTEGER NOT NULL DEFAULT 0,
    failed              INTEGER NOT NULL DEFAULT 0,
    healthy             INTEGER NOT NULL DEFAULT 1 CHECK (healthy IN (0, 1)),
    last_error          TEXT,
    head_position       INTEGER NOT NULL DEFAULT 0,
    -- Nanoseconds since the Unix epoch, UTC.
    updated_at          INTEGER NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_expires_at    INTEGER
);

-- Events a projection gave up on, to be replayed.
CREATE TABLE projection_dead_letters (
    projection TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    stream_id  TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    event_type TEXT    NOT NULL,
    event_id   BLOB    NOT NULL,
    error      TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    -- Nanoseconds since the Unix epoch, UTC.
    parked_at  INTEGER NOT NULL,
    PRIMARY KEY (projection, position)
);
