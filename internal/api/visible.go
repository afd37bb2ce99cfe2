package api

import (
	"context"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// visibleRepos lists the repositories of p that the caller may read.
func (a *API) visibleRepos(ctx context.Context, c *oauth.Caller, p store.Project) ([]store.Repo, error) {
	repos, err := a.store.ListRepos(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	var out []store.Repo
	for _, r := range repos {
		if c.Principal.RepoLevel(r, p) >= scope.Read {
			out = append(out, r)
		}
	}
	return out, nil
}

// visibleProjects lists the projects the caller may see: those it may
// read, and those with a repository it may read.
func (a *API) visibleProjects(ctx context.Context, c *oauth.Caller) ([]store.Project, error) {
	projects, err := a.store.ListProjects(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Project
	for _, p := range projects {
		if c.Principal.ProjectLevel(p) >= scope.Read {
			out = append(out, p)
			continue
		}
		repos, err := a.visibleRepos(ctx, c, p)
		if err != nil {
			return nil, err
		}
		if len(repos) > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// allVisibleRepos lists every repository the caller may read, with its
// project, ordered by project key and slug.
func (a *API) allVisibleRepos(ctx context.Context, c *oauth.Caller) ([]store.Repo, map[int64]store.Project, error) {
	projects, err := a.store.ListProjects(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[int64]store.Project, len(projects))
	for _, p := range projects {
		byID[p.ID] = p
	}
	repos, err := a.store.ListAllRepos(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []store.Repo
	for _, r := range repos {
		if c.Principal.RepoLevel(r, byID[r.ProjectID]) >= scope.Read {
			out = append(out, r)
		}
	}
	return out, byID, nil
}
