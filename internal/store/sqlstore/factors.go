package sqlstore

import (
	"context"
	"time"

	"latchkey/internal/store"
)

// Second factors, recovery codes and sign-ins waiting for their second
// factor (issue 15).

const factorColumns = `id, user_id, kind, name, secret, credential_id, last_step, created_at, last_used_at`

func scanFactor(r rowScanner) (store.Factor, error) {
	var f store.Factor
	var kind string
	var created, used int64
	if err := r.Scan(&f.ID, &f.UserID, &kind, &f.Name, &f.Secret, &f.CredentialID, &f.LastStep, &created, &used); err != nil {
		return store.Factor{}, err
	}
	f.Kind, f.CreatedAt, f.LastUsedAt = store.FactorKind(kind), fromMillis(created), fromMillis(used)
	return f, nil
}

// CreateFactor implements store.Store.
func (s *Store) CreateFactor(ctx context.Context, f store.Factor) (store.Factor, error) {
	f.CreatedAt, f.LastUsedAt = truncate(f.CreatedAt), truncate(f.LastUsedAt)
	if f.Secret == nil {
		f.Secret = []byte{}
	}
	err := s.Transact(ctx, func(tx Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO user_factors
			(user_id, kind, name, secret, credential_id, last_step, created_at, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			f.UserID, string(f.Kind), f.Name, f.Secret, f.CredentialID, f.LastStep, millis(f.CreatedAt),
			millis(f.LastUsedAt)).Scan(&f.ID)
	})
	if err != nil {
		return store.Factor{}, finish("create factor", err)
	}
	return f, nil
}

// ListFactors implements store.Store.
func (s *Store) ListFactors(ctx context.Context, userID int64) ([]store.Factor, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+factorColumns+` FROM user_factors WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, wrap("list factors", err)
	}
	defer rows.Close()
	var out []store.Factor
	for rows.Next() {
		f, err := scanFactor(rows)
		if err != nil {
			return nil, wrap("list factors", err)
		}
		out = append(out, f)
	}
	return out, wrap("list factors", rows.Err())
}

// GetFactorByCredentialID implements store.Store.
func (s *Store) GetFactorByCredentialID(ctx context.Context, credentialID string) (store.Factor, error) {
	if credentialID == "" {
		return store.Factor{}, wrap("get factor", store.ErrNotFound)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	f, err := scanFactor(s.readRow(ctx, `SELECT `+factorColumns+` FROM user_factors WHERE credential_id = $1`, credentialID))
	return f, wrap("get factor", err)
}

// UpdateFactor implements store.Store.
func (s *Store) UpdateFactor(ctx context.Context, userID, id int64, fn func(store.Factor) (store.Factor, error)) (store.Factor, error) {
	var out store.Factor
	err := s.Transact(ctx, func(tx Tx) error {
		old, err := scanFactor(tx.QueryRowContext(ctx, `SELECT `+factorColumns+` FROM user_factors
			WHERE id = $1 AND user_id = $2`+s.dialect.forUpdate(), id, userID))
		if err != nil {
			return err
		}
		f, err := fn(old)
		if err != nil {
			return &callbackError{err}
		}
		f.ID, f.UserID, f.Kind, f.CreatedAt = old.ID, old.UserID, old.Kind, old.CreatedAt
		f.LastUsedAt = truncate(f.LastUsedAt)
		_, err = tx.ExecContext(ctx, `UPDATE user_factors SET name = $2, secret = $3, credential_id = $4,
			last_step = $5, last_used_at = $6 WHERE id = $1`,
			f.ID, f.Name, f.Secret, f.CredentialID, f.LastStep, millis(f.LastUsedAt))
		out = f
		return err
	})
	if err != nil {
		return store.Factor{}, finish("update factor", err)
	}
	return out, nil
}

// DeleteFactor implements store.Store.
func (s *Store) DeleteFactor(ctx context.Context, userID, id int64) error {
	res, err := s.exec(ctx, `DELETE FROM user_factors WHERE id = $1 AND user_id = $2`, id, userID)
	return wrap("delete factor", oneRow(res, err))
}

// DeleteUserFactors implements store.Store in one transaction.
func (s *Store) DeleteUserFactors(ctx context.Context, userID int64) (int, error) {
	var n int
	err := s.Transact(ctx, func(tx Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM user_factors WHERE user_id = $1`, userID)
		if n, err = affected(res, err); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	return n, finish("delete user factors", err)
}

// ReplaceRecoveryCodes implements store.Store in one transaction.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string, now time.Time) error {
	err := s.Transact(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at) VALUES ($1, $2, $3)`,
				userID, h, millis(now)); err != nil {
				return err
			}
		}
		return nil
	})
	return finish("replace recovery codes", err)
}

// UseRecoveryCode implements store.Store with one conditional update:
// of concurrent uses exactly one changes the row.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, hash string, now time.Time) error {
	res, err := s.exec(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND hash = $2 AND used_at = 0`,
		userID, hash, millis(now))
	return wrap("use recovery code", oneRow(res, err))
}

// CountRecoveryCodes implements store.Store.
func (s *Store) CountRecoveryCodes(ctx context.Context, userID int64) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	err := s.readRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at = 0`, userID).Scan(&n)
	return n, wrap("count recovery codes", err)
}

// CreatePendingLogin implements store.Store.
func (s *Store) CreatePendingLogin(ctx context.Context, p store.PendingLogin) error {
	_, err := s.exec(ctx, `INSERT INTO pending_logins (hash, user_id, amr, created_at, expires_at, source_id)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		p.Hash, p.UserID, joinList(p.AMR), millis(p.CreatedAt), millis(p.ExpiresAt), p.SourceID)
	return wrap("create pending login", err)
}

// GetPendingLogin implements store.Store.
func (s *Store) GetPendingLogin(ctx context.Context, hash string) (store.PendingLogin, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	p := store.PendingLogin{Hash: hash}
	var amr string
	var created, expires int64
	err := s.readRow(ctx, `SELECT user_id, amr, created_at, expires_at, source_id FROM pending_logins WHERE hash = $1`, hash).
		Scan(&p.UserID, &amr, &created, &expires, &p.SourceID)
	if err != nil {
		return store.PendingLogin{}, wrap("get pending login", err)
	}
	p.AMR, p.CreatedAt, p.ExpiresAt = splitList(amr), fromMillis(created), fromMillis(expires)
	return p, nil
}

// DeletePendingLogin implements store.Store.
func (s *Store) DeletePendingLogin(ctx context.Context, hash string) error {
	res, err := s.exec(ctx, `DELETE FROM pending_logins WHERE hash = $1`, hash)
	return wrap("delete pending login", oneRow(res, err))
}

// UseOnce implements store.Store: the primary key refuses a second use.
func (s *Store) UseOnce(ctx context.Context, key string, expires time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO used_once (key, expires_at) VALUES ($1, $2)`, key, millis(expires))
	return wrap("use once", err)
}
