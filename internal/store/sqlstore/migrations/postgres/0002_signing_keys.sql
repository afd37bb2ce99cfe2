-- Signing keys for ID tokens. private_key is sealed by the application
-- (AES-256-GCM under the configured key-encryption key). Keep in step with
-- ../sqlite/0002_signing_keys.sql.

CREATE TABLE signing_keys (
    id          TEXT   PRIMARY KEY,
    algorithm   TEXT   NOT NULL,
    private_key BYTEA  NOT NULL,
    public_key  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    activate_at BIGINT NOT NULL,
    retire_at   BIGINT NOT NULL DEFAULT 0
);
