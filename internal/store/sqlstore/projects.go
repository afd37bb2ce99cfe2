package sqlstore

import (
	"context"
	"strings"

	"latchkey/internal/store"
)

const projectColumns = `id, key, name, description, public, created_at`

func scanProject(r rowScanner) (store.Project, error) {
	var p store.Project
	var created int64
	if err := r.Scan(&p.ID, &p.Key, &p.Name, &p.Description, &p.Public, &created); err != nil {
		return store.Project{}, err
	}
	p.CreatedAt = fromMillis(created)
	return p, nil
}

// CreateProject implements store.Store.
func (s *Store) CreateProject(ctx context.Context, p store.Project) (store.Project, error) {
	p.Key = upperKey(p.Key)
	p.CreatedAt = truncate(p.CreatedAt)
	id, err := s.insertID(ctx, `INSERT INTO projects (key, name, description, public, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		p.Key, p.Name, p.Description, flag(p.Public), millis(p.CreatedAt))
	if err != nil {
		return store.Project{}, wrap("create project", err)
	}
	p.ID = id
	return p, nil
}

// GetProjectByKey implements store.Store.
func (s *Store) GetProjectByKey(ctx context.Context, key string) (store.Project, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	p, err := scanProject(s.readRow(ctx,
		`SELECT `+projectColumns+` FROM projects WHERE key = $1`, strings.ToUpper(key)))
	return p, wrap("get project", err)
}

// ListProjects implements store.Store.
func (s *Store) ListProjects(ctx context.Context, p store.Page) ([]store.Project, store.Cursor, error) {
	return cachedPage(ctx, s, keyProjectPage, p, []cacheTag{listsTag},
		func(ctx context.Context) ([]store.Project, store.Cursor, error) { return s.listProjects(ctx, p) })
}

func (s *Store) listProjects(ctx context.Context, p store.Page) ([]store.Project, store.Cursor, error) {
	after := ""
	if err := readCursor(p.After, &after); err != nil {
		return nil, "", wrap("list projects", err)
	}
	return listPage(ctx, s, "list projects", p, `SELECT `+projectColumns+` FROM projects
		WHERE key > $1 ORDER BY key LIMIT CAST($2 AS INTEGER)`,
		func(r rowScanner) (keyed[store.Project], error) {
			pr, err := scanProject(r)
			return keyed[store.Project]{pr, cursorOf(pr.Key)}, err
		}, after)
}

const repoColumns = `r.id, r.project_id, p.key, r.slug, r.name, r.public, r.created_at`

func scanRepo(r rowScanner) (store.Repo, error) {
	var rp store.Repo
	var created int64
	if err := r.Scan(&rp.ID, &rp.ProjectID, &rp.ProjectKey, &rp.Slug, &rp.Name, &rp.Public, &created); err != nil {
		return store.Repo{}, err
	}
	rp.CreatedAt = fromMillis(created)
	return rp, nil
}

// CreateRepo implements store.Store.
func (s *Store) CreateRepo(ctx context.Context, r store.Repo) (store.Repo, error) {
	r.CreatedAt = truncate(r.CreatedAt)
	err := s.Transact(ctx, func(tx Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT key FROM projects WHERE id = $1`, r.ProjectID).Scan(&r.ProjectKey); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO repos (project_id, slug, slug_lower, name, public, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			r.ProjectID, r.Slug, strings.ToLower(r.Slug), r.Name, flag(r.Public), millis(r.CreatedAt)).Scan(&r.ID)
	})
	if err != nil {
		return store.Repo{}, wrap("create repo", err)
	}
	return r, nil
}

// GetRepo implements store.Store.
func (s *Store) GetRepo(ctx context.Context, projectKey, slug string) (store.Repo, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r, err := scanRepo(s.readRow(ctx, `SELECT `+repoColumns+`
		FROM repos r JOIN projects p ON p.id = r.project_id
		WHERE p.key = $1 AND r.slug_lower = $2`, strings.ToUpper(projectKey), strings.ToLower(slug)))
	return r, wrap("get repo", err)
}

// ListRepos implements store.Store.
func (s *Store) ListRepos(ctx context.Context, projectID int64, p store.Page) ([]store.Repo, store.Cursor, error) {
	after := ""
	if err := readCursor(p.After, &after); err != nil {
		return nil, "", wrap("list repos", err)
	}
	return listPage(ctx, s, "list repos", p, `SELECT `+repoColumns+`, r.slug_lower
		FROM repos r JOIN projects p ON p.id = r.project_id
		WHERE r.project_id = $1 AND r.slug_lower > $2 ORDER BY r.slug_lower LIMIT CAST($3 AS INTEGER)`,
		func(r rowScanner) (keyed[store.Repo], error) {
			var lower string
			rp, err := scanRepo(extraScanner{r, []any{&lower}})
			return keyed[store.Repo]{rp, cursorOf(lower)}, err
		}, projectID, after)
}
