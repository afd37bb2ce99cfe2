-- The write path of the token grants (issue 17).
--
-- token_families_user_created (user_id, created_at, id) serves every lookup
-- by user: the index on user_id alone only cost each new family a write.
DROP INDEX token_families_user_id;
