-- Device authorizations (RFC 8628). Keep in step with ../postgres/0005_device_codes.sql.

CREATE TABLE device_codes (
    hash           TEXT    PRIMARY KEY,
    user_code      TEXT    NOT NULL UNIQUE,
    client_id      TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes         TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL,
    user_id        BIGINT  NOT NULL DEFAULT 0,
    auth_time      BIGINT  NOT NULL DEFAULT 0,
    interval_ms    BIGINT  NOT NULL,
    last_polled_at BIGINT  NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    family_id      BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX device_codes_expires_at ON device_codes (expires_at);
