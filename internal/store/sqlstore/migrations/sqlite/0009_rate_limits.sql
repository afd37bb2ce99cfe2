-- Rate limits shared by every node (GCRA: one row per bucket, its
-- theoretical arrival time in Unix microseconds), and the address a
-- device authorization came from, shown to the person who confirms it
-- (RFC 8628 §5.4). Keep in step with ../postgres/0008_rate_limits.sql.

CREATE TABLE rate_limits (
    bucket TEXT   PRIMARY KEY,
    tat_us BIGINT NOT NULL
);

CREATE INDEX rate_limits_tat ON rate_limits (tat_us);

ALTER TABLE device_codes ADD COLUMN source_address TEXT NOT NULL DEFAULT '';
