package api

import (
	"net/http"

	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Gitea's API, where projects play organizations: a repository's owner is
// its project key, so /repos/{owner}/{repo} is /repos/{key}/{slug}.
func (a *API) mountGitea(mux routes.Mux) {
	mux.Handle("GET /api/v1/user", a.handle(giteaAuth, a.giteaUser))
	mux.Handle("GET /api/v1/user/repos", a.handle(giteaAuth, a.giteaUserRepos))
	mux.Handle("GET /api/v1/repos/{owner}/{repo}", a.handle(giteaPublic, a.giteaGetRepo))
	mux.Handle("GET /api/v1/orgs/{org}/repos", a.handle(giteaPublic, a.giteaOrgRepos))
}

// giteaUser is Gitea's GET /api/v1/user: any valid token may read its own user.
func (a *API) giteaUser(_ *http.Request, c *oauth.Caller) (int, any, error) {
	u := c.User
	return http.StatusOK, giteaUser{
		ID: u.ID, Login: u.Username, Username: u.Username, FullName: u.DisplayName, Email: u.Email,
		AvatarURL: "", IsAdmin: c.Principal.User.Global >= scope.GlobalAdmin,
	}, nil
}

// giteaUserRepos is GET /api/v1/user/repos: the repositories the user was
// given a permission on (directly or through their project) that the
// token may read.
func (a *API) giteaUserRepos(r *http.Request, c *oauth.Caller) (int, any, error) {
	granted := filterSeq(a.readableRepoTree(r.Context(), c), func(x repoIn) bool {
		return c.Principal.User.Granted(x.repo) >= scope.Read
	})
	return giteaPagedSeq(r, mapSeq(granted, func(x repoIn) giteaRepo { return a.giteaRepoFor(c, x.repo, x.project) }))
}

// giteaGetRepo is GET /api/v1/repos/{owner}/{repo}.
func (a *API) giteaGetRepo(r *http.Request, c *oauth.Caller) (int, any, error) {
	repo, p, err := a.guard.Repo(r.Context(), c, r.PathValue("owner"), r.PathValue("repo"), scope.Read)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.giteaRepoFor(c, repo, p), nil
}

// giteaOrgRepos is GET /api/v1/orgs/{org}/repos: the repositories of a
// project that the caller may read.
func (a *API) giteaOrgRepos(r *http.Request, c *oauth.Caller) (int, any, error) {
	p, err := a.project(r.Context(), c, r.PathValue("org"), scope.Read)
	if err != nil {
		return 0, nil, err
	}
	return giteaPagedSeq(r, mapSeq(a.readableRepos(r.Context(), c, p), func(repo store.Repo) giteaRepo {
		return a.giteaRepoFor(c, repo, p)
	}))
}

// giteaRepoFor shapes repo with the caller's permissions on it.
func (a *API) giteaRepoFor(c *oauth.Caller, repo store.Repo, p store.Project) giteaRepo {
	return a.giteaRepo(repo, p, c.Principal.RepoLevel(repo, p))
}
