-- Invalidations of the in-memory read cache (issue 17). Every committed
-- change to a row that a cached read depends on appends the row's tag here,
-- from a trigger, so that no write path (a node, an admin command in another
-- process, a hand-written statement) can skip it. A process reads the rows
-- after the last one it applied before it serves anything from its cache.
-- Tags: 'f:<token family id>', 'u:<user id>', 'c:<client id>', and 'p:all'
-- for any change to projects or repositories (the listings).
CREATE TABLE cache_invalidations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tag TEXT NOT NULL
);

-- The log keeps at least its newest 10000 rows (trimmed at every 1000th):
-- a process further behind than that sees a gap and empties its cache.
CREATE TRIGGER cache_invalidations_trim AFTER INSERT ON cache_invalidations
WHEN NEW.seq % 1000 = 0 BEGIN
    DELETE FROM cache_invalidations WHERE seq <= NEW.seq - 10000;
END;

CREATE TRIGGER tokens_cache_update AFTER UPDATE ON tokens BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('f:' || OLD.family_id);
END;
CREATE TRIGGER tokens_cache_delete AFTER DELETE ON tokens BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('f:' || OLD.family_id);
END;
CREATE TRIGGER token_families_cache_update AFTER UPDATE ON token_families BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('f:' || OLD.id);
END;
CREATE TRIGGER token_families_cache_delete AFTER DELETE ON token_families BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('f:' || OLD.id);
END;
CREATE TRIGGER users_cache_update AFTER UPDATE ON users BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('u:' || OLD.id);
END;
CREATE TRIGGER users_cache_delete AFTER DELETE ON users BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('u:' || OLD.id);
END;
CREATE TRIGGER permissions_cache_insert AFTER INSERT ON permissions BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('u:' || NEW.user_id);
END;
CREATE TRIGGER permissions_cache_update AFTER UPDATE ON permissions BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('u:' || OLD.user_id);
    INSERT INTO cache_invalidations (tag) VALUES ('u:' || NEW.user_id);
END;
CREATE TRIGGER permissions_cache_delete AFTER DELETE ON permissions BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('u:' || OLD.user_id);
END;
CREATE TRIGGER clients_cache_update AFTER UPDATE ON clients BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('c:' || OLD.id);
    INSERT INTO cache_invalidations (tag) VALUES ('c:' || NEW.id);
END;
CREATE TRIGGER clients_cache_delete AFTER DELETE ON clients BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('c:' || OLD.id);
END;
CREATE TRIGGER projects_cache_insert AFTER INSERT ON projects BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('p:all');
END;
CREATE TRIGGER projects_cache_update AFTER UPDATE ON projects BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('p:all');
END;
CREATE TRIGGER projects_cache_delete AFTER DELETE ON projects BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('p:all');
END;
CREATE TRIGGER repos_cache_insert AFTER INSERT ON repos BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('p:all');
END;
CREATE TRIGGER repos_cache_update AFTER UPDATE ON repos BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('p:all');
END;
CREATE TRIGGER repos_cache_delete AFTER DELETE ON repos BEGIN
    INSERT INTO cache_invalidations (tag) VALUES ('p:all');
END;
