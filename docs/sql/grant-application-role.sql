-- The privileges of Anslut's application role (DATABASE_URL) when migrations run as a separate
-- owner role (ANSLUT_DATABASE__MIGRATE_URL). Run it as the owner after every `anslut migrate`
-- (it is idempotent), naming the application role:
--
--   psql "$OWNER_URL" -v app_role=anslut_app -f docs/sql/grant-application-role.sql
--
-- What the application role can then do to the log: read it and append to it. It can neither
-- change nor remove an event, a command record, a Merkle node or a signed checkpoint (no
-- UPDATE, DELETE or TRUNCATE privilege), nor disable the append-only triggers (only a table's
-- owner can). docs/operations.md explains each grant; tests/tests/system/database_roles.rs
-- runs this file and checks that an UPDATE or DELETE of events is refused.

\set ON_ERROR_STOP on
SELECT set_config('anslut.app_role', :'app_role', false) AS app_role;

DO $grants$
DECLARE
    app    text := current_setting('anslut.app_role');
    schema text := current_schema();
    tab    text;
BEGIN
    -- Its own read models: the projectors create a new table generation at every rebuild
    -- (and drop the old one), so they create and own those tables. The start of every
    -- command also checks, with CREATE TABLE IF NOT EXISTS, that the migrations' history
    -- tables exist, which PostgreSQL checks against CREATE on the schema.
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', schema, app);

    -- The log and its tamper evidence: read and append only.
    EXECUTE format('GRANT SELECT, INSERT ON events, commands TO %I', app);
    EXECUTE format('GRANT SELECT, INSERT ON audit_nodes, audit_checkpoints TO %I', app);
    -- The heads every append (and every tree step) locks and moves, one row each.
    EXECUTE format('GRANT SELECT, UPDATE ON log_head, audit_follower TO %I', app);
    -- Each stream's version and last hash, inserted by a stream's first event and moved by
    -- every later one.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON streams TO %I', app);
    -- Aggregate snapshots: a cache outside the audited log, deleted when personal data is
    -- erased.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON snapshots TO %I', app);

    -- The migration histories (_sqlx_migrations, _audit_migrations, _webhooks_migrations):
    -- read at start, to find nothing pending.
    FOR tab IN
        SELECT tablename FROM pg_tables
        WHERE schemaname = schema AND tablename LIKE '\_%migrations'
    LOOP
        EXECUTE format('GRANT SELECT ON %I TO %I', tab, app);
    END LOOP;

    -- Working tables, where the owner created them: the webhooks' subscriptions, outbox and
    -- attempts, which the deliveries update; the data subjects' keys and staff index,
    -- deleted to erase, the regions naming each subject and the record of lookups
    -- (subject_keys, subject_index, subject_regions, subject_lookups, subject_jobs).
    FOR tab IN
        SELECT tablename FROM pg_tables
        WHERE schemaname = schema
          AND (tablename LIKE 'webhook\_%' OR tablename LIKE 'subject\_%')
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO %I', tab, app);
    END LOOP;
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', schema, app);
END
$grants$;
