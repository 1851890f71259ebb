-- The webhooks crate's tables, beside the store's in the same database. The same DDL runs on
-- PostgreSQL and SQLite: TEXT, BIGINT and BOOLEAN columns; ids are hyphenated UUIDs; times
-- are BIGINT microseconds since the Unix epoch. See webhooks/src/lib.rs for the design.

-- A region's subscriptions. The signing secret is stored only sealed with the server key
-- (XChaCha20-Poly1305, the id as associated data); secret_key_id names the key that sealed it.
-- start_after: the log's head at registration; the subscription receives later events only.
CREATE TABLE webhook_subscriptions (
    id                  TEXT    PRIMARY KEY,
    region              TEXT    NOT NULL,
    url                 TEXT    NOT NULL,
    event_types         TEXT    NOT NULL,
    description         TEXT,
    active              BOOLEAN NOT NULL,
    start_after         BIGINT  NOT NULL CHECK (start_after >= 0),
    secret_key_id       TEXT    NOT NULL,
    secret_sealed       TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    created_by          TEXT    NOT NULL,
    deactivated_at      BIGINT,
    deactivated_by      TEXT,
    deactivation_reason TEXT
);
CREATE INDEX webhook_subscriptions_region ON webhook_subscriptions (region, id);

-- One row: the outbox projector's checkpoint (every event up to here has its outbox rows),
-- moved by compare-and-set in the transaction that inserts the rows.
CREATE TABLE webhook_projector (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    position   BIGINT NOT NULL CHECK (position >= 0),
    updated_at BIGINT NOT NULL,
    last_error TEXT
);
INSERT INTO webhook_projector (id, position, updated_at, last_error) VALUES (1, 0, 0, NULL);

-- The outbox: one row per (subscription, event). No payload: the body is rendered from the
-- store at each attempt. A row in 'delivering' is leased to a worker until lease_until.
CREATE TABLE webhook_deliveries (
    id              TEXT   PRIMARY KEY,
    subscription_id TEXT   NOT NULL REFERENCES webhook_subscriptions (id),
    position        BIGINT NOT NULL CHECK (position >= 1),
    event_id        TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    stream_type     TEXT   NOT NULL,
    stream_id       TEXT   NOT NULL,
    status          TEXT   NOT NULL
        CHECK (status IN ('pending', 'delivering', 'delivered', 'parked', 'skipped')),
    attempts        BIGINT NOT NULL CHECK (attempts >= 0),
    next_attempt_at BIGINT NOT NULL,
    lease_token     TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    claimed_at      BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (subscription_id, position)
);
-- Claiming: due pending rows.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- Per-stream order: earlier rows of the same subscription and stream.
CREATE INDEX webhook_deliveries_stream
    ON webhook_deliveries (subscription_id, stream_type, stream_id, position);
-- The lease sweep.
CREATE INDEX webhook_deliveries_leases ON webhook_deliveries (lease_until)
    WHERE status = 'delivering';

-- The delivery log: every attempt (time, duration, status code or error, outcome, worker).
-- Never the body, the secret or the signature.
CREATE TABLE webhook_attempts (
    id          TEXT   PRIMARY KEY,
    delivery_id TEXT   NOT NULL REFERENCES webhook_deliveries (id),
    attempt     BIGINT NOT NULL CHECK (attempt >= 1),
    started_at  BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL CHECK (duration_ms >= 0),
    status_code BIGINT,
    error       TEXT,
    outcome     TEXT   NOT NULL CHECK (outcome IN ('delivered', 'failed', 'abandoned')),
    worker      TEXT   NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Who redelivered or skipped a delivery, and from which status.
CREATE TABLE webhook_interventions (
    id           TEXT   PRIMARY KEY,
    delivery_id  TEXT   NOT NULL REFERENCES webhook_deliveries (id),
    action       TEXT   NOT NULL CHECK (action IN ('redeliver', 'skip')),
    from_status  TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    requested_by TEXT   NOT NULL
);
CREATE INDEX webhook_interventions_delivery ON webhook_interventions (delivery_id, id);
