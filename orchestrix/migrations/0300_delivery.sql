-- Durable delivery: the checkpoints of the handler groups live in
-- projection_state (migration 0200, under the name `delivery:<group>`); here
-- are the events a handler gave up on, and the ids an idempotent handler has
-- processed.

-- Events a handler gave up on (after its last attempt), to be replayed or
-- discarded. One row per handler and global position.
CREATE TABLE delivery_dead_letters (
    handler         text        NOT NULL,
    handler_group   text        NOT NULL,
    position        bigint      NOT NULL,
    stream_id       text        NOT NULL,
    version         bigint      NOT NULL,
    event_type      text        NOT NULL,
    event_id        uuid,
    error           text        NOT NULL,
    attempts        integer     NOT NULL,
    first_failed_at timestamptz NOT NULL,
    parked_at       timestamptz NOT NULL,
    PRIMARY KEY (handler, position)
);

-- The events an idempotent handler has processed: at most once per event id.
-- A handler writing to this database inserts its row in its own transaction.
CREATE TABLE delivery_processed (
    handler      text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (handler, event_id)
);
