-- Strong sign-in and sign-out (issue 15): second factors, recovery
-- codes, sign-ins waiting for their second factor, and what a session
-- signed in with, carried to the codes, device codes and token families
-- it authorized (OpenID Connect sid, amr, acr; back-channel logout);
-- clients' logout settings and trust; the previous refresh token of a
-- family, for the refresh grace period. Lists are space separated, times
-- unix milliseconds (0 = unset). Keep in step with ../postgres/0014_sign_in.sql.

ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN acr TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_sid ON sessions (sid);

ALTER TABLE auth_codes ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN acr TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN acr TEXT NOT NULL DEFAULT '';
ALTER TABLE token_families ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE token_families ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE token_families ADD COLUMN acr TEXT NOT NULL DEFAULT '';
ALTER TABLE token_families ADD COLUMN rotated_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE token_families ADD COLUMN previous_refresh TEXT NOT NULL DEFAULT '';
CREATE INDEX token_families_sid ON token_families (sid);

ALTER TABLE clients ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;

CREATE TABLE user_factors (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    name          TEXT    NOT NULL DEFAULT '',
    secret        BLOB   NOT NULL,
    credential_id TEXT    NOT NULL DEFAULT '',
    last_step     BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX user_factors_user_id ON user_factors (user_id, id);
CREATE UNIQUE INDEX user_factors_credential_id ON user_factors (credential_id) WHERE credential_id <> '';

CREATE TABLE recovery_codes (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, hash)
);

CREATE TABLE pending_logins (
    hash       TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr        TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX pending_logins_expires_at ON pending_logins (expires_at);
