-- Finding data subjects without scanning the log, and the record of who looked one up. The
-- same DDL runs on PostgreSQL and SQLite. See privacy/src/index.rs.

-- A staff member's data subject in one region: `lookup` is a keyed hash (HMAC-SHA256 under
-- the server's subject key) of the region and the personnummer, `subject` a random id. The
-- row is deleted when the subject is forgotten, with its key: from then on nothing leads
-- from the personnummer to the subject id the log keeps.
CREATE TABLE subject_index (
    lookup     TEXT   PRIMARY KEY,
    subject    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX subject_index_by_subject ON subject_index (subject);

-- The regions whose records name a data subject (every subject a command names, with the
-- region of the case it names it in; older events added once by a backfill). Who may forget
-- it, and whom a lookup answers. Holds no personal data: a random id and a region.
CREATE TABLE subject_regions (
    subject TEXT NOT NULL,
    region  TEXT NOT NULL,
    PRIMARY KEY (subject, region)
);

-- Every lookup of a subject from a personnummer: who, in which region, when, and the
-- subject found (none when none was). Never the personnummer. at: microseconds since the
-- Unix epoch.
CREATE TABLE subject_lookups (
    id            TEXT   PRIMARY KEY,
    at            BIGINT NOT NULL,
    region        TEXT   NOT NULL,
    actor_subject TEXT   NOT NULL,
    actor_role    TEXT   NOT NULL,
    found         TEXT
);
CREATE INDEX subject_lookups_by_actor ON subject_lookups (region, actor_subject, at);

-- One-time jobs done, by name (the backfill of subject_regions from older events).
CREATE TABLE subject_jobs (
    name    TEXT   PRIMARY KEY,
    done_at BIGINT NOT NULL
);
