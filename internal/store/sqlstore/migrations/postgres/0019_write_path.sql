-- The write path of the token grants (issue 17).
--
-- token_families_user_created (user_id, created_at, id) serves every lookup
-- by user: the index on user_id alone only cost each new family a write.
DROP INDEX token_families_user_id;

-- The invalidation triggers no longer probe the log's index to log a tag
-- once per transaction: the transaction keeps the last tag it logged in a
-- transaction-local setting and skips a repeat of it. A rotation (a
-- family updated, two of its tokens deleted: three events for one tag)
-- still writes one row; equal tags that are not consecutive may write a
-- row each, which the pulls apply once. All concurrent commits insert at
-- the end of the log's index, so each probe there was contention.
CREATE OR REPLACE FUNCTION latchkey_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tags TEXT[];
    t    TEXT;
BEGIN
    IF TG_TABLE_NAME = 'tokens' THEN
        tags := ARRAY['f:' || OLD.family_id];
    ELSIF TG_TABLE_NAME = 'token_families' THEN
        tags := ARRAY['f:' || OLD.id];
    ELSIF TG_TABLE_NAME = 'users' THEN
        tags := ARRAY['u:' || OLD.id];
    ELSIF TG_TABLE_NAME = 'permissions' THEN
        IF TG_OP = 'INSERT' THEN
            tags := ARRAY['u:' || NEW.user_id];
        ELSIF TG_OP = 'DELETE' THEN
            tags := ARRAY['u:' || OLD.user_id];
        ELSE
            tags := ARRAY['u:' || OLD.user_id, 'u:' || NEW.user_id];
        END IF;
    ELSIF TG_TABLE_NAME = 'clients' THEN
        IF TG_OP = 'UPDATE' THEN
            tags := ARRAY['c:' || OLD.id, 'c:' || NEW.id];
        ELSE
            tags := ARRAY['c:' || OLD.id];
        END IF;
    ELSIF TG_TABLE_NAME IN ('projects', 'repos') THEN
        tags := ARRAY['p:all'];
    ELSE
        RETURN NULL;
    END IF;
    FOREACH t IN ARRAY tags LOOP
        IF current_setting('latchkey.cache_tag', true) IS DISTINCT FROM t THEN
            INSERT INTO cache_invalidations (tag) VALUES (t);
            PERFORM set_config('latchkey.cache_tag', t, true);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

DROP FUNCTION latchkey_cache_log(TEXT);
