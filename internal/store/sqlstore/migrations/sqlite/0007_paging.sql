-- Lists are paged in SQL by their ordering key, compared byte-wise on both
-- backends (SQLite's default). A user's token families get an index in the
-- order of the list of authorized applications. Keep in step with
-- ../postgres/0007_paging.sql.

CREATE INDEX token_families_user_created ON token_families (user_id, created_at, id);
