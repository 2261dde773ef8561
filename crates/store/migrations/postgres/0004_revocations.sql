-- Durable revocations, PostgreSQL flavour: the twin of ../sqlite/0004_revocations.sql (same
-- table, columns and index; BIGINT for INTEGER, the key COLLATE "C").
--
-- Only a new table and its index: the build before this one never reads or writes it, so it
-- keeps running against the migrated schema during a rolling deploy. The table is new and empty,
-- so creating its index takes no long lock.

-- One revoked thing (an access token by its `jti`, a grant, a session: the gateway chooses the
-- key and its namespace), kept until `expires_at`, the moment the revoked thing would have
-- expired by itself; after that the row is useless and pruned. The ephemeral store caches these
-- rows; this table is what survives its loss (a flushed Redis, a restarted process).
-- `created_at` and `reason` are those of the first revocation; a later revocation of the same key
-- can only push `expires_at` out.
CREATE TABLE revocations (
    key        TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    reason     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);
