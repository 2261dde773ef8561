-- A directory that stays in sync, postgres flavour (twin: ../sqlite/0007_directory_sync.sql).
--
-- `username_key`: the username case-folded (NFC, then lower case), computed by the gateway
-- (crates/core/src/username.rs), so that `CuongLV` in a later file is the account `cuonglv`.
-- Rows get it right after this migration (`Database::migrate` fills it, deactivating all but
-- the latest of accounts that differ only by case) and from every import; a row a build before
-- this one inserts has NULL until the next import fills it. One active account per key.
--
-- `account_links.username` follows a rename of its account (ON UPDATE CASCADE): an import that
-- spells a username differently keeps the account, its link and the latest spelling.
--
-- Expand only: the build before this one reads and writes the same columns as before.

ALTER TABLE directory_accounts ADD COLUMN username_key TEXT COLLATE "C";
CREATE UNIQUE INDEX directory_accounts_active_username_fold
    ON directory_accounts (username_key) WHERE status = 'active';
-- Accounts that are not active, by key: few, and kept apart so that a look-up by key is planned
-- on an index whose size tells the planner how selective it is.
CREATE INDEX directory_accounts_inactive_username_fold
    ON directory_accounts (username_key) WHERE status <> 'active';

ALTER TABLE account_links DROP CONSTRAINT account_links_username_fkey;
ALTER TABLE account_links ADD CONSTRAINT account_links_username_fkey
    FOREIGN KEY (username) REFERENCES directory_accounts (username) ON UPDATE CASCADE;
