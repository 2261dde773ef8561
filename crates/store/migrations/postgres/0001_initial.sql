-- vneid-gateway durable schema, PostgreSQL flavour: the twin of ../sqlite/0001_initial.sql.
--
-- Rules for every migration in this folder (and its twin in ../sqlite):
-- * append-only: never edit a file once it has shipped; add a new one;
-- * old and new code must both run against the result (rolling deploys);
-- * timestamps are BIGINT unix seconds (INTEGER on SQLite), ids are TEXT,
--   ciphertext is BYTEA (BLOB on SQLite), dates are TEXT 'YYYY-MM-DD';
--   integers the code reads as i64 (levels, ids) are BIGINT;
-- * identifier columns are COLLATE "C" (byte order, like SQLite's BINARY), so ORDER BY on them
--   gives the same order whatever the database's locale.
-- The migrator runs each file in one transaction under an advisory lock.

-- A human being known to the gateway. `id` (a random UUID) is the `sub` of every token.
-- The personal ID number is only ever stored sealed (AEAD) plus a keyed hash for lookup.
CREATE TABLE people (
    id                 TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    personal_id_hash   TEXT   COLLATE "C" UNIQUE,
    personal_id_sealed BYTEA,
    name               TEXT,
    birthdate          TEXT
);

-- An account at an upstream (subject as the upstream names it), bound to one person.
CREATE TABLE upstream_identities (
    upstream   TEXT   COLLATE "C" NOT NULL,
    subject    TEXT   COLLATE "C" NOT NULL,
    person_id  TEXT   COLLATE "C" NOT NULL REFERENCES people (id),
    login_idp  TEXT,
    level      BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_login BIGINT NOT NULL,
    PRIMARY KEY (upstream, subject)
);
CREATE INDEX upstream_identities_person_id ON upstream_identities (person_id);

-- The provider's signing keys; the private half sealed with the master key.
CREATE TABLE signing_keys (
    kid                TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    alg                TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    activates_at       BIGINT NOT NULL,
    retires_at         BIGINT,
    private_key_sealed BYTEA  NOT NULL,
    public_jwk         TEXT   NOT NULL
);
CREATE INDEX signing_keys_activates_at ON signing_keys (activates_at);

-- Append-only audit trail. No personal ID number in clear in any column.
-- `id` only grows (like SQLite's AUTOINCREMENT); ids of rolled-back inserts are skipped.
CREATE TABLE audit_events (
    id             BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    kind           TEXT   NOT NULL,
    outcome        TEXT   NOT NULL,
    reason         TEXT,
    request_id     TEXT,
    client_id      TEXT,
    upstream       TEXT,
    person_id      TEXT,
    login_idp      TEXT,
    level          BIGINT,
    subject_masked TEXT,
    detail         TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_kind_at ON audit_events (kind, at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- Row triggers do not fire on TRUNCATE (SQLite has no TRUNCATE); refuse it too.
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
