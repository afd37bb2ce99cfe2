package api

import (
	"context"
	"errors"
	"latchkey/internal/audit"
	"net/http"
	"slices"
	"strings"

	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

func (a *API) mountPermissions(mux routes.Mux) {
	for _, path := range []string{bb + "/projects/{key}/permissions/users", bb + "/projects/{key}/repos/{slug}/permissions/users"} {
		mux.Handle("GET "+path, a.handle(authenticated, a.listPermissions))
		mux.Handle("PUT "+path, a.handle(authenticated, a.setPermissions))
		mux.Handle("DELETE "+path, a.handle(authenticated, a.revokePermissions))
	}
}

// target is the project or repository whose permissions a request manages.
type target struct {
	kind  store.TargetKind
	id    int64
	where string // for the audit trail: "project KEY", "repository KEY/slug"
}

// permissionTarget loads the target of the request's path and checks that
// the caller administers it: project administrators manage project
// permissions, repository administrators (and so project administrators)
// repository permissions.
func (a *API) permissionTarget(r *http.Request, c *oauth.Caller) (target, error) {
	key, slug := r.PathValue("key"), r.PathValue("slug")
	if slug == "" {
		p, err := a.project(r.Context(), c, key, scope.Admin)
		return target{store.TargetProject, p.ID, "project " + p.Key}, err
	}
	repo, _, err := a.guard.Repo(r.Context(), c, key, slug, scope.Admin)
	return target{store.TargetRepo, repo.ID, "repository " + repo.ProjectKey + "/" + repo.Slug}, err
}

// listPermissions is GET .../permissions/users: who holds which permission
// on the target, optionally filtered by user name (?filter=).
func (a *API) listPermissions(r *http.Request, c *oauth.Caller) (int, any, error) {
	t, err := a.permissionTarget(r, c)
	if err != nil {
		return 0, nil, err
	}
	out, err := a.holders(r.Context(), c, t.kind, t.id, r.URL.Query().Get("filter"))
	if err != nil {
		return 0, nil, err
	}
	return paged(r, out)
}

// holders lists the users holding a permission on one target, with it,
// ordered by user name, as caller c may see them.
func (a *API) holders(ctx context.Context, c *oauth.Caller, kind store.TargetKind, id int64, filter string) ([]permissionJSON, error) {
	perms, err := store.All(ctx, func(ctx context.Context, p store.Page) ([]store.Permission, store.Cursor, error) {
		return a.store.ListTargetPermissions(ctx, kind, id, p)
	})
	if err != nil {
		return nil, err
	}
	out := []permissionJSON{}
	for _, p := range perms {
		u, err := a.store.GetUser(ctx, p.UserID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if matches(c, u, filter) {
			out = append(out, permissionJSON{User: a.visibleUserJSON(c, u), Permission: p.Name})
		}
	}
	slices.SortFunc(out, func(x, y permissionJSON) int { return strings.Compare(x.User.Name, y.User.Name) })
	return out, nil
}

// matches reports whether filter is empty or part of the user's name,
// display name or, where caller c may see it, email, ignoring case: a
// filter is no oracle for addresses the caller may not see.
func matches(c *oauth.Caller, u store.User, filter string) bool {
	f := strings.ToLower(filter)
	byEmail := c.Principal.SeesEmailOf(u.ID) && strings.Contains(strings.ToLower(u.Email), f)
	return strings.Contains(strings.ToLower(u.Username), f) || strings.Contains(strings.ToLower(u.DisplayName), f) || byEmail
}

// setPermissions is PUT .../permissions/users?name=U&name=V&permission=P:
// each named user now holds P on the target, in place of what they held.
func (a *API) setPermissions(r *http.Request, c *oauth.Caller) (int, any, error) {
	t, err := a.permissionTarget(r, c)
	if err != nil {
		return 0, nil, err
	}
	name, err := single(r, "permission")
	if err != nil {
		return 0, nil, err
	}
	name = strings.ToUpper(name)
	if err := scope.CheckPermission(t.kind, name); err != nil {
		return 0, nil, badRequest("Invalid permission: " + err.Error() + ".")
	}
	users, err := a.namedUsers(r)
	if err != nil {
		return 0, nil, err
	}
	for _, u := range users {
		if err := a.store.SetPermission(r.Context(), store.Permission{UserID: u.ID, Target: t.kind, TargetID: t.id, Name: name}); err != nil {
			return 0, nil, err
		}
		a.audit(r, c, audit.PermissionGranted, "user %s: %s on %s", u.Username, name, t.where)
	}
	return http.StatusNoContent, nil, nil
}

// revokePermissions is DELETE .../permissions/users?name=U: the user holds
// no permission on the target any more. Revoking what is not held is not
// an error.
func (a *API) revokePermissions(r *http.Request, c *oauth.Caller) (int, any, error) {
	t, err := a.permissionTarget(r, c)
	if err != nil {
		return 0, nil, err
	}
	users, err := a.namedUsers(r)
	if err != nil {
		return 0, nil, err
	}
	for _, u := range users {
		err := a.store.DeletePermission(r.Context(), u.ID, t.kind, t.id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		a.audit(r, c, audit.PermissionRevoked, "user %s: every permission on %s", u.Username, t.where)
	}
	return http.StatusNoContent, nil, nil
}

// namedUsers loads the users of the request's name parameters (at least one).
func (a *API) namedUsers(r *http.Request) ([]store.User, error) {
	names := r.URL.Query()["name"]
	if len(names) == 0 {
		return nil, badRequest("Name at least one user (name=...).")
	}
	users := make([]store.User, 0, len(names))
	for _, n := range names {
		u, err := a.userByName(r.Context(), n)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, nil
}

// userByName loads a user by name or slug (404 if there is none).
func (a *API) userByName(ctx context.Context, name string) (store.User, error) {
	u, err := a.store.GetUserByUsername(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, notFound("User " + name + " does not exist.")
	}
	return u, err
}
