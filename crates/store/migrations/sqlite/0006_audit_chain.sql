-- The audit trail's hash chain, sqlite flavour (twin: ../postgres/0006_audit_chain.sql).
--
-- Every event appended from now on carries its place in one chain per database (`seq`, 1, 2,
-- 3, … without gaps), the hash of the event before it (`prev_hash`) and its own `hash`:
-- SHA-256 over a canonical encoding of the event and `prev_hash` (crates/store/src/db/audit/
-- chain.rs). Events written before this migration keep NULL there: they are counted apart by
-- `gateway audit verify`, not covered by the chain.
--
-- `audit_chain` is the chain's head (one row): the last `seq` and its hash. Every append
-- updates it in the event's own transaction, which serialises appends (on Postgres across
-- replicas too) and lets a verifier see that events were cut off the end.
--
-- `audit_checkpoints` are signed statements "the chain reached seq N with hash H" (HMAC with a
-- key derived from the master key). A checkpoint that prunes (`pruned_before` set) is the only
-- way an event leaves the table: the delete trigger lets through exactly the events it covers.
-- Expand only: the build before this one never reads the new columns or tables.

ALTER TABLE audit_events ADD COLUMN seq INTEGER;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);

CREATE TABLE audit_chain (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    last_seq  INTEGER NOT NULL,
    last_hash TEXT    NOT NULL
);
INSERT INTO audit_chain (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    through_seq   INTEGER NOT NULL,
    through_hash  TEXT    NOT NULL,
    -- Set when the checkpoint pruned: events of the chain up to through_seq, and events from
    -- before the chain older than this time (unix seconds), were deleted.
    pruned_before INTEGER,
    signature     TEXT    NOT NULL
);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

-- Deleting an event is refused unless a pruning checkpoint covers it.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT (
    (OLD.seq IS NOT NULL AND OLD.seq <= (
        SELECT COALESCE(MAX(through_seq), 0) FROM audit_checkpoints
        WHERE pruned_before IS NOT NULL))
    OR (OLD.seq IS NULL AND OLD.at < (
        SELECT COALESCE(MAX(pruned_before), 0) FROM audit_checkpoints))
)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
