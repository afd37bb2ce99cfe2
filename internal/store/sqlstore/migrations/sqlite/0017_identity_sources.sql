-- Identity sources (issue 16, package identity): directories (LDAP) and
-- upstream OpenID Connect providers people sign in with. config is the
-- kind's settings as JSON without secrets; secret is sealed under the
-- key-encryption key. A user belongs to one source (users.source_id, 0:
-- local) and may have linked identities in others; a permission records
-- the source whose group mapping granted it (0: an administrator); a
-- session and a pending sign-in record the source they went through.
-- Times are unix milliseconds (0 = unset). Keep in step with
-- ../postgres/0017_identity_sources.sql.

CREATE TABLE identity_sources (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    name_lower   TEXT    NOT NULL UNIQUE,
    display_name TEXT    NOT NULL DEFAULT '',
    kind         TEXT    NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 0,
    position     INTEGER NOT NULL DEFAULT 0,
    config       TEXT    NOT NULL DEFAULT '{}',
    secret       BLOB   NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL DEFAULT 0,
    synced_at    BIGINT  NOT NULL DEFAULT 0,
    sync_error   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE external_identities (
    source_id  BIGINT NOT NULL REFERENCES identity_sources (id) ON DELETE CASCADE,
    subject    TEXT   NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (source_id, subject)
);

CREATE UNIQUE INDEX external_identities_user ON external_identities (user_id, source_id);

ALTER TABLE users ADD COLUMN source_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX users_source_id ON users (source_id, id);

ALTER TABLE permissions ADD COLUMN source_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX permissions_source_id ON permissions (source_id, user_id);

ALTER TABLE sessions ADD COLUMN source_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_source_id ON sessions (source_id);

ALTER TABLE pending_logins ADD COLUMN source_id BIGINT NOT NULL DEFAULT 0;
