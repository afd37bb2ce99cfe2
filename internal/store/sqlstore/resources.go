package sqlstore

import (
	"context"
	"strings"

	"latchkey/internal/store"
)

// ListUsers implements store.Store.
func (s *Store) ListUsers(ctx context.Context, p store.Page) ([]store.User, store.Cursor, error) {
	after := ""
	if err := readCursor(p.After, &after); err != nil {
		return nil, "", wrap("list users", err)
	}
	return listPage(ctx, s, "list users", p, `SELECT `+userColumns+`, username_lower FROM users
		WHERE username_lower > $1 ORDER BY username_lower LIMIT CAST($2 AS INTEGER)`,
		func(r rowScanner) (keyed[store.User], error) {
			var lower string
			u, err := scanUser(extraScanner{r, []any{&lower}})
			return keyed[store.User]{u, cursorOf(lower)}, err
		}, after)
}

// DeleteUser implements store.Store. Permissions, sessions, consents and
// codes go by their foreign keys; token families carry no foreign key (a
// family may belong to no user), so they are deleted here, and their tokens
// with them.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	err := s.Transact(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM token_families WHERE user_id = $1`, id); err != nil {
			return err
		}
		return oneRow(tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id))
	})
	return wrap("delete user", err)
}

// UpdateProject implements store.Store.
func (s *Store) UpdateProject(ctx context.Context, id int64, fn func(store.Project) (store.Project, error)) (store.Project, error) {
	var out store.Project
	err := s.Transact(ctx, func(tx Tx) error {
		old, err := scanProject(tx.QueryRowContext(ctx,
			`SELECT `+projectColumns+` FROM projects WHERE id = $1`+s.dialect.forUpdate(), id))
		if err != nil {
			return err
		}
		p, err := fn(old)
		if err != nil {
			return &callbackError{err}
		}
		p.ID, p.CreatedAt, p.Key = old.ID, old.CreatedAt, upperKey(p.Key)
		_, err = tx.ExecContext(ctx, `UPDATE projects SET key = $2, name = $3, description = $4, public = $5
			WHERE id = $1`, p.ID, p.Key, p.Name, p.Description, flag(p.Public))
		out = p
		return err
	})
	if err != nil {
		return store.Project{}, finish("update project", err)
	}
	return out, nil
}

// DeleteProject implements store.Store.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	err := s.Transact(ctx, func(tx Tx) error {
		for _, q := range []string{
			`DELETE FROM permissions WHERE target = 'repo'
				AND target_id IN (SELECT id FROM repos WHERE project_id = $1)`,
			`DELETE FROM permissions WHERE target = 'project' AND target_id = $1`,
			`DELETE FROM repos WHERE project_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return oneRow(tx.ExecContext(ctx, `DELETE FROM projects WHERE id = $1`, id))
	})
	return wrap("delete project", err)
}

// ListAllRepos implements store.Store.
func (s *Store) ListAllRepos(ctx context.Context, p store.Page) ([]store.Repo, store.Cursor, error) {
	return cachedPage(ctx, s, keyRepoPage, p, []cacheTag{listsTag},
		func(ctx context.Context) ([]store.Repo, store.Cursor, error) { return s.listAllRepos(ctx, p) })
}

func (s *Store) listAllRepos(ctx context.Context, p store.Page) ([]store.Repo, store.Cursor, error) {
	afterKey, afterSlug := "", ""
	if err := readCursor(p.After, &afterKey, &afterSlug); err != nil {
		return nil, "", wrap("list all repos", err)
	}
	return listPage(ctx, s, "list all repos", p, `SELECT `+repoColumns+`, r.slug_lower
		FROM repos r JOIN projects p ON p.id = r.project_id
		WHERE p.key > $1 OR (p.key = $1 AND r.slug_lower > $2)
		ORDER BY p.key, r.slug_lower LIMIT CAST($3 AS INTEGER)`,
		func(r rowScanner) (keyed[store.Repo], error) {
			var lower string
			rp, err := scanRepo(extraScanner{r, []any{&lower}})
			return keyed[store.Repo]{rp, cursorOf(rp.ProjectKey, lower)}, err
		}, afterKey, afterSlug)
}

// UpdateRepo implements store.Store.
func (s *Store) UpdateRepo(ctx context.Context, id int64, fn func(store.Repo) (store.Repo, error)) (store.Repo, error) {
	var out store.Repo
	err := s.Transact(ctx, func(tx Tx) error {
		old, err := scanRepo(tx.QueryRowContext(ctx, `SELECT `+repoColumns+`
			FROM repos r JOIN projects p ON p.id = r.project_id WHERE r.id = $1`+s.dialect.forUpdate(), id))
		if err != nil {
			return err
		}
		r, err := fn(old)
		if err != nil {
			return &callbackError{err}
		}
		r.ID, r.ProjectID, r.ProjectKey, r.CreatedAt = old.ID, old.ProjectID, old.ProjectKey, old.CreatedAt
		_, err = tx.ExecContext(ctx, `UPDATE repos SET slug = $2, slug_lower = $3, name = $4, public = $5
			WHERE id = $1`, r.ID, r.Slug, strings.ToLower(r.Slug), r.Name, flag(r.Public))
		out = r
		return err
	})
	if err != nil {
		return store.Repo{}, finish("update repo", err)
	}
	return out, nil
}

// DeleteRepo implements store.Store.
func (s *Store) DeleteRepo(ctx context.Context, id int64) error {
	err := s.Transact(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM permissions WHERE target = 'repo' AND target_id = $1`, id); err != nil {
			return err
		}
		return oneRow(tx.ExecContext(ctx, `DELETE FROM repos WHERE id = $1`, id))
	})
	return wrap("delete repo", err)
}

// ListTargetPermissions implements store.Store.
func (s *Store) ListTargetPermissions(ctx context.Context, target store.TargetKind, targetID int64,
	p store.Page) ([]store.Permission, store.Cursor, error) {
	var after int64
	if err := readCursor(p.After, &after); err != nil {
		return nil, "", wrap("list target permissions", err)
	}
	return listPage(ctx, s, "list target permissions", p, `SELECT `+permissionColumns+`
		FROM permissions WHERE target = $1 AND target_id = $2 AND user_id > $3 ORDER BY user_id LIMIT CAST($4 AS INTEGER)`,
		func(r rowScanner) (keyed[store.Permission], error) {
			perm, err := scanPermission(r)
			return keyed[store.Permission]{perm, cursorOf(perm.UserID)}, err
		}, string(target), targetID, after)
}
