-- Saga state: one row per saga, written after every transition.
-- Steps are kept as one JSONB array (one UPDATE per transition); the lease
-- (owner + expiry, on the database clock) keeps two processes from running
-- one saga: it is taken and checked with conditional UPDATEs.
CREATE TABLE saga_state (
    saga_id            text        PRIMARY KEY,
    saga_type          text        NOT NULL,
    status             text        NOT NULL
        CHECK (status IN ('running', 'compensating', 'completed', 'compensated', 'failed')),
    data               jsonb       NOT NULL,
    steps              jsonb       NOT NULL,
    error              text,
    compensation_error text,
    lease_owner        text,
    lease_expires_at   timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- Recovery lists the unfinished sagas, oldest first.
CREATE INDEX saga_state_unfinished ON saga_state (created_at, saga_id)
    WHERE status IN ('running', 'compensating');
