-- Anslut's event log (PostgreSQL). See store/src/lib.rs and docs/adr/001-global-order.md.

-- Every event ever appended, in one global order. Append-only (see the triggers below).
CREATE TABLE events (
    -- Dense global order 1, 2, 3, ...: assigned under the log_head row lock, so commit order
    -- equals position order and a reader never sees a later position before an earlier one.
    position           BIGINT      PRIMARY KEY CHECK (position >= 1),
    stream_type        TEXT        NOT NULL,
    stream_id          TEXT        NOT NULL,
    -- 1-based within the stream.
    version            BIGINT      NOT NULL CHECK (version >= 1),
    event_id           UUID        NOT NULL UNIQUE,
    event_type         TEXT        NOT NULL,
    event_version      TEXT        NOT NULL,
    -- json, not jsonb: json keeps the canonical text exactly as written, so the stored bytes
    -- are the hashed bytes.
    payload            JSON        NOT NULL,
    -- Metadata entries the store does not model (EventMetadata::extra), a JSON object.
    metadata           JSON        NOT NULL,
    command_id         UUID        NOT NULL,
    correlation_id     UUID        NOT NULL,
    causation_id       UUID,
    actor_subject      TEXT,
    actor_role         TEXT,
    actor_region       TEXT,
    actor_provider_org TEXT,
    -- Non-decreasing along positions.
    recorded_at        TIMESTAMPTZ NOT NULL,
    prev_hash          BYTEA       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash               BYTEA       NOT NULL CHECK (octet_length(hash) = 32),
    UNIQUE (stream_type, stream_id, version)
);

-- cqrs-es's stream_all_events: all events of one aggregate type in order.
CREATE INDEX events_by_type ON events (stream_type, position);

-- The head of every stream: its version and the hash the next event chains to.
CREATE TABLE streams (
    stream_type   TEXT   NOT NULL,
    stream_id     TEXT   NOT NULL,
    version       BIGINT NOT NULL CHECK (version >= 1),
    last_position BIGINT NOT NULL,
    last_hash     BYTEA  NOT NULL CHECK (octet_length(last_hash) = 32),
    PRIMARY KEY (stream_type, stream_id)
);

-- The idempotency record: what each command appended. Append-only.
CREATE TABLE commands (
    command_id     UUID        PRIMARY KEY,
    stream_type    TEXT        NOT NULL,
    stream_id      TEXT        NOT NULL,
    first_version  BIGINT      NOT NULL,
    last_version   BIGINT      NOT NULL,
    first_position BIGINT      NOT NULL,
    last_position  BIGINT      NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL
);

-- One row: the last position, and the lock every append takes.
CREATE TABLE log_head (
    id               SMALLINT    PRIMARY KEY CHECK (id = 1),
    position         BIGINT      NOT NULL CHECK (position >= 0),
    last_recorded_at TIMESTAMPTZ
);
INSERT INTO log_head (id, position, last_recorded_at) VALUES (1, 0, NULL);

-- The latest snapshot per stream: a cache for loading long streams, not part of the audited
-- log (it may hold personal data in clear; erasure must delete it).
CREATE TABLE snapshots (
    stream_type     TEXT        NOT NULL,
    stream_id       TEXT        NOT NULL,
    version         BIGINT      NOT NULL,
    snapshot_number BIGINT      NOT NULL,
    payload         JSON        NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stream_type, stream_id)
);

-- The append-only guard: the database itself refuses to change or remove events and command
-- records. The hash chain detects what happens when someone disables it.
CREATE FUNCTION anslut_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'anslut: % on % refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION anslut_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION anslut_refuse_change();
CREATE TRIGGER commands_append_only BEFORE UPDATE OR DELETE ON commands
    FOR EACH ROW EXECUTE FUNCTION anslut_refuse_change();
CREATE TRIGGER commands_no_truncate BEFORE TRUNCATE ON commands
    FOR EACH STATEMENT EXECUTE FUNCTION anslut_refuse_change();
