-- Account types, sqlite flavour (twin: ../postgres/0008_account_types.sql).
--
-- `people.account_type`: 'citizen' or 'organisation', written at every login by this build;
-- NULL on rows an earlier build wrote (a citizen: earlier builds admitted only accounts with a
-- valid personal ID number, and stored them as citizens).
--
-- An organisation is never keyed by a personal ID number (`personal_id_hash` stays NULL). It is
-- found again by its upstream identity, or — from another upstream account — by
-- `organisation_key`: a keyed hash of its identifier (enterprise or tax code) in a namespace of
-- its own, so a tax code can never meet a personal ID number's hash. `organisation_sealed`
-- holds its identifier, name and representative sealed with the master key (a household
-- business's tax code is its owner's personal ID number; the representative is a person).
--
-- `clients.account_types`: the account types a database client admits, a JSON list; NULL =
-- both.
--
-- Expand only: the build before this one reads and writes the same columns as before.

ALTER TABLE people ADD COLUMN account_type TEXT;
ALTER TABLE people ADD COLUMN organisation_key TEXT;
ALTER TABLE people ADD COLUMN organisation_sealed BLOB;
CREATE UNIQUE INDEX people_organisation_key_unique ON people (organisation_key);

ALTER TABLE clients ADD COLUMN account_types TEXT;
