-- Projection state: one row per projection, holding its checkpoint, counts
-- and health, and the lease (owner + expiry, on the database clock) that
-- keeps two runners from applying the same events. A row may exist for the
-- lease alone before the first checkpoint is saved (has_state = false).
CREATE TABLE projection_state (
    name                text        PRIMARY KEY,
    has_state           boolean     NOT NULL DEFAULT false,
    position            bigint      NOT NULL DEFAULT 0,
    last_event_position bigint,
    last_event_id       uuid,
    processed           bigint      NOT NULL DEFAULT 0,
    failed              bigint      NOT NULL DEFAULT 0,
    healthy             boolean     NOT NULL DEFAULT true,
    last_error          text,
    head_position       bigint      NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    lease_owner         text,
    lease_expires_at    timestamptz
);

-- Events a projection gave up on, to be replayed.
CREATE TABLE projection_dead_letters (
    projection text        NOT NULL,
    position   bigint      NOT NULL,
    stream_id  text        NOT NULL,
    version    bigint      NOT NULL,
    event_type text        NOT NULL,
    event_id   uuid        NOT NULL,
    error      text        NOT NULL,
    attempts   integer     NOT NULL,
    parked_at  timestamptz NOT NULL,
    PRIMARY KEY (projection, position)
);
