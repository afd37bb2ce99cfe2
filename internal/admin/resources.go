package admin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"latchkey/internal/store"
)

var (
	projectKeyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,127}$`)
	repoSlugPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	slugUnsafe        = regexp.MustCompile(`[^a-z0-9._-]+`)
)

// RepoDisk creates and removes the git repository behind a repository row
// (gitserve.Repos).
type RepoDisk interface {
	Create(r store.Repo) error
	Remove(r store.Repo) error
}

// CheckProjectKey validates a project key: a letter, then letters, digits
// and '_', at most 128 in all.
func CheckProjectKey(key string) error {
	if !projectKeyPattern.MatchString(key) {
		return invalid("project key %q must start with a letter and hold only letters, digits and '_'", key)
	}
	return nil
}

// CheckRepoSlug validates a repository slug: letters, digits, '.', '_' and
// '-', starting with a letter or digit, not ending in ".git".
func CheckRepoSlug(slug string) error {
	if !repoSlugPattern.MatchString(slug) || strings.HasSuffix(strings.ToLower(slug), ".git") {
		return invalid("repository slug %q must hold only letters, digits, '.', '_' and '-'", slug)
	}
	return nil
}

// Slugify derives a repository slug from a name as Bitbucket does: lower
// case, every run of other characters replaced by '-'.
func Slugify(name string) string {
	return strings.Trim(slugUnsafe.ReplaceAllString(strings.ToLower(strings.TrimSpace(name)), "-"), "-.")
}

// CreateProject creates a project, created at now; the key is stored
// upper-case.
func CreateProject(ctx context.Context, st store.Store, key, name string, public bool, now time.Time) (store.Project, error) {
	return AddProject(ctx, st, store.Project{Key: key, Name: name, Public: public}, now)
}

// AddProject creates project p after validating its key; an empty name is
// the key.
func AddProject(ctx context.Context, st store.Store, p store.Project, now time.Time) (store.Project, error) {
	if err := CheckProjectKey(p.Key); err != nil {
		return store.Project{}, err
	}
	key := p.Key
	p.Key, p.Name, p.CreatedAt = strings.ToUpper(p.Key), strings.TrimSpace(p.Name), now
	if p.Name == "" {
		p.Name = key
	}
	p, err := st.CreateProject(ctx, p)
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.Project{}, failed(store.ErrAlreadyExists, "project %q already exists", key)
	}
	if err != nil {
		return store.Project{}, fmt.Errorf("create project: %w", err)
	}
	return p, nil
}

// NewRepo describes a repository to create.
type NewRepo struct {
	ProjectKey string
	Slug       string // stored lower-case
	Name       string // empty: the slug as given
	Public     bool
}

// CreateRepo creates a repository in a project and its bare git repository
// on disk. If the git repository cannot be written the row is removed
// again, so a repository row always has its git repository.
func CreateRepo(ctx context.Context, st store.Store, disk RepoDisk, nr NewRepo, now time.Time) (store.Repo, error) {
	if err := CheckRepoSlug(nr.Slug); err != nil {
		return store.Repo{}, err
	}
	p, err := st.GetProjectByKey(ctx, nr.ProjectKey)
	if errors.Is(err, store.ErrNotFound) {
		return store.Repo{}, failed(store.ErrNotFound, "project %q does not exist", nr.ProjectKey)
	}
	if err != nil {
		return store.Repo{}, fmt.Errorf("load project: %w", err)
	}
	name := strings.TrimSpace(nr.Name)
	if name == "" {
		name = nr.Slug
	}
	r, err := st.CreateRepo(ctx, store.Repo{ProjectID: p.ID, Slug: strings.ToLower(nr.Slug), Name: name,
		Public: nr.Public, CreatedAt: now})
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.Repo{}, failed(store.ErrAlreadyExists, "repository %s/%s already exists", p.Key, nr.Slug)
	}
	if err != nil {
		return store.Repo{}, fmt.Errorf("create repository: %w", err)
	}
	r.ProjectKey = p.Key
	if err := disk.Create(r); err != nil {
		return store.Repo{}, errors.Join(err, st.DeleteRepo(ctx, r.ID))
	}
	return r, nil
}

// DeleteRepo deletes a repository row, its permissions and its git
// repository. The row goes first: once it is gone nobody can reach the
// files, so a directory left behind by a failed removal is harmless.
func DeleteRepo(ctx context.Context, st store.Store, disk RepoDisk, r store.Repo) error {
	if err := st.DeleteRepo(ctx, r.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return failed(store.ErrNotFound, "repository %s/%s does not exist", r.ProjectKey, r.Slug)
		}
		return fmt.Errorf("delete repository: %w", err)
	}
	if err := disk.Remove(r); err != nil {
		return fmt.Errorf("repository %s/%s was deleted but its files were not: %w", r.ProjectKey, r.Slug, err)
	}
	return nil
}
