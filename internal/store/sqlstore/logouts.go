package sqlstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"latchkey/internal/store"
)

// Logout deliveries are a second queue claimed exactly like webhook
// deliveries (see deliveries.go): one UPDATE whose subquery picks due
// rows, skipping on PostgreSQL the rows another claim holds, counts the
// attempt and leases them.

const logoutColumns = `id, client_id, subject, sid, jti, state, attempts, next_attempt_at, lease_until,
	response_status, error, attempted_at, created_at`

func scanLogout(r rowScanner) (store.LogoutDelivery, error) {
	var d store.LogoutDelivery
	var state string
	var next, lease, attempted, created int64
	err := r.Scan(&d.ID, &d.ClientID, &d.Subject, &d.SID, &d.JTI, &state, &d.Attempts, &next, &lease,
		&d.ResponseStatus, &d.Error, &attempted, &created)
	if err != nil {
		return store.LogoutDelivery{}, err
	}
	d.State = store.DeliveryState(state)
	d.NextAttemptAt, d.LeaseUntil = fromMillis(next), fromMillis(lease)
	d.AttemptedAt, d.CreatedAt = fromMillis(attempted), fromMillis(created)
	return d, nil
}

// LogoutTargets implements store.Store.
func (s *Store) LogoutTargets(ctx context.Context, userID int64, sid string) ([]store.LogoutTarget, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+prefixed("c.", clientColumns)+`, f.sid FROM clients c
		JOIN (SELECT DISTINCT client_id, sid FROM token_families WHERE user_id = $1 AND ($2 = '' OR sid = $2)) f
			ON f.client_id = c.id
		WHERE c.backchannel_logout_uri <> ''
		ORDER BY c.id, f.sid`, userID, sid)
	if err != nil {
		return nil, wrap("logout targets", err)
	}
	out, err := collect(rows, func(r rowScanner) (store.LogoutTarget, error) {
		var t store.LogoutTarget
		var err error
		t.Client, err = scanClient(withTail{r, &t.SID})
		return t, err
	})
	return out, wrap("logout targets", err)
}

// withTail scans the columns of a row scanner's reader followed by more
// destinations.
type withTail struct {
	r    rowScanner
	tail any
}

func (w withTail) Scan(dest ...any) error { return w.r.Scan(append(dest, w.tail)...) }

// prefixed qualifies every column of a column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// EnqueueLogouts implements store.Store.
func (s *Store) EnqueueLogouts(ctx context.Context, ds []store.LogoutDelivery) ([]store.LogoutDelivery, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	out := make([]store.LogoutDelivery, len(ds))
	err := s.Transact(ctx, func(tx Tx) error {
		for i, d := range ds {
			d = store.LogoutDelivery{ClientID: d.ClientID, Subject: d.Subject, SID: d.SID, JTI: d.JTI,
				State: store.DeliveryPending, NextAttemptAt: truncate(d.NextAttemptAt), CreatedAt: truncate(d.CreatedAt)}
			err := tx.QueryRowContext(ctx, `INSERT INTO logout_deliveries
				(client_id, subject, sid, jti, state, attempts, next_attempt_at, created_at)
				VALUES ($1, $2, $3, $4, $5, 0, $6, $7) RETURNING id`,
				d.ClientID, d.Subject, d.SID, d.JTI, string(d.State), millis(d.NextAttemptAt), millis(d.CreatedAt)).Scan(&d.ID)
			if err != nil {
				return err
			}
			out[i] = d
		}
		return nil
	})
	if err != nil {
		return nil, wrap("enqueue logouts", err)
	}
	return out, nil
}

// ClaimLogouts implements store.Store, as ClaimDeliveries.
func (s *Store) ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.LogoutDelivery, error) {
	switch {
	case limit < 1:
		return nil, nil
	case now.IsZero():
		return nil, wrap("claim logouts", errZeroNow)
	case lease <= 0:
		return nil, wrap("claim logouts", errNoLease)
	}
	var ds []store.LogoutDelivery
	err := s.Transact(ctx, func(tx Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE logout_deliveries SET attempts = attempts + 1, lease_until = $2
			WHERE id IN (SELECT id FROM logout_deliveries
				WHERE state = '`+string(store.DeliveryPending)+`' AND next_attempt_at <= $1 AND lease_until <= $1
				ORDER BY next_attempt_at, id LIMIT CAST($3 AS INTEGER)`+s.dialect.skipLocked()+`)
			RETURNING `+logoutColumns, millis(now), millis(now.Add(lease)), limit)
		if err != nil {
			return err
		}
		ds, err = collect(rows, scanLogout)
		return err
	})
	if err != nil {
		return nil, wrap("claim logouts", err)
	}
	slices.SortFunc(ds, func(a, b store.LogoutDelivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return ds, nil
}

// FinishLogout implements store.Store. Error is stored as U+FFFD where it
// holds NUL bytes or invalid UTF-8 (it may quote a remote server).
func (s *Store) FinishLogout(ctx context.Context, id int64, r store.DeliveryResult) error {
	switch r.State {
	case store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		return wrap("finish logout", errUnknownState(r.State))
	}
	res, err := s.exec(ctx, `UPDATE logout_deliveries SET state = $2, next_attempt_at = $3, lease_until = 0,
		response_status = $4, error = $5, attempted_at = $6 WHERE id = $1`,
		id, string(r.State), millis(r.NextAttemptAt), r.ResponseStatus, printable(r.Error), millis(r.AttemptedAt))
	return wrap("finish logout", oneRow(res, err))
}

// ListLogouts implements store.Store.
func (s *Store) ListLogouts(ctx context.Context, clientID string, p store.Page) ([]store.LogoutDelivery, store.Cursor, error) {
	before := int64(maxID)
	if err := readCursor(p.After, &before); err != nil {
		return nil, "", wrap("list logouts", err)
	}
	return listPage(ctx, s, "list logouts", p, `SELECT `+logoutColumns+` FROM logout_deliveries
		WHERE client_id = $1 AND id < $2 ORDER BY id DESC LIMIT CAST($3 AS INTEGER)`,
		func(r rowScanner) (keyed[store.LogoutDelivery], error) {
			d, err := scanLogout(r)
			return keyed[store.LogoutDelivery]{d, cursorOf(d.ID)}, err
		}, clientID, before)
}

// PruneLogouts implements store.Store.
func (s *Store) PruneLogouts(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch < 1 {
		return 0, nil
	}
	res, err := s.exec(ctx, `DELETE FROM logout_deliveries WHERE id IN (
		SELECT id FROM logout_deliveries WHERE state <> '`+string(store.DeliveryPending)+`' AND attempted_at < $1
		ORDER BY id LIMIT CAST($2 AS INTEGER)`+s.dialect.skipLocked()+`)`, millis(before), batch)
	n, err := affected(res, err)
	return n, wrap("prune logouts", err)
}

// errUnknownState refuses a result whose state is none of the three.
type errUnknownState store.DeliveryState

func (e errUnknownState) Error() string { return "unknown delivery state " + string(e) }
