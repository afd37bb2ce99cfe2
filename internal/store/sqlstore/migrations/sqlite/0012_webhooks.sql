-- Webhooks of repositories, their deliveries (a queue every node's worker
-- claims from) and the statuses CI systems report about commits (issue
-- 13). Times are unix milliseconds (0 = unset), durations milliseconds,
-- booleans 0/1; a hook's events are a JSON array of strings, a delivery's
-- headers a JSON object of strings. A repository takes its webhooks and
-- commit statuses along when it is deleted, and a webhook its deliveries
-- (ON DELETE CASCADE, as repositories go with their project). Keep in step
-- with ../postgres/0012_webhooks.sql.

CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id    BIGINT  NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    url        TEXT    NOT NULL,
    secret     BLOB    NOT NULL,
    events     TEXT    NOT NULL DEFAULT '[]',
    config     TEXT    NOT NULL DEFAULT '',
    active     INTEGER NOT NULL DEFAULT 0,
    creator_id BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE INDEX webhooks_repo_id ON webhooks (repo_id, id);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id         BIGINT  NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    repo_id         BIGINT  NOT NULL,
    event           TEXT    NOT NULL DEFAULT '',
    guid            TEXT    NOT NULL DEFAULT '',
    payload         BLOB    NOT NULL,
    headers         TEXT    NOT NULL DEFAULT '{}',
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    lease_until     BIGINT  NOT NULL DEFAULT 0,
    response_status INTEGER NOT NULL DEFAULT 0,
    response_body   TEXT    NOT NULL DEFAULT '',
    error           TEXT    NOT NULL DEFAULT '',
    attempted_at    BIGINT  NOT NULL DEFAULT 0,
    duration_ms     BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL
);

-- The claim: pending deliveries due by now, most overdue first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at, id);
-- A hook's deliveries, newest first.
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (hook_id, id);
-- The cleanup of finished deliveries.
CREATE INDEX webhook_deliveries_attempted ON webhook_deliveries (state, attempted_at);

CREATE TABLE commit_statuses (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id     BIGINT  NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    sha         TEXT    NOT NULL,
    context     TEXT    NOT NULL DEFAULT '',
    state       TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    target_url  TEXT    NOT NULL DEFAULT '',
    description TEXT    NOT NULL DEFAULT '',
    creator_id  BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL
);

CREATE INDEX commit_statuses_commit ON commit_statuses (repo_id, sha, id);
