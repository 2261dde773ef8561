-- Durable revocations, SQLite flavour (twin: ../postgres/0004_revocations.sql).
--
-- Only a new table and its index: the build before this one never reads or writes it, so it
-- keeps running against the migrated schema during a rolling deploy.

-- One revoked thing (an access token by its `jti`, a grant, a session: the gateway chooses the
-- key and its namespace), kept until `expires_at`, the moment the revoked thing would have
-- expired by itself; after that the row is useless and pruned. The ephemeral store caches these
-- rows; this table is what survives its loss (a flushed Redis, a restarted process).
-- `created_at` and `reason` are those of the first revocation; a later revocation of the same key
-- can only push `expires_at` out.
CREATE TABLE revocations (
    key        TEXT    NOT NULL PRIMARY KEY,
    reason     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);
