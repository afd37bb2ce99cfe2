package api

import (
	"context"
	"errors"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// anonymous is the caller of a request without a token.
func anonymous() *oauth.Caller { return &oauth.Caller{Principal: scope.Anonymous()} }

// deny turns a verdict of package scope into the error the API answers
// with (nil for Allow). hidden is the message of the 404; required names
// the scope a token would need, for insufficient_scope. A request without
// a token is asked to authenticate (401) rather than refused outright.
func deny(c *oauth.Caller, v scope.Verdict, required, hidden string) error {
	switch {
	case v == scope.Allow:
		return nil
	case v == scope.DenyHidden:
		return notFound(hidden)
	case c.Anonymous():
		return oauth.ErrNoToken
	case v == scope.DenyScope:
		return oauth.InsufficientScope(required)
	}
	return forbidden("You are not permitted to access this resource.")
}

// Scopes named in insufficient_scope answers, by what is needed.
var (
	repoScope    = map[scope.Level]string{scope.Read: scope.RepoRead, scope.Write: scope.RepoWrite, scope.Admin: scope.RepoAdmin}
	projectScope = map[scope.Level]string{scope.Read: scope.RepoRead, scope.Write: scope.ProjectAdmin, scope.Admin: scope.ProjectAdmin}
	globalScope  = map[scope.Global]string{scope.LicensedUser: scope.PublicRepos, scope.ProjectCreator: scope.ProjectAdmin,
		scope.GlobalAdmin: scope.AdminWrite, scope.SysAdmin: scope.SystemAdmin}
)

// global checks that the caller may exercise the global permission need.
func global(c *oauth.Caller, need scope.Global) error {
	return deny(c, c.Principal.GlobalAccess(need), globalScope[need], "")
}

func projectMissing(key string) error { return notFound("Project " + key + " does not exist.") }

func repoMissing(key, slug string) error {
	return notFound("Repository " + key + "/" + slug + " does not exist.")
}

// project loads the project with key and checks that the caller may act on
// it at level need. A project the caller may not see answers exactly like
// one that does not exist.
func (a *API) project(ctx context.Context, c *oauth.Caller, key string, need scope.Level) (store.Project, error) {
	p, err := a.store.GetProjectByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, projectMissing(key)
	}
	if err != nil {
		return store.Project{}, err
	}
	readsRepo := false
	if c.Principal.ProjectLevel(p) < scope.Read {
		repos, err := a.visibleRepos(ctx, c, p)
		if err != nil {
			return store.Project{}, err
		}
		readsRepo = len(repos) > 0
	}
	v := c.Principal.ProjectAccess(p, need, readsRepo)
	return p, deny(c, v, projectScope[need], "Project "+key+" does not exist.")
}

// repo loads repository slug of project key and checks that the caller may
// act on it at level need. A repository the caller may not see answers
// exactly like one that does not exist, and so does its project.
func (a *API) repo(ctx context.Context, c *oauth.Caller, key, slug string, need scope.Level) (store.Repo, store.Project, error) {
	r, err := a.store.GetRepo(ctx, key, slug)
	if errors.Is(err, store.ErrNotFound) {
		return store.Repo{}, store.Project{}, repoMissing(key, slug)
	}
	if err != nil {
		return store.Repo{}, store.Project{}, err
	}
	p, err := a.store.GetProjectByKey(ctx, r.ProjectKey)
	if err != nil {
		return store.Repo{}, store.Project{}, err
	}
	v := c.Principal.RepoAccess(r, p, need)
	return r, p, deny(c, v, repoScope[need], "Repository "+key+"/"+slug+" does not exist.")
}
