package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"latchkey/internal/store"
)

const userColumns = `id, username, email, email_verified, display_name, password_hash, disabled, created_at, source_id`

func scanUser(r rowScanner) (store.User, error) {
	var u store.User
	var created int64
	if err := r.Scan(&u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.DisplayName, &u.PasswordHash,
		&u.Disabled, &created, &u.SourceID); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = fromMillis(created)
	return u, nil
}

// emailKey is the key of an address's uniqueness: its Unicode lower case.
func emailKey(email string) string { return strings.ToLower(email) }

// userError is wrap for the writes of a user row, which tells a taken
// address (the unique index users_email_lower, named in the message of
// both backends) from a taken user name.
func userError(op string, err error) error {
	if err != nil && isUniqueViolation(err) && strings.Contains(err.Error(), "email_lower") {
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrEmailTaken)
	}
	return wrap(op, err)
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	u.CreatedAt = truncate(u.CreatedAt)
	id, err := s.insertID(ctx, `INSERT INTO users
		(username, username_lower, email, email_lower, email_verified, display_name, password_hash, disabled, created_at, source_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		u.Username, strings.ToLower(u.Username), u.Email, emailKey(u.Email), flag(u.EmailVerified),
		u.DisplayName, u.PasswordHash, flag(u.Disabled), millis(u.CreatedAt), u.SourceID)
	if err != nil {
		return store.User{}, userError("create user", err)
	}
	u.ID = id
	return u, nil
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return cached(ctx, s, cacheKey{kind: keyUser, n: id}, sameUser,
		func(ctx context.Context) (store.User, []cacheTag, error) {
			u, err := scanUser(s.readRow(ctx,
				`SELECT `+userColumns+` FROM users WHERE id = $1`, id))
			return u, []cacheTag{userTag(id)}, wrap("get user", err)
		})
}

// sameUser is the clone of a store.User, which holds no slice or map.
func sameUser(u store.User) store.User { return u }

// GetUserByUsername implements store.Store.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	name := strings.ToLower(username)
	return cached(ctx, s, cacheKey{kind: keyUserByName, s: name}, sameUser,
		func(ctx context.Context) (store.User, []cacheTag, error) {
			u, err := scanUser(s.readRow(ctx,
				`SELECT `+userColumns+` FROM users WHERE username_lower = $1`, name))
			return u, []cacheTag{userTag(u.ID)}, wrap("get user by name", err)
		})
}

// GetUserByEmail implements store.Store.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	if email == "" {
		return store.User{}, wrap("get user by email", sql.ErrNoRows)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	u, err := scanUser(s.readRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE email_lower = $1`, emailKey(email)))
	return u, wrap("get user by email", err)
}

// CountUsers implements store.Store.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	err := s.readRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, wrap("count users", err)
}

// UpdateUser implements store.Store. fn cannot change ID or CreatedAt.
func (s *Store) UpdateUser(ctx context.Context, id int64, fn func(store.User) (store.User, error)) (store.User, error) {
	var out store.User
	err := s.Transact(ctx, func(tx Tx) error {
		old, err := scanUser(tx.QueryRowContext(ctx,
			`SELECT `+userColumns+` FROM users WHERE id = $1`+s.dialect.forUpdate(), id))
		if err != nil {
			return err
		}
		u, err := fn(old)
		if err != nil {
			return &callbackError{err}
		}
		u.ID, u.CreatedAt = old.ID, old.CreatedAt
		if u.Email != old.Email {
			if _, err := tx.ExecContext(ctx, `DELETE FROM email_verifications WHERE user_id = $1`, u.ID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET username = $2, username_lower = $3, email = $4,
			email_lower = $5, email_verified = $6, display_name = $7, password_hash = $8, disabled = $9,
			source_id = $10 WHERE id = $1`,
			u.ID, u.Username, strings.ToLower(u.Username), u.Email, emailKey(u.Email), flag(u.EmailVerified),
			u.DisplayName, u.PasswordHash, flag(u.Disabled), u.SourceID)
		out = u
		return err
	})
	if err != nil {
		var cb *callbackError
		if errors.As(err, &cb) {
			return store.User{}, cb.err
		}
		return store.User{}, userError("update user", err)
	}
	return out, nil
}
