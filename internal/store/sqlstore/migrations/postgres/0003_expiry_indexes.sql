-- Indexes for the background cleaner (DeleteExpired), which looks rows up
-- by expiry time in bounded batches. Keep in step with the other dialect.

CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
