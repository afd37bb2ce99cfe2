-- Self-service and administration pages: when each token family was last
-- used (written by the bearer check at most once a minute), and the audit
-- trail of security events. Keep in step with ../postgres/0006_self_service.sql.

ALTER TABLE token_families ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;

-- user_id and client_id carry no foreign keys: the trail outlives the
-- users and clients it names, so it keeps their names as they were.
CREATE TABLE audit_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        BIGINT  NOT NULL,
    event     TEXT    NOT NULL,
    user_id   BIGINT  NOT NULL DEFAULT 0,
    username  TEXT    NOT NULL DEFAULT '',
    client_id TEXT    NOT NULL DEFAULT '',
    remote    TEXT    NOT NULL DEFAULT '',
    detail    TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_at ON audit_events (at);
