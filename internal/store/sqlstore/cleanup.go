package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"latchkey/internal/store"
)

// skipLocked is appended to the SELECT that picks rows to delete, so that
// cleaners on several nodes, and the transactions redeeming or rotating
// those rows, never wait for one another: PostgreSQL locks each picked row
// and passes over rows another transaction holds. SQLite has no row locks;
// its single writer already serializes the deletes.
func (d Dialect) skipLocked() string {
	if d == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// skipLockedOf is skipLocked for a SELECT over a join: PostgreSQL locks
// the rows of the table aliased alias only.
func (d Dialect) skipLockedOf(alias string) string {
	if d == Postgres {
		return " FOR UPDATE OF " + alias + " SKIP LOCKED"
	}
	return ""
}

// DeliveryRetention is how long DeleteExpired keeps a finished (delivered
// or failed) webhook delivery after its last attempt, so that repository
// administrators can read recent deliveries and their answers.
const DeliveryRetention = 30 * 24 * time.Hour

// retainedMillis is DeliveryRetention in milliseconds, as SQL text.
var retainedMillis = strconv.FormatInt(DeliveryRetention.Milliseconds(), 10)

// cleanupStep is one bounded DELETE of DeleteExpired. Its query takes $1,
// the expiry bound in unix milliseconds, and $2, the batch size.
type cleanupStep struct {
	what  string
	query func(d Dialect) string
}

// cleanupSteps run in this order. A family is kept while the code that
// issued it is stored (at most the code lifetime, ten minutes), so that a
// redeemed code always names its family; the codes step, which runs first,
// removes the code once it expired. Families go before tokens: a family with nothing
// live takes its tokens along (ON DELETE CASCADE on SQLite, a trigger on
// PostgreSQL). The token step then removes only tokens whose family keeps
// another live token, so that it never leaves a family empty: a family is
// either deleted whole or keeps at least one token.
//
// Every step reads an index of what it deletes, never a whole table: a
// sweep costs what has expired, not what is stored. (Before, the family
// and token steps read every family and every token, with a lookup each:
// about a minute of a core per sweep on ten million tokens.) So a family
// is found through its revocation (a partial index on revoked_at) or
// through one of its tokens that expired (tokens_expires_at); a family
// with neither is live. A superseded access token is deleted by the
// rotation that superseded it; one an earlier version left behind is
// refused by its generation and goes when it expires.
var cleanupSteps = []cleanupStep{
	{"auth codes", func(d Dialect) string {
		return `DELETE FROM auth_codes WHERE hash IN (
			SELECT hash FROM auth_codes WHERE expires_at < $1 LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"device codes", func(d Dialect) string {
		return `DELETE FROM device_codes WHERE hash IN (
			SELECT hash FROM device_codes WHERE expires_at < $1 LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"rate limits", func(d Dialect) string {
		return `DELETE FROM rate_limits WHERE bucket IN (
			SELECT bucket FROM rate_limits WHERE tat_us < CAST($1 AS BIGINT) * 1000 LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"throttle counters", func(d Dialect) string {
		return `DELETE FROM throttle_counters WHERE name IN (
			SELECT name FROM throttle_counters
			WHERE last_failed_at < CAST($1 AS BIGINT) - 900000 AND blocked_until < $1 LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"used once", func(d Dialect) string {
		return `DELETE FROM used_once WHERE key IN (
			SELECT key FROM used_once WHERE expires_at < $1 LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"pending logins", func(d Dialect) string {
		return `DELETE FROM pending_logins WHERE hash IN (
			SELECT hash FROM pending_logins WHERE expires_at < $1 LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"sessions", func(d Dialect) string {
		return `DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE expires_at < $1 LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"email verifications", func(d Dialect) string {
		return `DELETE FROM email_verifications WHERE hash IN (
			SELECT hash FROM email_verifications WHERE expires_at < $1 LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"revoked token families", func(d Dialect) string {
		return `DELETE FROM token_families WHERE id IN (
			SELECT f.id FROM token_families f
			WHERE f.revoked_at <> 0 AND f.revoked_at <= $1
				AND NOT EXISTS (SELECT 1 FROM auth_codes c WHERE c.family_id = f.id)
			LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"token families", func(d Dialect) string {
		return `DELETE FROM token_families WHERE id IN (
			SELECT f.id FROM tokens e JOIN token_families f ON f.id = e.family_id
			WHERE e.expires_at < $1
				AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.family_id = f.id AND t.expires_at >= $1)
				AND NOT EXISTS (SELECT 1 FROM auth_codes c WHERE c.family_id = f.id)
			LIMIT CAST($2 AS INTEGER)` + d.skipLockedOf("f") + `)`
	}},
	{"webhook deliveries", func(d Dialect) string {
		return `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries
			WHERE state IN ('` + string(store.DeliveryDelivered) + `', '` + string(store.DeliveryFailed) + `')
				AND attempted_at < CAST($1 AS BIGINT) - ` + retainedMillis + `
				AND created_at < CAST($1 AS BIGINT) - ` + retainedMillis + `
			LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
	{"tokens", func(d Dialect) string {
		return `DELETE FROM tokens WHERE hash IN (
			SELECT t.hash FROM tokens t
			WHERE t.expires_at < $1
				AND EXISTS (SELECT 1 FROM tokens u
					WHERE u.family_id = t.family_id AND u.hash <> t.hash AND u.expires_at >= $1)
			LIMIT CAST($2 AS INTEGER)` + d.skipLocked() + `)`
	}},
}

// DeleteExpired implements store.Store. Each step is one statement on its
// own, bounded by batch, so no lock is held for long and a failure leaves
// every row either deleted or intact.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("sqlstore: delete expired: batch %d must be positive", batch)
	}
	bound := millis(now)
	total := 0
	for _, step := range cleanupSteps {
		res, err := s.exec(ctx, step.query(s.dialect), bound, batch)
		if err != nil {
			return total, wrap("delete expired "+step.what, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, wrap("delete expired "+step.what, err)
		}
		total += int(n)
	}
	return total, nil
}

// PruneCacheLog deletes up to batch rows of PostgreSQL's log of cache
// invalidations that no node can need any more: committed more than
// pgLogKeep ago by the database's own clock ("at" is set at commit, so no
// node's clock can make a row go early), of transactions before every
// snapshot's horizon. A node that has not read the log for pgPullGap starts
// afresh (pullXids), well within pgLogKeep. SQLite's log trims itself
// (migration 0018): there it deletes nothing.
func (s *Store) PruneCacheLog(ctx context.Context, batch int) (int, error) {
	if s.dialect != Postgres {
		return 0, nil
	}
	if batch <= 0 {
		return 0, fmt.Errorf("sqlstore: prune cache log: batch %d must be positive", batch)
	}
	res, err := s.exec(ctx, `DELETE FROM cache_invalidations WHERE ctid IN (
		SELECT ctid FROM cache_invalidations
		WHERE at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - `+strconv.FormatInt(pgLogKeep.Milliseconds(), 10)+`
			AND xid < pg_snapshot_xmin(pg_current_snapshot())
		LIMIT CAST($1 AS INTEGER)`+s.dialect.skipLocked()+`)`, batch)
	if err != nil {
		return 0, wrap("prune cache log", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("prune cache log", err)
}
