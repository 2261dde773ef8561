-- DPoP bindings and client profiles, postgres flavour (twin: ../sqlite/0010_dpop_and_profiles.sql).
--
-- `refresh_families.dpop_jkt`: the RFC 7638 thumbprint of the DPoP key a public client's refresh
-- tokens are bound to (RFC 9449 §5); every refresh of the family proves that key. NULL: not
-- bound (confidential clients, requests without a proof, every family an earlier build wrote).
--
-- `clients.dpop_bound_access_tokens`: true when the client's token requests must carry a DPoP
-- proof. `clients.profile`: the rule set the client follows as a whole, `standard` or `fapi2`
-- (the FAPI 2.0 Security Profile). Earlier builds never set either: FALSE and `standard`.
--
-- Expand only: the build before this one reads and writes the same columns as before; its
-- inserts leave the new columns to their defaults (an earlier build ignores a family's binding:
-- during a rolling upgrade its replicas refresh a bound family without a proof, as they did).

ALTER TABLE refresh_families ADD COLUMN dpop_jkt TEXT;
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT 'standard';
