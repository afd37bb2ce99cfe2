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
// Every route takes Gitea's credential forms (token, Bearer, Basic with the
// token as password); the files gitea_*.go hold the handlers by resource.
func (a *API) mountGitea(mux routes.Mux) {
	const v1, repo = "/api/v1", "/api/v1/repos/{owner}/{repo}"
	mux.Handle("GET "+v1+"/version", a.handle(giteaPublic, a.giteaVersion))
	mux.Handle("GET "+v1+"/user", a.handle(giteaAuth, a.giteaUser))
	mux.Handle("GET "+v1+"/user/repos", a.handle(giteaAuth, a.giteaUserRepos))
	mux.Handle("GET "+v1+"/user/orgs", a.handle(giteaAuth, a.giteaUserOrgs))
	mux.Handle("GET "+v1+"/orgs/{org}", a.handle(giteaPublic, a.giteaGetOrg))
	mux.Handle("GET "+v1+"/orgs/{org}/repos", a.handle(giteaPublic, a.giteaOrgRepos))
	mux.Handle("GET "+v1+"/orgs/{org}/members/{username}", a.handle(giteaAuth, a.giteaOrgMember))
	mux.Handle("GET "+v1+"/users/{username}/orgs/{org}/permissions", a.handle(giteaAuth, a.giteaUserOrgPermissions))
	mux.Handle("GET "+v1+"/repositories/{id}", a.handle(giteaAuth, a.giteaRepoByID))
	mux.Handle("GET "+repo, a.handle(giteaPublic, a.giteaGetRepo))
	mux.Handle("GET "+repo+"/branches", a.handle(giteaPublic, a.giteaBranches))
	mux.Handle("GET "+repo+"/branches/{branch...}", a.handle(giteaPublic, a.giteaBranch))
	mux.Handle("GET "+repo+"/commits", a.handle(giteaPublic, a.giteaCommits))
	mux.Handle("GET "+repo+"/git/commits/{sha}", a.handle(giteaPublic, a.giteaGitCommit))
	mux.Handle("GET "+repo+"/git/trees/{sha}", a.handle(giteaPublic, a.giteaTree))
	mux.Handle("GET "+repo+"/pulls", a.handle(giteaPublic, a.giteaPulls))
	mux.Handle("GET "+repo+"/contents", a.handle(giteaPublic, a.giteaContents))
	mux.Handle("GET "+repo+"/contents/{path...}", a.handle(giteaPublic, a.giteaContents))
	mux.Handle("GET "+repo+"/raw/{path...}", a.handleRaw(giteaPublic, a.giteaRaw))
	mux.Handle("POST "+repo+"/statuses/{sha}", a.handle(giteaAuth, a.giteaCreateStatus))
	mux.Handle("GET "+repo+"/statuses/{sha}", a.handle(giteaPublic, a.giteaStatusesBySHA))
	mux.Handle("GET "+repo+"/commits/{ref}/statuses", a.handle(giteaPublic, a.giteaStatusesByRef))
	mux.Handle("GET "+repo+"/commits/{ref}/status", a.handle(giteaPublic, a.giteaCombinedStatus))
	mux.Handle("GET "+repo+"/hooks", a.handle(giteaAuth, a.giteaListHooks))
	mux.Handle("POST "+repo+"/hooks", a.handle(giteaAuth, a.giteaCreateHook))
	mux.Handle("GET "+repo+"/hooks/{id}", a.handle(giteaAuth, a.giteaGetHook))
	mux.Handle("PATCH "+repo+"/hooks/{id}", a.handle(giteaAuth, a.giteaEditHook))
	mux.Handle("DELETE "+repo+"/hooks/{id}", a.handle(giteaAuth, a.giteaDeleteHook))
}

// giteaVersion is GET /api/v1/version, public as in Gitea.
func (a *API) giteaVersion(*http.Request, *oauth.Caller) (int, any, error) {
	return http.StatusOK, map[string]string{"version": giteaAPIVersion}, nil
}

// giteaUser is Gitea's GET /api/v1/user: any valid token may read its own user.
func (a *API) giteaUser(_ *http.Request, c *oauth.Caller) (int, any, error) {
	return http.StatusOK, a.giteaUserFor(c, c.User), nil
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
