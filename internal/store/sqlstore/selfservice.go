package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"latchkey/internal/store"
)

// ListClientsByOwner implements store.Store.
func (s *Store) ListClientsByOwner(ctx context.Context, ownerUserID int64) ([]store.Client, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+clientColumns+` FROM clients
		WHERE owner_user_id = $1 ORDER BY pk`, ownerUserID)
	if err != nil {
		return nil, wrap("list clients by owner", err)
	}
	cs, err := collect(rows, scanClient)
	return cs, wrap("list clients by owner", err)
}

// RevokeClientFamilies implements store.Store. Families already revoked
// keep their first revocation time.
func (s *Store) RevokeClientFamilies(ctx context.Context, clientID string, now time.Time) (int, error) {
	var n int
	err := s.Transact(ctx, func(tx *sql.Tx) error {
		// Codes first, for the same reason as in RevokeUserClient.
		if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = $2
			WHERE client_id = $1 AND used_at = 0`, clientID, millis(orNow(now))); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_codes SET status = $2
			WHERE client_id = $1 AND status IN ($3, $4)`, clientID,
			string(store.DeviceDenied), string(store.DevicePending), string(store.DeviceApproved)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE token_families SET revoked_at = $2
			WHERE client_id = $1 AND revoked_at = 0`, clientID, millis(orNow(now)))
		n, err = affected(res, err)
		return err
	})
	return n, wrap("revoke client families", err)
}

// ListConsentsByUser implements store.Store.
func (s *Store) ListConsentsByUser(ctx context.Context, userID int64) ([]store.Consent, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT user_id, client_id, scopes, granted_at FROM consents
		WHERE user_id = $1 ORDER BY granted_at DESC, client_id`, userID)
	if err != nil {
		return nil, wrap("list consents", err)
	}
	cs, err := collect(rows, func(r rowScanner) (store.Consent, error) {
		var c store.Consent
		var scopes string
		var granted int64
		if err := r.Scan(&c.UserID, &c.ClientID, &scopes, &granted); err != nil {
			return store.Consent{}, err
		}
		c.Scopes, c.GrantedAt = splitList(scopes), fromMillis(granted)
		return c, nil
	})
	return cs, wrap("list consents", err)
}

// RevokeUserClient implements store.Store.
func (s *Store) RevokeUserClient(ctx context.Context, userID int64, clientID string, now time.Time) (int, error) {
	var n int
	err := s.Transact(ctx, func(tx *sql.Tx) error {
		// Burn the user's outstanding codes for the client first: on
		// PostgreSQL this waits for a redemption in flight, so that the
		// family it creates is seen, and revoked, by the next statement.
		if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = $3
			WHERE user_id = $1 AND client_id = $2 AND used_at = 0`, userID, clientID, millis(orNow(now))); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_codes SET status = $3
			WHERE user_id = $1 AND client_id = $2 AND status = $4`, userID, clientID,
			string(store.DeviceDenied), string(store.DeviceApproved)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE token_families SET revoked_at = $3
			WHERE user_id = $1 AND client_id = $2 AND revoked_at = 0`, userID, clientID, millis(orNow(now)))
		if n, err = affected(res, err); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
		return err
	})
	if err != nil {
		return 0, wrap("revoke user's client", err)
	}
	return n, nil
}

// DeleteUserSessions implements store.Store.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, exceptID string) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, exceptID)
	n, err := affected(res, err)
	return n, wrap("delete user's sessions", err)
}

// TouchFamily implements store.Store. The row is matched even when its
// time does not move, so an existing family is never ErrNotFound.
func (s *Store) TouchFamily(ctx context.Context, familyID int64, t time.Time) error {
	res, err := s.exec(ctx, `UPDATE token_families
		SET last_used_at = CASE WHEN last_used_at < $2 THEN $2 ELSE last_used_at END
		WHERE id = $1`, familyID, millis(orNow(t)))
	return wrap("touch family", oneRow(res, err))
}

// ListFamiliesByUser implements store.Store. A family is live while it is
// not revoked and a token of its current generation has not expired.
func (s *Store) ListFamiliesByUser(ctx context.Context, userID int64, now time.Time) ([]store.UserFamily, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+familyColumns+`, c.name
		FROM token_families f JOIN clients c ON c.id = f.client_id
		WHERE f.user_id = $1 AND f.revoked_at = 0 AND EXISTS (SELECT 1 FROM tokens t
			WHERE t.family_id = f.id AND t.generation = f.generation AND t.expires_at > $2)
		ORDER BY f.created_at DESC, f.id DESC`, userID, millis(orNow(now)))
	if err != nil {
		return nil, wrap("list user's families", err)
	}
	fs, err := collect(rows, func(r rowScanner) (store.UserFamily, error) {
		var fr familyRow
		var name string
		if err := r.Scan(append(fr.dest(), &name)...); err != nil {
			return store.UserFamily{}, err
		}
		return store.UserFamily{Family: fr.value(), ClientName: name}, nil
	})
	return fs, wrap("list user's families", err)
}

// affected returns how many rows a statement changed.
func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
