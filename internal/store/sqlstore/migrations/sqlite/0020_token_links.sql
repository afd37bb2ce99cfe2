-- Nothing changes on SQLite: its foreign-key checks are an index lookup in
-- the writer's own process, and the PostgreSQL migration of this number
-- replaces checks that cost a query and a row lock there.
SELECT 1;
