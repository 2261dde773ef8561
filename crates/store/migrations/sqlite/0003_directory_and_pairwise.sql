-- The one-stop-shop account directory, its links to people, and pairwise subjects; SQLite
-- flavour. Twin: ../postgres/0003_directory_and_pairwise.sql.
--
-- New tables, and two columns added to `clients` (one with a default): the build before this one
-- never reads the new tables and inserts clients without the new columns, so it keeps running against the
-- migrated schema during a rolling deploy.

-- One-stop-shop accounts, imported from the units' spreadsheet exports (upsert by username).
-- The personal ID number is kept sealed as it was given (valid or not, so a unit can see what to
-- fix), with a keyed hash only when the number passed validation, and masked for reports.
-- `personal_id_status`: valid | missing | invalid | duplicate (a valid number held by more than
-- one account: every holder is flagged, and none is used for linking).
-- `content_hash` is a keyed hash of the imported row: equal means a re-import changes nothing.
CREATE TABLE directory_accounts (
    username            TEXT    NOT NULL PRIMARY KEY,
    full_name           TEXT    NOT NULL,
    unit_code           TEXT    NOT NULL,
    unit_name           TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    personal_id_hash    TEXT,
    personal_id_sealed  BLOB,
    personal_id_masked  TEXT,
    personal_id_status  TEXT    NOT NULL,
    personal_id_problem TEXT,
    birth_date          TEXT,
    phone               TEXT,
    email               TEXT,
    status              TEXT    NOT NULL,
    content_hash        TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX directory_accounts_personal_id_hash ON directory_accounts (personal_id_hash);
CREATE INDEX directory_accounts_unit_code ON directory_accounts (unit_code);

-- A directory account linked to a person: one account to one person. `level` and `login_idp`
-- are those of the login (or the admin decision) that made the link; `via` is login | admin.
CREATE TABLE account_links (
    username   TEXT    NOT NULL PRIMARY KEY REFERENCES directory_accounts (username),
    person_id  TEXT    NOT NULL UNIQUE REFERENCES people (id),
    level      INTEGER NOT NULL,
    login_idp  TEXT,
    via        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- The latest reason a person's login could not be linked automatically, for the admin.
-- `usernames` is a JSON array of strings.
CREATE TABLE link_conflicts (
    person_id TEXT    NOT NULL PRIMARY KEY REFERENCES people (id),
    reason    TEXT    NOT NULL,
    usernames TEXT    NOT NULL,
    at        INTEGER NOT NULL
);

-- Pairwise subject identifiers (OpenID Connect Core §8.1) handed to clients that ask for them,
-- so that a pairwise `sub` in an access token leads back to the person.
CREATE TABLE pairwise_subjects (
    sector     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    person_id  TEXT    NOT NULL REFERENCES people (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (sector, subject)
);
CREATE INDEX pairwise_subjects_person_id ON pairwise_subjects (person_id);

-- `public` (the person id) or `pairwise` (a per-sector identifier).
ALTER TABLE clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'public';
-- The sector of a pairwise client (OIDC Core §8.1); NULL: the host of its redirect URIs.
ALTER TABLE clients ADD COLUMN sector_identifier TEXT;
