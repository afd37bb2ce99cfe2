-- Single-use markers (issue 15): a WebAuthn challenge is answered once,
-- on whichever node. Keys are opaque strings chosen by the caller; a row
-- lives until its expiry, then DeleteExpired removes it.
CREATE TABLE used_once (
    key        TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX used_once_expires_at ON used_once (expires_at);
