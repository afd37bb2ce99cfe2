package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"latchkey/internal/store"
)

// Identity sources, external identities, source-granted permissions and
// the sessions that went through a source (issue 16).

const sourceColumns = `id, name, display_name, kind, enabled, position, config, secret, created_at, updated_at,
	synced_at, sync_error`

func scanSource(r rowScanner) (store.IdentitySource, error) {
	var src store.IdentitySource
	var config string
	var created, updated, synced int64
	if err := r.Scan(&src.ID, &src.Name, &src.DisplayName, &src.Kind, &src.Enabled, &src.Position, &config,
		&src.Secret, &created, &updated, &synced, &src.SyncError); err != nil {
		return store.IdentitySource{}, err
	}
	src.Config = []byte(config)
	src.CreatedAt, src.UpdatedAt, src.SyncedAt = fromMillis(created), fromMillis(updated), fromMillis(synced)
	return src, nil
}

// CreateIdentitySource implements store.Store.
func (s *Store) CreateIdentitySource(ctx context.Context, src store.IdentitySource) (store.IdentitySource, error) {
	src.CreatedAt, src.UpdatedAt, src.SyncedAt = truncate(src.CreatedAt), truncate(src.UpdatedAt), truncate(src.SyncedAt)
	if src.Secret == nil {
		src.Secret = []byte{}
	}
	if len(src.Config) == 0 {
		src.Config = []byte("{}")
	}
	id, err := s.insertID(ctx, `INSERT INTO identity_sources
		(name, name_lower, display_name, kind, enabled, position, config, secret, created_at, updated_at, synced_at, sync_error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		src.Name, strings.ToLower(src.Name), src.DisplayName, string(src.Kind), flag(src.Enabled), src.Position,
		string(src.Config), src.Secret, millis(src.CreatedAt), millis(src.UpdatedAt), millis(src.SyncedAt), src.SyncError)
	if err != nil {
		return store.IdentitySource{}, wrap("create identity source", err)
	}
	src.ID = id
	return src, nil
}

// GetIdentitySource implements store.Store.
func (s *Store) GetIdentitySource(ctx context.Context, id int64) (store.IdentitySource, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	src, err := scanSource(s.readRow(ctx, `SELECT `+sourceColumns+` FROM identity_sources WHERE id = $1`, id))
	return src, wrap("get identity source", err)
}

// GetIdentitySourceByName implements store.Store.
func (s *Store) GetIdentitySourceByName(ctx context.Context, name string) (store.IdentitySource, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	src, err := scanSource(s.readRow(ctx, `SELECT `+sourceColumns+` FROM identity_sources WHERE name_lower = $1`,
		strings.ToLower(name)))
	return src, wrap("get identity source by name", err)
}

// ListIdentitySources implements store.Store.
func (s *Store) ListIdentitySources(ctx context.Context) ([]store.IdentitySource, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+sourceColumns+` FROM identity_sources ORDER BY position, id`)
	if err != nil {
		return nil, wrap("list identity sources", err)
	}
	out, err := collect(rows, scanSource)
	return out, wrap("list identity sources", err)
}

// UpdateIdentitySource implements store.Store.
func (s *Store) UpdateIdentitySource(ctx context.Context, id int64,
	fn func(store.IdentitySource) (store.IdentitySource, error)) (store.IdentitySource, error) {
	var out store.IdentitySource
	err := s.Transact(ctx, func(tx Tx) error {
		old, err := scanSource(tx.QueryRowContext(ctx,
			`SELECT `+sourceColumns+` FROM identity_sources WHERE id = $1`+s.dialect.forUpdate(), id))
		if err != nil {
			return err
		}
		src, err := fn(old)
		if err != nil {
			return &callbackError{err}
		}
		src.ID, src.Kind, src.CreatedAt = old.ID, old.Kind, old.CreatedAt
		src.UpdatedAt, src.SyncedAt = truncate(src.UpdatedAt), truncate(src.SyncedAt)
		if src.Secret == nil {
			src.Secret = []byte{}
		}
		if len(src.Config) == 0 {
			src.Config = []byte("{}")
		}
		_, err = tx.ExecContext(ctx, `UPDATE identity_sources SET name = $2, name_lower = $3, display_name = $4,
			enabled = $5, position = $6, config = $7, secret = $8, updated_at = $9, synced_at = $10, sync_error = $11
			WHERE id = $1`,
			src.ID, src.Name, strings.ToLower(src.Name), src.DisplayName, flag(src.Enabled), src.Position,
			string(src.Config), src.Secret, millis(src.UpdatedAt), millis(src.SyncedAt), src.SyncError)
		out = src
		return err
	})
	if err != nil {
		return store.IdentitySource{}, finish("update identity source", err)
	}
	return out, nil
}

// DeleteIdentitySource implements store.Store. The permissions the source
// granted go with it (they have no foreign key); identities go by theirs.
func (s *Store) DeleteIdentitySource(ctx context.Context, id int64) error {
	err := s.Transact(ctx, func(tx Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE source_id = $1 LIMIT 1`, id).Scan(&one)
		switch {
		case err == nil:
			return errInUse
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM permissions WHERE source_id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM external_identities WHERE source_id = $1`, id); err != nil {
			return err
		}
		return oneRow(tx.ExecContext(ctx, `DELETE FROM identity_sources WHERE id = $1`, id))
	})
	if errors.Is(err, errInUse) {
		return fmt.Errorf("sqlstore: delete identity source: %w", store.ErrInUse)
	}
	return wrap("delete identity source", err)
}

// errInUse ends the transaction of DeleteIdentitySource.
var errInUse = errors.New("in use")

// ListSourceUsers implements store.Store.
func (s *Store) ListSourceUsers(ctx context.Context, sourceID int64, p store.Page) ([]store.User, store.Cursor, error) {
	var after int64
	if err := readCursor(p.After, &after); err != nil {
		return nil, "", wrap("list source users", err)
	}
	return listPage(ctx, s, "list source users", p, `SELECT `+userColumns+` FROM users
		WHERE source_id = $1 AND id > $2 ORDER BY id LIMIT CAST($3 AS INTEGER)`,
		func(r rowScanner) (keyed[store.User], error) {
			u, err := scanUser(r)
			return keyed[store.User]{u, cursorOf(u.ID)}, err
		}, sourceID, after)
}

// LinkIdentity implements store.Store.
func (s *Store) LinkIdentity(ctx context.Context, id store.ExternalIdentity) error {
	_, err := s.exec(ctx, `INSERT INTO external_identities (source_id, subject, user_id, created_at)
		VALUES ($1, $2, $3, $4)`, id.SourceID, id.Subject, id.UserID, millis(id.CreatedAt))
	return wrap("link identity", err)
}

func scanIdentity(r rowScanner) (store.ExternalIdentity, error) {
	var id store.ExternalIdentity
	var created int64
	if err := r.Scan(&id.SourceID, &id.Subject, &id.UserID, &created); err != nil {
		return store.ExternalIdentity{}, err
	}
	id.CreatedAt = fromMillis(created)
	return id, nil
}

// GetLinkedIdentity implements store.Store.
func (s *Store) GetLinkedIdentity(ctx context.Context, sourceID int64, subject string) (store.ExternalIdentity, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	id, err := scanIdentity(s.readRow(ctx, `SELECT source_id, subject, user_id, created_at
		FROM external_identities WHERE source_id = $1 AND subject = $2`, sourceID, subject))
	return id, wrap("get linked identity", err)
}

// ListUserIdentities implements store.Store.
func (s *Store) ListUserIdentities(ctx context.Context, userID int64) ([]store.ExternalIdentity, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT source_id, subject, user_id, created_at
		FROM external_identities WHERE user_id = $1 ORDER BY source_id`, userID)
	if err != nil {
		return nil, wrap("list user identities", err)
	}
	out, err := collect(rows, scanIdentity)
	return out, wrap("list user identities", err)
}

// UnlinkIdentity implements store.Store.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, sourceID int64) error {
	res, err := s.exec(ctx, `DELETE FROM external_identities WHERE user_id = $1 AND source_id = $2`, userID, sourceID)
	return wrap("unlink identity", oneRow(res, err))
}

// SyncSourcePermissions implements store.Store.
func (s *Store) SyncSourcePermissions(ctx context.Context, userID, sourceID int64, want []store.Permission) ([]store.Permission, error) {
	var out []store.Permission
	err := s.Transact(ctx, func(tx Tx) error {
		// The user row is locked first, as UpdateUser does, so that a sync
		// and an administrator's change of the same user take turns.
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = $1`+s.dialect.forUpdate(), userID).Scan(&one); err != nil {
			return err
		}
		have, err := collectTx(ctx, tx, `SELECT `+permissionColumns+` FROM permissions WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		type key struct {
			target store.TargetKind
			id     int64
		}
		wanted := map[key]string{}
		for _, p := range want {
			wanted[key{p.Target, p.TargetID}] = p.Name
		}
		owned := map[key]store.Permission{}
		for _, p := range have {
			owned[key{p.Target, p.TargetID}] = p
		}
		for k, p := range owned {
			if _, ok := wanted[k]; ok || p.SourceID != sourceID {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM permissions
				WHERE user_id = $1 AND target = $2 AND target_id = $3 AND source_id = $4`,
				userID, string(k.target), k.id, sourceID); err != nil {
				return err
			}
		}
		for k, name := range wanted {
			if p, ok := owned[k]; ok && (p.SourceID != sourceID || p.Name == name) {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO permissions (user_id, target, target_id, name, source_id)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (user_id, target, target_id) DO UPDATE SET name = excluded.name
				WHERE permissions.source_id = excluded.source_id`,
				userID, string(k.target), k.id, name, sourceID); err != nil {
				return err
			}
		}
		out, err = collectTx(ctx, tx, `SELECT `+permissionColumns+` FROM permissions
			WHERE user_id = $1 ORDER BY target, target_id`, userID)
		return err
	})
	if err != nil {
		return nil, wrap("sync source permissions", err)
	}
	return out, nil
}

// collectTx reads permissions inside a transaction.
func collectTx(ctx context.Context, tx Tx, query string, args ...any) ([]store.Permission, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPermission)
}

// DeleteSourceSessions implements store.Store.
func (s *Store) DeleteSourceSessions(ctx context.Context, sourceID int64) (int, error) {
	var n int64
	err := s.Transact(ctx, func(tx Tx) error {
		const users = `SELECT id FROM users WHERE source_id = $1`
		if _, err := tx.ExecContext(ctx, `DELETE FROM pending_logins
			WHERE source_id = $1 OR user_id IN (`+users+`)`, sourceID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions
			WHERE source_id = $1 OR user_id IN (`+users+`)`, sourceID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), wrap("delete source sessions", err)
}
