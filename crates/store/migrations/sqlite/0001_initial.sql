-- vneid-gateway durable schema, SQLite flavour.
--
-- Rules for every migration in this folder (and its twin in ../postgres):
-- * append-only: never edit a file once it has shipped; add a new one;
-- * old and new code must both run against the result (rolling deploys);
-- * timestamps are INTEGER unix seconds (BIGINT on Postgres), ids are TEXT,
--   ciphertext is BLOB (BYTEA on Postgres), dates are TEXT 'YYYY-MM-DD'.

-- A human being known to the gateway. `id` (a random UUID) is the `sub` of every token.
-- The personal ID number is only ever stored sealed (AEAD) plus a keyed hash for lookup.
CREATE TABLE people (
    id                 TEXT    NOT NULL PRIMARY KEY,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    personal_id_hash   TEXT    UNIQUE,
    personal_id_sealed BLOB,
    name               TEXT,
    birthdate          TEXT
);

-- An account at an upstream (subject as the upstream names it), bound to one person.
CREATE TABLE upstream_identities (
    upstream   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    person_id  TEXT    NOT NULL REFERENCES people (id),
    login_idp  TEXT,
    level      INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_login INTEGER NOT NULL,
    PRIMARY KEY (upstream, subject)
);
CREATE INDEX upstream_identities_person_id ON upstream_identities (person_id);

-- The provider's signing keys; the private half sealed with the master key.
CREATE TABLE signing_keys (
    kid                TEXT    NOT NULL PRIMARY KEY,
    alg                TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    activates_at       INTEGER NOT NULL,
    retires_at         INTEGER,
    private_key_sealed BLOB    NOT NULL,
    public_jwk         TEXT    NOT NULL
);
CREATE INDEX signing_keys_activates_at ON signing_keys (activates_at);

-- Append-only audit trail. No personal ID number in clear in any column.
CREATE TABLE audit_events (
    id             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    reason         TEXT,
    request_id     TEXT,
    client_id      TEXT,
    upstream       TEXT,
    person_id      TEXT,
    login_idp      TEXT,
    level          INTEGER,
    subject_masked TEXT,
    detail         TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_kind_at ON audit_events (kind, at);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
