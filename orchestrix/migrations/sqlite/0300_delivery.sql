-- Durable delivery on SQLite: the checkpoints of the handler groups live in
-- projection_state (migration 200, under the name `delivery:<group>`); here
-- are the events a handler gave up on, and the ids an idempotent handler has
-- processed.

-- Events a handler gave up on (after its last attempt), to be replayed or
-- discarded. One row per handler and global position.
CREATE TABLE delivery_dead_letters (
    handler         TEXT    NOT NULL,
    handler_group   TEXT    NOT NULL,
    position        INTEGER NOT NULL,
    stream_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    -- NULL for an event that does not decode.
    event_id        BLOB,
    error           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    -- Nanoseconds since the Unix epoch, UTC.
    first_failed_at INTEGER NOT NULL,
    parked_at       INTEGER NOT NULL,
    PRIMARY KEY (handler, position)
);

-- The events an idempotent handler has processed: at most once per event id.
-- A handler writing to this file inserts its row in its own transaction.
CREATE TABLE delivery_processed (
    handler      TEXT    NOT NULL,
    event_id     BLOB    NOT NULL,
    -- Nanoseconds since the Unix epoch, UTC (to the millisecond).
    processed_at INTEGER NOT NULL
        DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000000),
    PRIMARY KEY (handler, event_id)
) WITHOUT ROWID;
