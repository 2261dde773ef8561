-- A directory that stays in sync, sqlite flavour (twin: ../postgres/0007_directory_sync.sql).
--
-- `username_key`: the username case-folded (NFC, then lower case), computed by the gateway
-- (crates/core/src/username.rs), so that `CuongLV` in a later file is the account `cuonglv`.
-- Rows get it right after this migration (`Database::migrate` fills it, deactivating all but
-- the latest of accounts that differ only by case) and from every import; a row a build before
-- this one inserts has NULL until the next import fills it. One active account per key.
--
-- `account_links.username` follows a rename of its account (ON UPDATE CASCADE): an import that
-- spells a username differently keeps the account, its link and the latest spelling. SQLite
-- cannot change a foreign key in place, so the table is rebuilt with the same columns.
--
-- Expand only: the build before this one reads and writes the same columns as before.

ALTER TABLE directory_accounts ADD COLUMN username_key TEXT;
CREATE UNIQUE INDEX directory_accounts_active_username_fold
    ON directory_accounts (username_key) WHERE status = 'active';
-- Accounts that are not active, by key: few, and kept apart so that a look-up by key is planned
-- on an index whose size tells the planner how selective it is.
CREATE INDEX directory_accounts_inactive_username_fold
    ON directory_accounts (username_key) WHERE status <> 'active';

CREATE TABLE account_links_v7 (
    username   TEXT    NOT NULL PRIMARY KEY
               REFERENCES directory_accounts (username) ON UPDATE CASCADE,
    person_id  TEXT    NOT NULL UNIQUE REFERENCES people (id),
    level      INTEGER NOT NULL,
    login_idp  TEXT,
    via        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO account_links_v7 (username, person_id, level, login_idp, via, created_at)
    SELECT username, person_id, level, login_idp, via, created_at FROM account_links;
DROP TABLE account_links;
ALTER TABLE account_links_v7 RENAME TO account_links;
