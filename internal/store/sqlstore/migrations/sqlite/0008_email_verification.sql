-- Email addresses are verified and unique. Keep in step with
-- ../postgres/0008_email_verification.sql.
--
-- Before this migration a user could set any address on their own
-- account, unchecked, so no stored address counts as verified
-- (email_verified 0) until an administrator sets it again or its owner
-- confirms it. An address that several accounts hold is cleared from all
-- of them: which one owns it is not known. email_lower is the address in
-- lower case, the key of uniqueness; the server writes it (Unicode lower
-- case), this migration with SQL's lower().

ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN email_lower TEXT NOT NULL DEFAULT '';

UPDATE users SET email = '' WHERE lower(email) IN (
    SELECT lower(email) FROM users WHERE email <> '' GROUP BY lower(email) HAVING count(*) > 1);
UPDATE users SET email_lower = lower(email);

CREATE UNIQUE INDEX users_email_lower ON users (email_lower) WHERE email_lower <> '';

-- A pending address change: the link mailed to the address carries a
-- secret whose SHA-256 is hash. One per user.
CREATE TABLE email_verifications (
    hash       TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);

CREATE INDEX email_verifications_expires ON email_verifications (expires_at);
