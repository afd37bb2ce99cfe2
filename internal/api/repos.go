package api

import (
	"errors"
	"latchkey/internal/audit"
	"net/http"
	"strings"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

func (a *API) mountRepos(mux routes.Mux) {
	const repo = bb + "/projects/{key}/repos/{slug}"
	mux.Handle("GET "+bb+"/repos", a.handle(public, a.listAllRepos))
	mux.Handle("GET "+bb+"/projects/{key}/repos", a.handle(public, a.listRepos))
	mux.Handle("POST "+bb+"/projects/{key}/repos", a.handle(authenticated, a.createRepo))
	mux.Handle("GET "+repo, a.handle(public, a.getRepo))
	mux.Handle("PUT "+repo, a.handle(authenticated, a.updateRepo))
	mux.Handle("DELETE "+repo, a.handle(authenticated, a.deleteRepo))
}

// listAllRepos is GET /repos: every repository the caller may read, as
// Bitbucket's filters keep (repoListFilter).
func (a *API) listAllRepos(r *http.Request, c *oauth.Caller) (int, any, error) {
	keep, err := repoListFilter(r, c)
	if err != nil {
		return 0, nil, err
	}
	return pagedSeq(r, mapSeq(filterSeq(a.readableRepoTree(r.Context(), c), keep), func(x repoIn) repoJSON {
		return a.repoJSON(x.repo, x.project)
	}))
}

// listRepos lists the repositories of one project that the caller may read.
func (a *API) listRepos(r *http.Request, c *oauth.Caller) (int, any, error) {
	p, err := a.project(r.Context(), c, r.PathValue("key"), scope.Read)
	if err != nil {
		return 0, nil, err
	}
	keep, err := repoListFilter(r, c)
	if err != nil {
		return 0, nil, err
	}
	kept := filterSeq(a.readableRepos(r.Context(), c, p), func(repo store.Repo) bool { return keep(repoIn{repo, p}) })
	return pagedSeq(r, mapSeq(kept, func(repo store.Repo) repoJSON { return a.repoJSON(repo, p) }))
}

// repoInput is the body of repository creation and update.
type repoInput struct {
	Name    *string `json:"name"`
	Slug    *string `json:"slug"`
	ScmID   *string `json:"scmId"`
	Public  *bool   `json:"public"`
	Project *struct {
		Key string `json:"key"`
	} `json:"project"`
}

// slug is the slug the input asks for: the one given, else the name's.
func (in repoInput) slug() string {
	if in.Slug != nil {
		return *in.Slug
	}
	if in.Name != nil {
		return admin.Slugify(*in.Name)
	}
	return ""
}

// check refuses what Latchkey does not do: other version control systems,
// and moving a repository to another project.
func (in repoInput) check(p store.Project) error {
	if in.ScmID != nil && *in.ScmID != "git" {
		return badRequest("Only git repositories are supported (scmId \"git\").")
	}
	if in.Project != nil && in.Project.Key != "" && !strings.EqualFold(in.Project.Key, p.Key) {
		return badRequest("Moving a repository to another project is not supported.")
	}
	return nil
}

// createRepo is POST /projects/{key}/repos: a project administrator creates
// a repository, with its bare git repository. The slug is derived from the
// name, as in Bitbucket.
func (a *API) createRepo(r *http.Request, c *oauth.Caller) (int, any, error) {
	p, err := a.project(r.Context(), c, r.PathValue("key"), scope.Admin)
	if err != nil {
		return 0, nil, err
	}
	var in repoInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if err := in.check(p); err != nil {
		return 0, nil, err
	}
	if in.Name == nil && in.Slug == nil {
		return 0, nil, badRequest("A repository needs a name.")
	}
	nr := admin.NewRepo{ProjectKey: p.Key, Slug: in.slug(), Public: in.Public != nil && *in.Public}
	if in.Name != nil {
		nr.Name = *in.Name
	}
	repo, err := admin.CreateRepo(r.Context(), a.store, a.cfg.Repos, nr, a.cfg.Provider.Now())
	if err != nil {
		return 0, nil, fromAdmin(err)
	}
	a.audit(r, c, audit.RepoCreated, "repository %s/%s", p.Key, repo.Slug)
	return http.StatusCreated, a.repoJSON(repo, p), nil
}

// getRepo is GET /projects/{key}/repos/{slug}.
func (a *API) getRepo(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, p, err := a.guard.Repo(r.Context(), c, r.PathValue("key"), r.PathValue("slug"), scope.Read)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.repoJSON(repo, p), nil
}

// updateRepo is PUT /projects/{key}/repos/{slug}: a repository
// administrator renames it (a new name gives a new slug, as in Bitbucket)
// or changes its visibility.
func (a *API) updateRepo(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, p, err := a.guard.Repo(r.Context(), c, r.PathValue("key"), r.PathValue("slug"), scope.Admin)
	if err != nil {
		return 0, nil, err
	}
	var in repoInput
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if err := in.check(p); err != nil {
		return 0, nil, err
	}
	slug := in.slug()
	if slug != "" {
		if err := admin.CheckRepoSlug(slug); err != nil {
			return 0, nil, fromAdmin(err)
		}
	}
	repo, err = a.store.UpdateRepo(r.Context(), repo.ID, func(old store.Repo) (store.Repo, error) {
		return in.apply(old, slug), nil
	})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return 0, nil, conflict("Repository " + p.Key + "/" + slug + " already exists.")
	case errors.Is(err, store.ErrNotFound):
		return 0, nil, repoMissing(p.Key, r.PathValue("slug"))
	case err != nil:
		return 0, nil, err
	}
	a.audit(r, c, audit.RepoUpdated, "repository %s/%s", p.Key, repo.Slug)
	return http.StatusOK, a.repoJSON(repo, p), nil
}

// apply copies the fields given onto r.
func (in repoInput) apply(r store.Repo, slug string) store.Repo {
	if slug != "" {
		r.Slug = strings.ToLower(slug)
	}
	if in.Name != nil && strings.TrimSpace(*in.Name) != "" {
		r.Name = strings.TrimSpace(*in.Name)
	}
	if in.Public != nil {
		r.Public = *in.Public
	}
	return r
}

// deleteRepo is DELETE /projects/{key}/repos/{slug}: a repository
// administrator deletes it with its git repository. Bitbucket answers 202.
func (a *API) deleteRepo(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, _, err := a.guard.Repo(r.Context(), c, r.PathValue("key"), r.PathValue("slug"), scope.Admin)
	if err != nil {
		return 0, nil, err
	}
	if err := admin.DeleteRepo(r.Context(), a.store, a.cfg.Repos, repo); err != nil {
		return 0, nil, fromAdmin(err)
	}
	a.audit(r, c, audit.RepoDeleted, "repository %s/%s", repo.ProjectKey, repo.Slug)
	return http.StatusAccepted, nil, nil
}
