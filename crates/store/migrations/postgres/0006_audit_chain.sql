-- The audit trail's hash chain, postgres flavour (twin: ../sqlite/0006_audit_chain.sql).
--
-- Every event appended from now on carries its place in one chain per database (`seq`, 1, 2,
-- 3, … without gaps), the hash of the event before it (`prev_hash`) and its own `hash`:
-- SHA-256 over a canonical encoding of the event and `prev_hash` (crates/store/src/db/audit/
-- chain.rs). Events written before this migration keep NULL there: they are counted apart by
-- `gateway audit verify`, not covered by the chain.
--
-- `audit_chain` is the chain's head (one row): the last `seq` and its hash. Every append
-- updates it in the event's own transaction, which serialises appends (across replicas too)
-- and lets a verifier see that events were cut off the end.
--
-- `audit_checkpoints` are signed statements "the chain reached seq N with hash H" (HMAC with a
-- key derived from the master key). A checkpoint that prunes (`pruned_before` set) is the only
-- way an event leaves the table: the delete trigger lets through exactly the events it covers.
-- Expand only: the build before this one never reads the new columns or tables.

ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);

CREATE TABLE audit_chain (
    id        BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    last_seq  BIGINT NOT NULL,
    last_hash TEXT   NOT NULL
);
INSERT INTO audit_chain (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    id            BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            BIGINT NOT NULL,
    through_seq   BIGINT NOT NULL,
    through_hash  TEXT   NOT NULL,
    -- Set when the checkpoint pruned: events of the chain up to through_seq, and events from
    -- before the chain older than this time (unix seconds), were deleted.
    pruned_before BIGINT,
    signature     TEXT   NOT NULL
);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Deleting an event is refused unless a pruning checkpoint covers it.
CREATE FUNCTION audit_events_delete_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.seq IS NOT NULL AND OLD.seq <= (
            SELECT COALESCE(MAX(through_seq), 0) FROM audit_checkpoints
            WHERE pruned_before IS NOT NULL))
       OR (OLD.seq IS NULL AND OLD.at < (
            SELECT COALESCE(MAX(pruned_before), 0) FROM audit_checkpoints)) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

DROP TRIGGER audit_events_no_delete ON audit_events;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_delete_guard();
