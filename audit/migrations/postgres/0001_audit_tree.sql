-- The audit crate's tables (PostgreSQL), beside the store's in the same database. See
-- audit/src/lib.rs for the algorithm and audit/migrations/sqlite for the same shape on SQLite.

-- The hash of every complete, aligned subtree of the RFC 6962 tree over the log: node
-- (level, idx) covers leaves [idx * 2^level, (idx + 1) * 2^level). Level 0 holds the leaf
-- hashes. Written by the tree follower only; append-only (see the triggers below).
CREATE TABLE audit_nodes (
    level BIGINT NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx   BIGINT NOT NULL CHECK (idx >= 0),
    hash  BYTEA  NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- One row: how many leaves (events 1..tree_size) the follower has added, and the lock that
-- serialises followers and checkpoint signers across processes.
CREATE TABLE audit_follower (
    id        SMALLINT PRIMARY KEY CHECK (id = 1),
    tree_size BIGINT   NOT NULL CHECK (tree_size >= 0)
);
INSERT INTO audit_follower (id, tree_size) VALUES (1, 0);

-- Signed checkpoints: the C2SP signed note over (origin, tree_size, root_hash), as published.
-- Append-only.
CREATE TABLE audit_checkpoints (
    tree_size  BIGINT      PRIMARY KEY CHECK (tree_size >= 1),
    root_hash  BYTEA       NOT NULL CHECK (octet_length(root_hash) = 32),
    note       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'anslut: % on % refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
