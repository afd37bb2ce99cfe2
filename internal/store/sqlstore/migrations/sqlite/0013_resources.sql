-- Resource indicators, client ID metadata documents and dynamic client
-- registration (issue 14). A resource list is space separated (resource
-- identifiers are URIs, which hold no spaces); empty means Latchkey's own
-- code-hosting resource. Times are unix milliseconds (0 = unset). Keep in
-- step with ../postgres/0013_resources.sql.

ALTER TABLE auth_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE token_families ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE consents ADD COLUMN resources TEXT NOT NULL DEFAULT '';

ALTER TABLE clients ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN application_type TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN client_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN metadata_expires_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX clients_origin ON clients (origin, created_at);

CREATE TABLE resource_servers (
    uri                     TEXT   PRIMARY KEY,
    name                    TEXT   NOT NULL DEFAULT '',
    scopes                  TEXT   NOT NULL DEFAULT '',
    introspection_client_id TEXT   NOT NULL DEFAULT '',
    created_at              BIGINT NOT NULL
);

CREATE TABLE initial_access_tokens (
    hash       TEXT   PRIMARY KEY,
    label      TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL DEFAULT 0
);
