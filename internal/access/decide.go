package access

import (
	"context"
	"errors"
	"fmt"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Denied is the error of a request the permission model refuses.
type Denied struct {
	// Verdict is scope.DenyHidden, scope.DenyScope or scope.DenyPermission.
	Verdict scope.Verdict
	// Anonymous: the request carried no credentials.
	Anonymous bool
	// Required is the scope a token would need (only for scope.DenyScope).
	Required string
	// What names the resource as the request did, for a refusal worded
	// as "does not exist" ("Project KEY", "Repository KEY/SLUG"); empty
	// where the refusal concerns no one resource.
	What string
}

func (d *Denied) Error() string {
	if d.What == "" {
		return "access: " + d.Verdict.String()
	}
	return "access: " + d.What + ": " + d.Verdict.String()
}

// decide turns verdict v about caller c into an error: nil for Allow,
// else a *Denied, which names required if the scopes are to blame.
func decide(c *oauth.Caller, v scope.Verdict, required, what string) error {
	if v == scope.Allow {
		return nil
	}
	if v != scope.DenyScope {
		required = ""
	}
	return &Denied{Verdict: v, Anonymous: c.Anonymous(), Required: required, What: what}
}

// Global decides whether c may exercise the instance-wide permission need
// (scope.Principal.GlobalAccess).
func Global(c *oauth.Caller, need scope.Global) error {
	return decide(c, c.Principal.GlobalAccess(need), globalScope(need), "")
}

// AdminRead decides whether c may read administrative data
// (scope.Principal.AdminReadAccess).
func AdminRead(c *oauth.Caller) error {
	return decide(c, c.Principal.AdminReadAccess(), scope.AdminWrite, "")
}

// Account decides whether c may change its user's own account
// (scope.Principal.AccountAccess).
func Account(c *oauth.Caller) error {
	return decide(c, c.Principal.AccountAccess(), scope.AccountWrite, "")
}

// RequireScope decides whether c's token carries scope s itself (the
// userinfo endpoint needs openid): a token without it lacks scope.
func RequireScope(c *oauth.Caller, s string) error {
	if c.Principal.Scopes.Has(s) {
		return nil
	}
	return decide(c, scope.DenyScope, s, "")
}

// Repo loads repository slug of the project with key and decides whether
// c may act on it at level need (scope.Principal.RepoAccess). A repository
// that does not exist is refused as hidden, exactly like one c may not
// see. On any error the repository and project are zero.
func (g *Guard) Repo(ctx context.Context, c *oauth.Caller, key, slug string, need scope.Level) (store.Repo, store.Project, error) {
	what := "Repository " + key + "/" + slug
	r, err := g.cfg.Store.GetRepo(ctx, key, slug)
	if errors.Is(err, store.ErrNotFound) {
		return store.Repo{}, store.Project{}, decide(c, scope.DenyHidden, "", what)
	}
	if err != nil {
		return store.Repo{}, store.Project{}, fmt.Errorf("access: load repository: %w", err)
	}
	p, err := g.cfg.Store.GetProjectByKey(ctx, r.ProjectKey)
	if err != nil {
		return store.Repo{}, store.Project{}, fmt.Errorf("access: load project: %w", err)
	}
	if err := decide(c, c.Principal.RepoAccess(r, p, need), repoScope(need), what); err != nil {
		return store.Repo{}, store.Project{}, err
	}
	return r, p, nil
}

// Project loads the project with key and decides whether c may act on it
// at level need (scope.Principal.ProjectAccess). As in Bitbucket, a caller
// who may read one of its repositories may view it: readsRepo says whether
// c does, and is asked only when c may not read the project itself. A
// project that does not exist is refused as hidden, exactly like one c
// may not see. On any error the project is zero.
func (g *Guard) Project(ctx context.Context, c *oauth.Caller, key string, need scope.Level,
	readsRepo func(store.Project) (bool, error)) (store.Project, error) {
	what := "Project " + key
	p, err := g.cfg.Store.GetProjectByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, decide(c, scope.DenyHidden, "", what)
	}
	if err != nil {
		return store.Project{}, fmt.Errorf("access: load project: %w", err)
	}
	reads := false
	if c.Principal.ProjectLevel(p) < scope.Read {
		if reads, err = readsRepo(p); err != nil {
			return store.Project{}, err
		}
	}
	if err := decide(c, c.Principal.ProjectAccess(p, need, reads), projectScope(need), what); err != nil {
		return store.Project{}, err
	}
	return p, nil
}

// The scope a token needs, by the level needed (in the order of the
// levels' constants, lowest first), named in insufficient_scope answers.

// repoScope: reading a repository takes REPO_READ, writing REPO_WRITE,
// administering REPO_ADMIN.
func repoScope(need scope.Level) string {
	return [...]string{scope.RepoRead, scope.RepoRead, scope.RepoWrite, scope.RepoAdmin}[need]
}

// projectScope: viewing a project takes REPO_READ, anything more
// PROJECT_ADMIN.
func projectScope(need scope.Level) string {
	return [...]string{scope.RepoRead, scope.RepoRead, scope.ProjectAdmin, scope.ProjectAdmin}[need]
}

// globalScope: what every user may do takes PUBLIC_REPOS, creating
// projects PROJECT_ADMIN, user administration ADMIN_WRITE, system
// administration SYSTEM_ADMIN.
func globalScope(need scope.Global) string {
	return [...]string{scope.PublicRepos, scope.PublicRepos, scope.ProjectAdmin, scope.AdminWrite, scope.SystemAdmin}[need]
}
