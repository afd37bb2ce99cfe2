package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"

	"latchkey/internal/store"
)

// ListUsers implements store.Store. The rows are sorted here, not in SQL,
// so that both databases agree on the order whatever their collation.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+userColumns+` FROM users`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	us, err := collect(rows, scanUser)
	if err != nil {
		return nil, wrap("list users", err)
	}
	slices.SortFunc(us, func(a, b store.User) int {
		return cmp.Compare(strings.ToLower(a.Username), strings.ToLower(b.Username))
	})
	return us, nil
}

// DeleteUser implements store.Store. Permissions, sessions, consents and
// codes go by their foreign keys; token families carry no foreign key (a
// family may belong to no user), so they are deleted here, and their tokens
// with them.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	err := s.Transact(ctx, func(tx *sql.Tx) error {
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
	err := s.Transact(ctx, func(tx *sql.Tx) error {
		old, err := scanProject(tx.QueryRowContext(ctx,
			`SELECT `+projectColumns+` FROM projects WHERE id = $1`+s.dialect.forUpdate(), id))
		if err != nil {
			return err
		}
		p, err := fn(old)
		if err != nil {
			return &callbackError{err}
		}
		p.ID, p.CreatedAt, p.Key = old.ID, old.CreatedAt, strings.ToUpper(p.Key)
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
	err := s.Transact(ctx, func(tx *sql.Tx) error {
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
func (s *Store) ListAllRepos(ctx context.Context) ([]store.Repo, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT `+repoColumns+`
		FROM repos r JOIN projects p ON p.id = r.project_id ORDER BY p.key, r.slug_lower`)
	if err != nil {
		return nil, wrap("list all repos", err)
	}
	rs, err := collect(rows, scanRepo)
	return rs, wrap("list all repos", err)
}

// UpdateRepo implements store.Store.
func (s *Store) UpdateRepo(ctx context.Context, id int64, fn func(store.Repo) (store.Repo, error)) (store.Repo, error) {
	var out store.Repo
	err := s.Transact(ctx, func(tx *sql.Tx) error {
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
	err := s.Transact(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM permissions WHERE target = 'repo' AND target_id = $1`, id); err != nil {
			return err
		}
		return oneRow(tx.ExecContext(ctx, `DELETE FROM repos WHERE id = $1`, id))
	})
	return wrap("delete repo", err)
}

// ListTargetPermissions implements store.Store.
func (s *Store) ListTargetPermissions(ctx context.Context, target store.TargetKind, targetID int64) ([]store.Permission, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.readRows(ctx, `SELECT user_id, target, target_id, name FROM permissions
		WHERE target = $1 AND target_id = $2 ORDER BY user_id`, string(target), targetID)
	if err != nil {
		return nil, wrap("list target permissions", err)
	}
	ps, err := collect(rows, scanPermission)
	return ps, wrap("list target permissions", err)
}

func scanPermission(r rowScanner) (store.Permission, error) {
	var p store.Permission
	err := r.Scan(&p.UserID, &p.Target, &p.TargetID, &p.Name)
	return p, err
}
