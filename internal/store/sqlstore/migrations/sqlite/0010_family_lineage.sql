-- The lineage of a token family: the SHA-256 of the handle its refresh
-- tokens carry, by which a rotated refresh token is recognized without a
-- row of its own (issue 12, finding 13). Empty for families issued before.
ALTER TABLE token_families ADD COLUMN lineage TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX token_families_lineage ON token_families (lineage) WHERE lineage <> '';
