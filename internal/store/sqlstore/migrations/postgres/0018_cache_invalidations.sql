-- Invalidations of the in-memory read cache (issue 17). Every committed
-- change to a row that a cached read depends on appends the row's tag to
-- this table, from a trigger, so that no write path (a node, an admin
-- command, a hand-written statement) can skip it. Each node reads the rows
-- of transactions that were not yet settled at its previous read (xid at
-- or after that read's snapshot xmin) before it serves from its cache.
-- Tags: 'f:<token family id>', 'u:<user id>', 'c:<client id>', and 'p:all'
-- for any change to projects or repositories (the listings).
--
-- The triggers are deferred constraint triggers: they run as the
-- transaction commits, so "at" is (within the commit) when the row became
-- visible, which the cleaner's horizon relies on. No NOTIFY: it would
-- serialise the commits of every writing transaction behind one lock.
CREATE TABLE cache_invalidations (
    xid xid8   NOT NULL DEFAULT pg_current_xact_id(),
    at  BIGINT NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
    tag TEXT   NOT NULL
);

-- One index: the pulls read by xid, the cleaner deletes by it.
CREATE INDEX cache_invalidations_xid ON cache_invalidations (xid, tag);

-- latchkey_cache_log appends tag once per transaction (a rotation changes
-- a family and deletes two of its tokens: one row, not three).
CREATE FUNCTION latchkey_cache_log(t TEXT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO cache_invalidations (tag)
    SELECT t WHERE NOT EXISTS (
        SELECT 1 FROM cache_invalidations WHERE xid = pg_current_xact_id() AND tag = t);
$$;

CREATE FUNCTION latchkey_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tokens' THEN
        PERFORM latchkey_cache_log('f:' || OLD.family_id);
    ELSIF TG_TABLE_NAME = 'token_families' THEN
        PERFORM latchkey_cache_log('f:' || OLD.id);
    ELSIF TG_TABLE_NAME = 'users' THEN
        PERFORM latchkey_cache_log('u:' || OLD.id);
    ELSIF TG_TABLE_NAME = 'permissions' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM latchkey_cache_log('u:' || OLD.user_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM latchkey_cache_log('u:' || NEW.user_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'clients' THEN
        PERFORM latchkey_cache_log('c:' || OLD.id);
        IF TG_OP = 'UPDATE' THEN
            PERFORM latchkey_cache_log('c:' || NEW.id);
        END IF;
    ELSIF TG_TABLE_NAME IN ('projects', 'repos') THEN
        PERFORM latchkey_cache_log('p:all');
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER tokens_cache AFTER UPDATE OR DELETE ON tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE CONSTRAINT TRIGGER token_families_cache AFTER UPDATE OR DELETE ON token_families
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE CONSTRAINT TRIGGER users_cache AFTER UPDATE OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE CONSTRAINT TRIGGER permissions_cache AFTER INSERT OR UPDATE OR DELETE ON permissions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE CONSTRAINT TRIGGER clients_cache AFTER UPDATE OR DELETE ON clients
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE CONSTRAINT TRIGGER projects_cache AFTER INSERT OR UPDATE OR DELETE ON projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE CONSTRAINT TRIGGER repos_cache AFTER INSERT OR UPDATE OR DELETE ON repos
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
