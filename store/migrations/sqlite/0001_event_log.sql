-- Anslut's event log (SQLite). The same shape as migrations/postgres; see store/src/lib.rs.
-- STRICT tables enforce the column types. UUIDs are 16-byte blobs, times RFC 3339 text.

CREATE TABLE events (
    -- Dense global order 1, 2, 3, ...; the rowid. Appends are serialised by BEGIN IMMEDIATE.
    position           INTEGER PRIMARY KEY CHECK (position >= 1),
    stream_type        TEXT    NOT NULL,
    stream_id          TEXT    NOT NULL,
    version            INTEGER NOT NULL CHECK (version >= 1),
    event_id           BLOB    NOT NULL UNIQUE,
    event_type         TEXT    NOT NULL,
    event_version      TEXT    NOT NULL,
    payload            TEXT    NOT NULL CHECK (json_valid(payload)),
    -- Metadata entries the store does not model (EventMetadata::extra), a JSON object.
    metadata           TEXT    NOT NULL CHECK (json_valid(metadata)),
    command_id         BLOB    NOT NULL,
    correlation_id     BLOB    NOT NULL,
    causation_id       BLOB,
    actor_subject      TEXT,
    actor_role         TEXT,
    actor_region       TEXT,
    actor_provider_org TEXT,
    recorded_at        TEXT    NOT NULL,
    prev_hash          BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash               BLOB    NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_type, stream_id, version)
) STRICT;

CREATE INDEX events_by_type ON events (stream_type, position);

CREATE TABLE streams (
    stream_type   TEXT    NOT NULL,
    stream_id     TEXT    NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    last_position INTEGER NOT NULL,
    last_hash     BLOB    NOT NULL CHECK (length(last_hash) = 32),
    PRIMARY KEY (stream_type, stream_id)
) STRICT;

CREATE TABLE commands (
    command_id     BLOB    PRIMARY KEY,
    stream_type    TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    first_version  INTEGER NOT NULL,
    last_version   INTEGER NOT NULL,
    first_position INTEGER NOT NULL,
    last_position  INTEGER NOT NULL,
    recorded_at    TEXT    NOT NULL
) STRICT;

CREATE TABLE log_head (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    position         INTEGER NOT NULL CHECK (position >= 0),
    last_recorded_at TEXT
) STRICT;
INSERT INTO log_head (id, position, last_recorded_at) VALUES (1, 0, NULL);

CREATE TABLE snapshots (
    stream_type     TEXT    NOT NULL,
    stream_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    snapshot_number INTEGER NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    recorded_at     TEXT    NOT NULL,
    PRIMARY KEY (stream_type, stream_id)
) STRICT;

-- The append-only guard. (SQLite has no TRUNCATE; DELETE without WHERE fires these too.)
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'anslut: UPDATE on events refused: the table is append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'anslut: DELETE on events refused: the table is append-only');
END;
CREATE TRIGGER commands_no_update BEFORE UPDATE ON commands
BEGIN
    SELECT RAISE(ABORT, 'anslut: UPDATE on commands refused: the table is append-only');
END;
CREATE TRIGGER commands_no_delete BEFORE DELETE ON commands
BEGIN
    SELECT RAISE(ABORT, 'anslut: DELETE on commands refused: the table is append-only');
END;
