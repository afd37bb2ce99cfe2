-- Sign-in throttle counters shared by every node (package web owns the
-- rules): a key's failures, the time until which it refuses attempts and
-- the time of its last failure, in unix milliseconds (0: none). Keep in
-- step with ../postgres/0011_throttle.sql.

CREATE TABLE throttle_counters (
    name           TEXT    PRIMARY KEY,
    failures       INTEGER NOT NULL,
    blocked_until  BIGINT  NOT NULL,
    last_failed_at BIGINT  NOT NULL
);

CREATE INDEX throttle_counters_last ON throttle_counters (last_failed_at);
