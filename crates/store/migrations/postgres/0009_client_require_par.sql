-- Pushed authorization requests for database clients, postgres flavour (twin:
-- ../sqlite/0009_client_require_par.sql).
--
-- `clients.require_pushed_authorization_requests`: true when the client's authorization
-- requests must come through `/par` (RFC 9126 §6), a plain `/authorize` being refused. FALSE on
-- every row an earlier build wrote (earlier builds never required it of a database client).
--
-- Expand only: the build before this one reads and writes the same columns as before; its
-- inserts leave the column to its default.

ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
