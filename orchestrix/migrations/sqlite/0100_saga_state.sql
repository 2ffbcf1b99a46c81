-- Saga state on SQLite: one row per saga, written after every transition.
-- Steps are kept as one JSON array (one UPDATE per transition); the lease
-- (owner + expiry in milliseconds since the Unix epoch, compared with the
-- clock SQLite reads when the statement runs) keeps two tasks or processes
-- from running one saga: it is taken and checked with conditional UPDATEs.
CREATE TABLE saga_state (
    saga_id            TEXT    PRIMARY KEY,
    saga_type          TEXT    NOT NULL,
    status             TEXT    NOT NULL
        CHECK (status IN ('running', 'compensating', 'completed', 'compensated', 'failed')),
    data               TEXT    NOT NULL,
    steps              TEXT    NOT NULL,
    error              TEXT,
    compensation_error TEXT,
    lease_owner        TEXT,
    lease_expires_at   INTEGER,
    -- Nanoseconds since the Unix epoch, UTC.
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- Recovery lists the unfinished sagas, oldest first.
CREATE INDEX saga_state_unfinished ON saga_state (created_at, saga_id)
    WHERE status IN ('running', 'compensating');
