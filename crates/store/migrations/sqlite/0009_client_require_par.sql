-- Pushed authorization requests for database clients, sqlite flavour (twin:
-- ../postgres/0009_client_require_par.sql).
--
-- `clients.require_pushed_authorization_requests`: 1 when the client's authorization requests
-- must come through `/par` (RFC 9126 §6), a plain `/authorize` being refused. 0 on every row
-- an earlier build wrote (earlier builds never required it of a database client).
--
-- Expand only: the build before this one reads and writes the same columns as before; its
-- inserts leave the column to its default.

ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0;
