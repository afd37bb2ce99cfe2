package sqlstore

import (
	"context"
	"slices"

	"latchkey/internal/store"
)

const permissionColumns = `user_id, target, target_id, name, source_id`

func scanPermission(r rowScanner) (store.Permission, error) {
	var p store.Permission
	err := r.Scan(&p.UserID, &p.Target, &p.TargetID, &p.Name, &p.SourceID)
	return p, err
}

// SetPermission implements store.Store. ErrNotFound if the user does not exist.
func (s *Store) SetPermission(ctx context.Context, p store.Permission) error {
	_, err := s.exec(ctx, `INSERT INTO permissions (user_id, target, target_id, name, source_id)
		VALUES ($1, $2, $3, $4, 0)
		ON CONFLICT (user_id, target, target_id) DO UPDATE SET name = excluded.name, source_id = 0`,
		p.UserID, string(p.Target), p.TargetID, p.Name)
	return wrap("set permission", err)
}

// DeletePermission implements store.Store.
func (s *Store) DeletePermission(ctx context.Context, userID int64, target store.TargetKind, targetID int64) error {
	res, err := s.exec(ctx, `DELETE FROM permissions
		WHERE user_id = $1 AND target = $2 AND target_id = $3`, userID, string(target), targetID)
	return wrap("delete permission", oneRow(res, err))
}

// ListPermissions implements store.Store. The order is by target kind, then target ID.
func (s *Store) ListPermissions(ctx context.Context, userID int64) ([]store.Permission, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return cached(ctx, s, cacheKey{kind: keyPermissions, n: userID}, slices.Clone[[]store.Permission],
		func(ctx context.Context) ([]store.Permission, []cacheTag, error) {
			rows, err := s.readRows(ctx, `SELECT `+permissionColumns+` FROM permissions
				WHERE user_id = $1 ORDER BY target, target_id`, userID)
			if err != nil {
				return nil, nil, wrap("list permissions", err)
			}
			ps, err := collect(rows, scanPermission)
			return ps, []cacheTag{userTag(userID)}, wrap("list permissions", err)
		})
}
