-- Invalidations of the in-memory read cache (issue 17). Every committed
-- change to a row that a cached read depends on sends the row's tag on the
-- channel latchkey_cache, from a trigger, so that no write path (a node, an
-- admin command, a hand-written statement) can skip it. PostgreSQL delivers
-- notifications at commit, in commit order, to every listening node.
-- Tags: 'f:<token family id>', 'u:<user id>', 'c:<client id>', and 'p:all'
-- for any change to projects or repositories (the listings).
CREATE FUNCTION latchkey_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME IN ('tokens') THEN
        PERFORM pg_notify('latchkey_cache', 'f:' || OLD.family_id);
    ELSIF TG_TABLE_NAME = 'token_families' THEN
        PERFORM pg_notify('latchkey_cache', 'f:' || OLD.id);
    ELSIF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('latchkey_cache', 'u:' || OLD.id);
    ELSIF TG_TABLE_NAME = 'permissions' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('latchkey_cache', 'u:' || OLD.user_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify('latchkey_cache', 'u:' || NEW.user_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'clients' THEN
        PERFORM pg_notify('latchkey_cache', 'c:' || OLD.id);
        IF TG_OP = 'UPDATE' THEN
            PERFORM pg_notify('latchkey_cache', 'c:' || NEW.id);
        END IF;
    ELSIF TG_TABLE_NAME IN ('projects', 'repos') THEN
        PERFORM pg_notify('latchkey_cache', 'p:all');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER tokens_cache AFTER UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE TRIGGER token_families_cache AFTER UPDATE OR DELETE ON token_families
    FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE TRIGGER users_cache AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE TRIGGER permissions_cache AFTER INSERT OR UPDATE OR DELETE ON permissions
    FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE TRIGGER clients_cache AFTER UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE TRIGGER projects_cache AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
CREATE TRIGGER repos_cache AFTER INSERT OR UPDATE OR DELETE ON repos
    FOR EACH ROW EXECUTE FUNCTION latchkey_cache_invalidate();
