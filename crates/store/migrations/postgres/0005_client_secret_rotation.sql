-- A client's previous secret during a rotation, postgres flavour (twin: ../sqlite/0005_client_secret_rotation.sql).
--
-- One nullable column, JSON {"hash": "...", "until": unix seconds}: the previous secret's keyed
-- hash and when it stops working. Expand only: the build before this one never reads it and
-- keeps running against the migrated schema during a rolling deploy (it then accepts only the
-- new secret, as before rotation existed).

ALTER TABLE clients ADD COLUMN previous_secret TEXT;
