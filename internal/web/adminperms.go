package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"latchkey/internal/admin"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// permissionRow is one permission a user holds, as the admin page shows it.
type permissionRow struct {
	Kind   store.TargetKind
	Target string // what the grant form takes: "", a project key, or KEY/slug
	Name   string
}

// Where describes the target in words.
func (r permissionRow) Where() string {
	switch r.Kind {
	case store.TargetProject:
		return "project " + r.Target
	case store.TargetRepo:
		return "repository " + r.Target
	}
	return "the whole server"
}

// grantForm is the grant form, as typed.
type grantForm struct {
	Kind, Target, Permission string
}

type adminUserData struct {
	Notice, Error string
	Target        store.User
	Self          bool
	Permissions   []permissionRow
	Form          grantForm
	Names         map[string][]scope.PermissionName // permission names by target kind
}

// permissionNames are the names the grant form offers, by target kind.
func permissionNames() map[string][]scope.PermissionName {
	names := map[string][]scope.PermissionName{}
	for _, kind := range []store.TargetKind{store.TargetGlobal, store.TargetProject, store.TargetRepo} {
		names[string(kind)] = scope.PermissionNames(kind)
	}
	return names
}

// adminUser shows one user's permissions with a form to grant another.
func (p *Pages) adminUser(w http.ResponseWriter, r *http.Request) {
	user, _, ok := p.signedInAdmin(w, r)
	if !ok {
		return
	}
	target, ok := p.pathUser(w, r)
	if !ok {
		return
	}
	p.showAdminUser(w, r, user, target, http.StatusOK, grantForm{Kind: string(store.TargetProject)}, "")
}

func (p *Pages) showAdminUser(w http.ResponseWriter, r *http.Request, user *store.User, target store.User, status int, f grantForm, msg string) {
	rows, err := p.permissionRows(r, target.ID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.render(w, r, status, "admin_user", "User "+target.Username, user, adminUserData{
		Notice: notice(r), Error: msg, Target: target, Self: target.ID == user.ID,
		Permissions: rows, Form: f, Names: permissionNames(),
	})
}

// permissionRows lists a user's permissions with their targets by name.
func (p *Pages) permissionRows(r *http.Request, userID int64) ([]permissionRow, error) {
	perms, err := p.store.ListPermissions(r.Context(), userID)
	if err != nil {
		return nil, fmt.Errorf("list permissions: %w", err)
	}
	projects, err := store.All(r.Context(), p.store.ListProjects)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	repos, err := store.All(r.Context(), p.store.ListAllRepos)
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	names := map[store.TargetKind]map[int64]string{store.TargetProject: {}, store.TargetRepo: {}}
	for _, pr := range projects {
		names[store.TargetProject][pr.ID] = pr.Key
	}
	for _, rp := range repos {
		names[store.TargetRepo][rp.ID] = rp.ProjectKey + "/" + rp.Slug
	}
	var rows []permissionRow
	for _, perm := range perms {
		rows = append(rows, permissionRow{Kind: perm.Target, Target: names[perm.Target][perm.TargetID], Name: perm.Name})
	}
	return rows, nil
}

// readGrant reads a grant or revoke form and checks it, returning the
// admin operation's target or a complaint in plain words.
func (p *Pages) readGrant(r *http.Request, level scope.Global, self bool) (grantForm, admin.Target, string, error) {
	f := grantForm{Kind: r.PostForm.Get("kind"), Target: strings.TrimSpace(r.PostForm.Get("target")),
		Permission: strings.ToUpper(strings.TrimSpace(r.PostForm.Get("permission")))}
	kind := store.TargetKind(f.Kind)
	if err := scope.CheckPermission(kind, f.Permission); err != nil {
		return f, admin.Target{}, "Choose a permission that applies to the chosen kind of target: " + sentence(err.Error()), nil
	}
	switch kind {
	case store.TargetGlobal:
		g, _ := scope.GlobalPermission(f.Permission)
		switch {
		case self:
			return f, admin.Target{}, "You cannot change your own global permission; ask another administrator.", nil
		case g > level:
			return f, admin.Target{}, "Only a system administrator may grant or remove " + f.Permission + ".", nil
		}
		return f, admin.Target{Global: true}, "", nil
	case store.TargetProject:
		_, err := p.store.GetProjectByKey(r.Context(), f.Target)
		if errors.Is(err, store.ErrNotFound) {
			return f, admin.Target{}, fmt.Sprintf("There is no project with the key %q.", f.Target), nil
		}
		return f, admin.Target{Project: f.Target}, "", err
	}
	key, slug, _ := strings.Cut(f.Target, "/")
	_, err := p.store.GetRepo(r.Context(), key, slug)
	if errors.Is(err, store.ErrNotFound) {
		return f, admin.Target{}, fmt.Sprintf("There is no repository %q. Write it as PROJECT/repository.", f.Target), nil
	}
	return f, admin.Target{Repo: f.Target}, "", err
}

// permissionChange runs the checks that granting and revoking share and
// returns the admin, the target user, the form and its admin target.
func (p *Pages) permissionChange(w http.ResponseWriter, r *http.Request) (*store.User, store.User, grantForm, admin.Target, bool) {
	if !p.parseForm(w, r) {
		return nil, store.User{}, grantForm{}, admin.Target{}, false
	}
	user, level, ok := p.signedInAdmin(w, r)
	if !ok {
		return nil, store.User{}, grantForm{}, admin.Target{}, false
	}
	target, ok := p.pathUser(w, r)
	if !ok || !p.mayManage(w, r, level, target) {
		return nil, store.User{}, grantForm{}, admin.Target{}, false
	}
	f, t, msg, err := p.readGrant(r, level, target.ID == user.ID)
	if err != nil {
		p.serverError(w, r, err)
		return nil, store.User{}, grantForm{}, admin.Target{}, false
	}
	if msg != "" {
		p.showAdminUser(w, r, user, target, http.StatusBadRequest, f, msg)
		return nil, store.User{}, grantForm{}, admin.Target{}, false
	}
	return user, target, f, t, true
}

// adminGrant gives a user a permission, replacing the one they held on
// that target.
func (p *Pages) adminGrant(w http.ResponseWriter, r *http.Request) {
	user, target, f, t, ok := p.permissionChange(w, r)
	if !ok {
		return
	}
	if err := admin.GrantPermission(r.Context(), p.store, admin.Subject{Username: target.Username}, t, f.Permission); err != nil {
		p.serverError(w, r, err)
		return
	}
	row := permissionRow{Kind: store.TargetKind(f.Kind), Target: f.Target, Name: f.Permission}
	p.audit(r, event("permission.granted", user, "", fmt.Sprintf("user %s: %s on %s", target.Username, f.Permission, row.Where())))
	redirectDone(w, r, adminPath+"/users/"+strconv.FormatInt(target.ID, 10), "granted")
}

// adminRevoke takes a permission from a user.
func (p *Pages) adminRevoke(w http.ResponseWriter, r *http.Request) {
	user, target, f, t, ok := p.permissionChange(w, r)
	if !ok {
		return
	}
	err := admin.RevokePermission(r.Context(), p.store, admin.Subject{Username: target.Username}, t, f.Permission)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			p.serverError(w, r, err)
			return
		}
		// The permission changed since the page was shown.
		p.log.Info("revoke permission", "error", err)
		p.showAdminUser(w, r, user, target, http.StatusConflict, grantForm{Kind: f.Kind},
			"That permission was already changed by someone else. Check the list below.")
		return
	}
	row := permissionRow{Kind: store.TargetKind(f.Kind), Target: f.Target, Name: f.Permission}
	p.audit(r, event("permission.revoked", user, "", fmt.Sprintf("user %s: %s on %s", target.Username, f.Permission, row.Where())))
	redirectDone(w, r, adminPath+"/users/"+strconv.FormatInt(target.ID, 10), "taken")
}
