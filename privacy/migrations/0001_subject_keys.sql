-- The privacy crate's table, beside the store's in the same database. The same DDL runs on
-- PostgreSQL and SQLite. See privacy/src/lib.rs for the design.

-- One data key per data subject, created on the subject's first sealed value. The key is
-- stored only wrapped (XChaCha20-Poly1305 under the server's key-encryption key, which never
-- enters the database), as base64(nonce ‖ ciphertext). key_id tells a re-created key from a
-- destroyed one: sealed values name the key that sealed them. Forgetting a subject deletes
-- its row; nothing else ever updates one. created_at: microseconds since the Unix epoch.
CREATE TABLE subject_keys (
    subject     TEXT   PRIMARY KEY,
    key_id      TEXT   NOT NULL,
    wrapped_key TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
