-- Back-channel logout (issue 15, package logout): the logout tokens to
-- POST to clients' backchannel_logout_uri, a queue every node's worker
-- claims from as it claims webhook deliveries (lease_until, FOR UPDATE
-- SKIP LOCKED). A row holds what the token says (client, subject, sid,
-- jti); the worker signs the token at each attempt, so that a retry
-- carries a fresh iat/exp and the same jti. Times are unix milliseconds
-- (0 = unset). A client takes its logout deliveries along when it is
-- deleted. Keep in step with ../postgres/0016_logout.sql.

CREATE TABLE logout_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject         TEXT    NOT NULL,
    sid             TEXT    NOT NULL DEFAULT '',
    jti             TEXT    NOT NULL UNIQUE,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    lease_until     BIGINT  NOT NULL DEFAULT 0,
    response_status INTEGER NOT NULL DEFAULT 0,
    error           TEXT    NOT NULL DEFAULT '',
    attempted_at    BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL
);

-- The claim: pending deliveries due by now, most overdue first.
CREATE INDEX logout_deliveries_due ON logout_deliveries (state, next_attempt_at, id);
-- The pruning of finished deliveries.
CREATE INDEX logout_deliveries_attempted ON logout_deliveries (state, attempted_at);
