package sqlstore

import (
	"context"
	"errors"

	"latchkey/internal/store"
)

const verificationColumns = `hash, user_id, email, created_at, expires_at`

func scanVerification(r rowScanner) (store.EmailVerification, error) {
	var v store.EmailVerification
	var created, expires int64
	if err := r.Scan(&v.Hash, &v.UserID, &v.Email, &created, &expires); err != nil {
		return store.EmailVerification{}, err
	}
	v.CreatedAt, v.ExpiresAt = fromMillis(created), fromMillis(expires)
	return v, nil
}

// CreateEmailVerification implements store.Store.
func (s *Store) CreateEmailVerification(ctx context.Context, v store.EmailVerification) error {
	args := []any{v.Hash, v.UserID, v.Email, millis(truncate(v.CreatedAt)), millis(truncate(v.ExpiresAt))}
	if badText(args) {
		return wrap("create email verification", errBadText)
	}
	err := s.Transact(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM email_verifications WHERE user_id = $1`, v.UserID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO email_verifications (`+verificationColumns+`)
			VALUES ($1, $2, $3, $4, $5)`, args...)
		return err
	})
	return wrap("create email verification", err)
}

// GetEmailVerification implements store.Store.
func (s *Store) GetEmailVerification(ctx context.Context, hash string) (store.EmailVerification, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := scanVerification(s.readRow(ctx,
		`SELECT `+verificationColumns+` FROM email_verifications WHERE hash = $1`, hash))
	return v, wrap("get email verification", err)
}

// PendingEmailVerification implements store.Store.
func (s *Store) PendingEmailVerification(ctx context.Context, userID int64) (store.EmailVerification, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := scanVerification(s.readRow(ctx,
		`SELECT `+verificationColumns+` FROM email_verifications WHERE user_id = $1`, userID))
	return v, wrap("get pending email verification", err)
}

// ConfirmEmail implements store.Store. The user's row is locked before
// the verification's, in the order UpdateUser takes them, so the two never
// deadlock.
func (s *Store) ConfirmEmail(ctx context.Context, hash string, check func(store.EmailVerification) error) (store.User, error) {
	var out store.User
	err := s.Transact(ctx, func(tx Tx) error {
		var userID int64
		if err := tx.QueryRowContext(ctx, `SELECT user_id FROM email_verifications WHERE hash = $1`,
			hash).Scan(&userID); err != nil {
			return err
		}
		u, err := scanUser(tx.QueryRowContext(ctx,
			`SELECT `+userColumns+` FROM users WHERE id = $1`+s.dialect.forUpdate(), userID))
		if err != nil {
			return err
		}
		v, err := scanVerification(tx.QueryRowContext(ctx,
			`SELECT `+verificationColumns+` FROM email_verifications WHERE hash = $1`+s.dialect.forUpdate(), hash))
		if err != nil {
			return err
		}
		if err := check(v); err != nil {
			return &callbackError{err}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM email_verifications WHERE user_id = $1`, userID); err != nil {
			return err
		}
		u.Email, u.EmailVerified = v.Email, true
		_, err = tx.ExecContext(ctx, `UPDATE users SET email = $2, email_lower = $3, email_verified = 1 WHERE id = $1`,
			u.ID, u.Email, emailKey(u.Email))
		out = u
		return err
	})
	var cb *callbackError
	switch {
	case errors.As(err, &cb):
		return store.User{}, cb.err
	case err != nil:
		return store.User{}, userError("confirm email", err)
	}
	return out, nil
}
