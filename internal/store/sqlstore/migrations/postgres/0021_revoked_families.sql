-- The cleaner finds revoked token families through this index instead of
-- reading every family (issue 17: a sweep costs what has expired or was
-- revoked, not what is stored).
CREATE INDEX token_families_revoked ON token_families (revoked_at) WHERE revoked_at <> 0;
