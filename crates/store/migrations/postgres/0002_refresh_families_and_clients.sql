-- Refresh-token families and clients, PostgreSQL flavour: the twin of
-- ../sqlite/0002_refresh_families_and_clients.sql (same tables, columns and indexes; BIGINT for
-- INTEGER, identifier columns COLLATE "C").
--
-- Only new tables and their indexes: the build before this one never reads or writes them, so
-- it keeps running against the migrated schema during a rolling deploy. The tables are new and
-- empty, so creating their indexes takes no long lock.

-- One refresh-token family: everything issued from one authorization grant (OAuth 2.0 Security
-- BCP refresh-token rotation). Its tokens rotate; revoking the family ends all of them.
-- `scopes` is the granted scope list, space-separated (scope tokens never contain a space).
-- `client_id` is not a foreign key: clients may come from the configuration file as well as
-- from the `clients` table.
CREATE TABLE refresh_families (
    family_id      TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    client_id      TEXT   COLLATE "C" NOT NULL,
    person_id      TEXT   COLLATE "C" NOT NULL REFERENCES people (id),
    scopes         TEXT   NOT NULL,
    sid            TEXT   COLLATE "C" NOT NULL,
    auth_time      BIGINT NOT NULL,
    level          BIGINT NOT NULL,
    idp            TEXT   NOT NULL,
    login_idp      TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX refresh_families_sid ON refresh_families (sid);
CREATE INDEX refresh_families_person_id ON refresh_families (person_id);
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

-- The refresh tokens of a family, by a keyed hash computed by the gateway (never the token).
-- A token is current while `used_at` is NULL; rotation sets `used_at` and `replaced_by` (the
-- hash of its successor). Purging a family deletes its tokens.
CREATE TABLE refresh_tokens (
    token_hash  TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    family_id   TEXT   COLLATE "C" NOT NULL
                REFERENCES refresh_families (family_id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    replaced_by TEXT   COLLATE "C"
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Clients (downstream portals) registered through the admin API or `gateway clients add`.
-- The list columns hold JSON arrays of strings (TEXT, as on SQLite, not JSONB: the gateway
-- never queries inside them). `secret_hash` is a keyed hash of a secret the gateway generated
-- (never the secret); `jwks` is the client's public JWK Set (JSON) for private_key_jwt.
CREATE TABLE clients (
    client_id                  TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    name                       TEXT,
    secret_hash                TEXT,
    token_endpoint_auth_method TEXT   NOT NULL,
    redirect_uris              TEXT   NOT NULL DEFAULT '[]',
    post_logout_redirect_uris  TEXT   NOT NULL DEFAULT '[]',
    backchannel_logout_uri     TEXT,
    grant_types                TEXT   NOT NULL DEFAULT '[]',
    scopes                     TEXT   NOT NULL DEFAULT '[]',
    min_level                  BIGINT,
    upstreams                  TEXT   NOT NULL DEFAULT '[]',
    jwks                       TEXT,
    created_at                 BIGINT NOT NULL
);
