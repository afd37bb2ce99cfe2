-- Initial schema (SQLite). Times are unix milliseconds (0 = unset),
-- booleans 0/1, hashes lower-case hex, scope lists space separated,
-- redirect URIs a JSON array. Keep in step with ../postgres/0001_init.sql.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    username_lower TEXT    NOT NULL UNIQUE,
    email          TEXT    NOT NULL DEFAULT '',
    display_name   TEXT    NOT NULL DEFAULT '',
    password_hash  TEXT    NOT NULL DEFAULT '',
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL
);

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL DEFAULT '',
    description TEXT    NOT NULL DEFAULT '',
    public      INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE repos (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    slug       TEXT    NOT NULL,
    slug_lower TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    public     INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    UNIQUE (project_id, slug_lower)
);

CREATE TABLE permissions (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target    TEXT   NOT NULL,
    target_id BIGINT NOT NULL,
    name      TEXT   NOT NULL,
    PRIMARY KEY (user_id, target, target_id)
);

CREATE TABLE clients (
    pk             INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL DEFAULT '',
    secret_hash    TEXT    NOT NULL DEFAULT '',
    public         INTEGER NOT NULL DEFAULT 0,
    redirect_uris  TEXT    NOT NULL DEFAULT '[]',
    scopes         TEXT    NOT NULL DEFAULT '',
    default_scopes TEXT    NOT NULL DEFAULT '',
    grant_types    TEXT    NOT NULL DEFAULT '',
    pkce_required  INTEGER NOT NULL DEFAULT 0,
    owner_user_id  BIGINT  NOT NULL DEFAULT 0,
    suspended      INTEGER NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL
);

CREATE INDEX clients_owner_user_id ON clients (owner_user_id);

CREATE TABLE consents (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT   NOT NULL DEFAULT '',
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX consents_client_id ON consents (client_id);

CREATE TABLE sessions (
    id         TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);

-- user_id carries no foreign key: a client_credentials family may belong to
-- no user (0).
CREATE TABLE token_families (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    BIGINT  NOT NULL,
    scopes     TEXT    NOT NULL DEFAULT '',
    generation BIGINT  NOT NULL,
    auth_time  BIGINT  NOT NULL DEFAULT 0,
    nonce      TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX token_families_client_id ON token_families (client_id);
CREATE INDEX token_families_user_id ON token_families (user_id);

CREATE TABLE auth_codes (
    hash              TEXT    PRIMARY KEY,
    client_id         TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id           BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri      TEXT    NOT NULL DEFAULT '',
    redirect_uri_sent INTEGER NOT NULL DEFAULT 0,
    scopes            TEXT    NOT NULL DEFAULT '',
    code_challenge    TEXT    NOT NULL DEFAULT '',
    challenge_method  TEXT    NOT NULL DEFAULT '',
    nonce             TEXT    NOT NULL DEFAULT '',
    auth_time         BIGINT  NOT NULL DEFAULT 0,
    created_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    used_at           BIGINT  NOT NULL DEFAULT 0,
    family_id         BIGINT  REFERENCES token_families (id) ON DELETE SET NULL
);

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_family_id ON auth_codes (family_id);

CREATE TABLE tokens (
    hash       TEXT   PRIMARY KEY,
    kind       TEXT   NOT NULL,
    family_id  BIGINT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    generation BIGINT NOT NULL,
    scopes     TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX tokens_family_id ON tokens (family_id, generation);

CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
