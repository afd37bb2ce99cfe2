package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"latchkey/internal/store"
)

// ListClientsByOwner implements store.Store.
func (s *Store) ListClientsByOwner(ctx context.Context, ownerUserID int64, p store.Page) ([]store.Client, store.Cursor, error) {
	var after int64
	if err := readCursor(p.After, &after); err != nil {
		return nil, "", wrap("list clients by owner", err)
	}
	return listPage(ctx, s, "list clients by owner", p, `SELECT `+clientColumns+`, pk FROM clients
		WHERE owner_user_id = $1 AND pk > $2 ORDER BY pk LIMIT CAST($3 AS INTEGER)`, scanClientKey, ownerUserID, after)
}

// RevokeClientFamilies implements store.Store. Families already revoked
// keep their first revocation time.
func (s *Store) RevokeClientFamilies(ctx context.Context, clientID string, now time.Time) (int, error) {
	if now.IsZero() {
		return 0, wrap("revoke client families", errZeroNow)
	}
	var n int
	err := s.Transact(ctx, func(tx Tx) error {
		// Codes first, for the same reason as in RevokeUserClient.
		if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = $2
			WHERE client_id = $1 AND used_at = 0`, clientID, millis(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_codes SET status = $2
			WHERE client_id = $1 AND status IN ($3, $4)`, clientID,
			string(store.DeviceDenied), string(store.DevicePending), string(store.DeviceApproved)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE token_families SET revoked_at = $2
			WHERE client_id = $1 AND revoked_at = 0`, clientID, millis(now))
		n, err = affected(res, err)
		return err
	})
	return n, wrap("revoke client families", err)
}

// ListConsentsByUser implements store.Store.
func (s *Store) ListConsentsByUser(ctx context.Context, userID int64, p store.Page) ([]store.Consent, store.Cursor, error) {
	granted, client := int64(maxMillis), ""
	if err := readCursor(p.After, &granted, &client); err != nil {
		return nil, "", wrap("list consents", err)
	}
	b := s.dialect.bytewise()
	return listPage(ctx, s, "list consents", p, `SELECT user_id, client_id, scopes, granted_at, resources FROM consents
		WHERE user_id = $1 AND (granted_at < $2 OR (granted_at = $2 AND client_id`+b+` > $3))
		ORDER BY granted_at DESC, client_id`+b+` LIMIT CAST($4 AS INTEGER)`,
		func(r rowScanner) (keyed[store.Consent], error) {
			var c store.Consent
			var scopes, resources string
			var at int64
			err := r.Scan(&c.UserID, &c.ClientID, &scopes, &at, &resources)
			c.Scopes, c.GrantedAt, c.Resources = splitList(scopes), fromMillis(at), splitList(resources)
			return keyed[store.Consent]{c, cursorOf(at, c.ClientID)}, err
		}, userID, granted, client)
}

// RevokeUserClient implements store.Store.
func (s *Store) RevokeUserClient(ctx context.Context, userID int64, clientID string, now time.Time) (int, error) {
	if now.IsZero() {
		return 0, wrap("revoke user's client", errZeroNow)
	}
	var n int
	err := s.Transact(ctx, func(tx Tx) error {
		// Burn the user's outstanding codes for the client first: on
		// PostgreSQL this waits for a redemption in flight, so that the
		// family it creates is seen, and revoked, by the next statement.
		if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = $3
			WHERE user_id = $1 AND client_id = $2 AND used_at = 0`, userID, clientID, millis(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_codes SET status = $3
			WHERE user_id = $1 AND client_id = $2 AND status = $4`, userID, clientID,
			string(store.DeviceDenied), string(store.DeviceApproved)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE token_families SET revoked_at = $3
			WHERE user_id = $1 AND client_id = $2 AND revoked_at = 0`, userID, clientID, millis(now))
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

// RevokeUserFamilies implements store.Store. Families already revoked
// keep their first revocation time.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID int64, now time.Time) (int, error) {
	if now.IsZero() {
		return 0, wrap("revoke user's families", errZeroNow)
	}
	var n int
	err := s.Transact(ctx, func(tx Tx) error {
		// Codes first, for the same reason as in RevokeUserClient.
		if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = $2
			WHERE user_id = $1 AND used_at = 0`, userID, millis(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_codes SET status = $2
			WHERE user_id = $1 AND status = $3`, userID,
			string(store.DeviceDenied), string(store.DeviceApproved)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE token_families SET revoked_at = $2
			WHERE user_id = $1 AND revoked_at = 0`, userID, millis(now))
		if n, err = affected(res, err); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM consents WHERE user_id = $1`, userID)
		return err
	})
	if err != nil {
		return 0, wrap("revoke user's families", err)
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
		WHERE id = $1`, familyID, millis(t))
	return wrap("touch family", oneRow(res, err))
}

// ListFamiliesByUser implements store.Store. A family is live while it is
// not revoked and a token of its current generation has not expired.
func (s *Store) ListFamiliesByUser(ctx context.Context, userID int64, now time.Time,
	p store.Page) ([]store.UserFamily, store.Cursor, error) {
	created, id := int64(maxMillis), int64(maxID)
	if err := readCursor(p.After, &created, &id); err != nil {
		return nil, "", wrap("list user's families", err)
	}
	return listPage(ctx, s, "list user's families", p, `SELECT `+familyColumns+`, c.name
		FROM token_families f JOIN clients c ON c.id = f.client_id
		WHERE f.user_id = $1 AND f.revoked_at = 0 AND EXISTS (SELECT 1 FROM tokens t
			WHERE t.family_id = f.id AND t.generation = f.generation AND t.expires_at > $2)
			AND (f.created_at < $3 OR (f.created_at = $3 AND f.id < $4))
		ORDER BY f.created_at DESC, f.id DESC LIMIT CAST($5 AS INTEGER)`,
		func(r rowScanner) (keyed[store.UserFamily], error) {
			var fr familyRow
			var name string
			err := r.Scan(append(fr.dest(), &name)...)
			return keyed[store.UserFamily]{store.UserFamily{Family: fr.value(), ClientName: name},
				cursorOf(fr.createdAt, fr.f.ID)}, err
		}, userID, millis(now), created, id)
}

// affected returns how many rows a statement changed.
func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
