-- Lists are paged in SQL by their ordering key, compared byte-wise on both
-- backends. User names take the "C" collation that project keys and slugs
-- have had from the start (this rebuilds their unique index in that
-- order), and a user's token families get an index in the order of the
-- list of authorized applications. Keep in step with ../sqlite/0007_paging.sql.

ALTER TABLE users ALTER COLUMN username_lower TYPE TEXT COLLATE "C";

CREATE INDEX token_families_user_created ON token_families (user_id, created_at, id);
