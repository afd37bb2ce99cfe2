package sqlstore

import (
	"context"
	"time"

	"latchkey/internal/store"
)

const deviceColumns = `hash, user_code, client_id, scopes, status, user_id, auth_time, interval_ms,
	last_polled_at, created_at, expires_at, family_id, source_address, resources,
	sid, amr, acr`

func scanDevice(r rowScanner) (store.DeviceCode, error) {
	var d store.DeviceCode
	var scopes, status, resources, amr string
	var auth, interval, polled, created, expires int64
	err := r.Scan(&d.Hash, &d.UserCode, &d.ClientID, &scopes, &status, &d.UserID, &auth, &interval,
		&polled, &created, &expires, &d.FamilyID, &d.SourceAddress, &resources, &d.SignIn.SID, &amr, &d.SignIn.ACR)
	d.SignIn.AMR = splitList(amr)
	if err != nil {
		return store.DeviceCode{}, err
	}
	d.Scopes, d.Status, d.Resources = splitList(scopes), store.DeviceStatus(status), splitList(resources)
	d.Interval = time.Duration(interval) * time.Millisecond
	d.AuthTime, d.LastPolledAt = fromMillis(auth), fromMillis(polled)
	d.CreatedAt, d.ExpiresAt = fromMillis(created), fromMillis(expires)
	return d, nil
}

// CreateDeviceCode implements store.Store. An empty Status is stored as
// pending.
func (s *Store) CreateDeviceCode(ctx context.Context, d store.DeviceCode) error {
	if d.Status == "" {
		d.Status = store.DevicePending
	}
	_, err := s.exec(ctx, `INSERT INTO device_codes (`+deviceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		d.Hash, d.UserCode, d.ClientID, joinList(d.Scopes), string(d.Status), d.UserID, millis(d.AuthTime),
		d.Interval.Milliseconds(), millis(d.LastPolledAt), millis(d.CreatedAt), millis(d.ExpiresAt), d.FamilyID,
		d.SourceAddress, joinList(d.Resources), d.SignIn.SID, joinList(d.SignIn.AMR), d.SignIn.ACR)
	return wrap("create device code", err)
}

// GetDeviceCode implements store.Store.
func (s *Store) GetDeviceCode(ctx context.Context, hash string) (store.DeviceCode, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	d, err := scanDevice(s.readRow(ctx, `SELECT `+deviceColumns+` FROM device_codes WHERE hash = $1`, hash))
	if err != nil {
		return store.DeviceCode{}, wrap("get device code", err)
	}
	return d, nil
}

// GetDeviceCodeByUserCode implements store.Store.
func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCode string) (store.DeviceCode, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	d, err := scanDevice(s.readRow(ctx, `SELECT `+deviceColumns+` FROM device_codes WHERE user_code = $1`, userCode))
	if err != nil {
		return store.DeviceCode{}, wrap("get device code", err)
	}
	return d, nil
}

// UpdateDeviceCode implements store.Store.
func (s *Store) UpdateDeviceCode(ctx context.Context, hash string, now time.Time,
	fn func(store.DeviceCode) (store.DeviceCode, *store.Issue, error)) (store.DeviceCode, error) {
	var out store.DeviceCode
	err := s.Transact(ctx, func(tx Tx) error {
		cur, err := scanDevice(tx.QueryRowContext(ctx,
			`SELECT `+deviceColumns+` FROM device_codes WHERE hash = $1`+s.dialect.forUpdate(), hash))
		if err != nil {
			return err
		}
		next, iss, err := fn(cur)
		if err != nil {
			return &callbackError{err}
		}
		if iss != nil {
			fam := iss.Family
			fam.ClientID, fam.UserID = cur.ClientID, next.UserID
			written, err := writeIssue(ctx, tx, store.Issue{Family: fam, Tokens: iss.Tokens}, now)
			if err != nil {
				return err
			}
			next.FamilyID = written.Family.ID
		}
		next.Hash, next.UserCode, next.ClientID, next.Scopes = cur.Hash, cur.UserCode, cur.ClientID, cur.Scopes
		next.SourceAddress, next.Resources = cur.SourceAddress, cur.Resources
		next.CreatedAt, next.ExpiresAt = cur.CreatedAt, cur.ExpiresAt
		next.AuthTime, next.LastPolledAt = truncate(next.AuthTime), truncate(next.LastPolledAt)
		next.Interval = next.Interval.Truncate(time.Millisecond)
		out = next
		_, err = tx.ExecContext(ctx, `UPDATE device_codes SET status = $2, user_id = $3, auth_time = $4,
			interval_ms = $5, last_polled_at = $6, family_id = $7, sid = $8, amr = $9, acr = $10 WHERE hash = $1`,
			hash, string(next.Status), next.UserID, millis(next.AuthTime), next.Interval.Milliseconds(),
			millis(next.LastPolledAt), next.FamilyID, next.SignIn.SID, joinList(next.SignIn.AMR), next.SignIn.ACR)
		return err
	})
	if err != nil {
		return store.DeviceCode{}, finish("update device code", err)
	}
	return out, nil
}

// CreateFamily implements store.Store.
func (s *Store) CreateFamily(ctx context.Context, iss store.Issue, now time.Time) (store.Issue, error) {
	if s.dialect == Postgres {
		out, err := s.createFamilyAtOnce(ctx, iss, now)
		if err != nil {
			return store.Issue{}, wrap("create family", err)
		}
		return out, nil
	}
	var out store.Issue
	err := s.Transact(ctx, func(tx Tx) error {
		var err error
		out, err = writeIssue(ctx, tx, iss, now)
		return err
	})
	if err != nil {
		return store.Issue{}, wrap("create family", err)
	}
	return out, nil
}

// writeIssue inserts a new family and its tokens.
func writeIssue(ctx context.Context, tx Tx, iss store.Issue, now time.Time) (store.Issue, error) {
	f, err := insertFamily(ctx, tx, iss.Family, now)
	if err != nil {
		return store.Issue{}, err
	}
	toks, err := insertTokens(ctx, tx, f, iss.Tokens, now)
	if err != nil {
		return store.Issue{}, err
	}
	return store.Issue{Family: f, Tokens: toks}, nil
}
