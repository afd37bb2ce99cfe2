package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// permissionRow is one permission a user holds, as the admin page shows it.
type permissionRow struct {
	Kind   store.TargetKind
	Target string // what the grant form takes: "", a project key, or KEY/slug
	Name   string
	// From is the identity source whose group mapping granted it ("":
	// an administrator).
	From string
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
	EmailError    string // a refused address, on the address form
	EmailValue    string // the address as typed, after a refusal
	Target        store.User
	Self          bool
	Permissions   []permissionRow
	Form          grantForm
	Names         map[string][]scope.PermissionName // permission names by target kind
	// Factors and Recovery count the user's second factors and unused
	// recovery codes.
	Factors, Recovery int
	// Source is the identity source the account belongs to ("": Latchkey's
	// own password); Identities its links to identities of sources.
	Source     string
	Identities []linkedIdentity
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
func (p *Pages) adminUser(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedInAdmin(r)
	if err != nil {
		return err
	}
	target, err := p.pathUser(r)
	if err != nil {
		return err
	}
	return p.showAdminUser(w, r, user, target, http.StatusOK, grantForm{Kind: string(store.TargetProject)}, "")
}

func (p *Pages) showAdminUser(w http.ResponseWriter, r *http.Request, user *store.User, target store.User, status int, f grantForm, msg string) error {
	return p.renderAdminUser(w, r, user, status, adminUserData{Error: msg, Target: target, Form: f,
		EmailValue: target.Email})
}

// renderAdminUser shows the user page with d, completing what every
// rendering needs.
func (p *Pages) renderAdminUser(w http.ResponseWriter, r *http.Request, user *store.User, status int, d adminUserData) error {
	rows, err := p.permissionRows(r, d.Target.ID)
	if err != nil {
		return err
	}
	d.Notice, d.Self, d.Permissions, d.Names = notice(r), d.Target.ID == user.ID, rows, permissionNames()
	factors, err := p.store.ListFactors(r.Context(), d.Target.ID)
	if err != nil {
		return err
	}
	d.Factors = len(factors)
	if d.Recovery, err = p.store.CountRecoveryCodes(r.Context(), d.Target.ID); err != nil {
		return err
	}
	if d.Form.Kind == "" {
		d.Form.Kind = string(store.TargetProject)
	}
	if d.Source, d.Identities, err = p.userSources(r, d.Target); err != nil {
		return err
	}
	p.render(w, r, status, "admin_user", "User "+d.Target.Username, user, d)
	return nil
}

// adminSetEmail sets a user's address as an administrator: at once, and
// trusted as verified. A malformed address (400) or another user's (409)
// is refused on the page.
func (p *Pages) adminSetEmail(w http.ResponseWriter, r *http.Request) error {
	user, _, target, err := p.managedUser(r)
	if err != nil {
		return err
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	_, err = admin.SetEmail(r.Context(), p.store, target.ID, email)
	var ae *admin.Error
	if errors.As(err, &ae) {
		status := http.StatusBadRequest
		if errors.Is(err, store.ErrAlreadyExists) {
			status = http.StatusConflict
		}
		return p.renderAdminUser(w, r, user, status, adminUserData{Target: target, EmailValue: email,
			EmailError: sentence(ae.Message)})
	}
	if err != nil {
		return err
	}
	p.audit(r, event(audit.UserUpdated, user, "", "email of user: "+target.Username))
	redirectDone(w, r, fmt.Sprintf("%s/users/%d", adminPath, target.ID), "email_set")
	return nil
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
	sources := map[int64]string{}
	if p.cfg.Identity != nil {
		list, err := p.cfg.Identity.List(r.Context())
		if err != nil {
			return nil, fmt.Errorf("list identity sources: %w", err)
		}
		for _, src := range list {
			sources[src.ID] = src.DisplayName
		}
	}
	var rows []permissionRow
	for _, perm := range perms {
		row := permissionRow{Kind: perm.Target, Target: names[perm.Target][perm.TargetID], Name: perm.Name}
		if perm.SourceID != 0 {
			row.From = cmp.Or(sources[perm.SourceID], "a deleted source")
		}
		rows = append(rows, row)
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

// permissionChange is a grant or revoke form, checked: who changes whose
// permission, the form as typed and its admin target, or the complaint to
// show on the user's page instead.
type permissionChange struct {
	user      *store.User
	target    store.User
	form      grantForm
	to        admin.Target
	complaint string
}

// readPermissionChange runs the checks that granting and revoking share.
func (p *Pages) readPermissionChange(r *http.Request) (permissionChange, error) {
	user, level, target, err := p.managedUser(r)
	if err != nil {
		return permissionChange{}, err
	}
	f, to, msg, err := p.readGrant(r, level, target.ID == user.ID)
	if err != nil {
		return permissionChange{}, err
	}
	return permissionChange{user: user, target: target, form: f, to: to, complaint: msg}, nil
}

// adminPermission serves the grant form (grant: give a user a permission,
// replacing the one they held on that target) or the revoke form (take
// one away). A revocation that finds the permission already changed shows
// the user's page again with a conflict.
func (p *Pages) adminPermission(grant bool) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := p.readPermissionChange(r)
		if err != nil {
			return err
		}
		if c.complaint != "" {
			return p.showAdminUser(w, r, c.user, c.target, http.StatusBadRequest, c.form, c.complaint)
		}
		f, subject := c.form, admin.Subject{Username: c.target.Username}
		name, done := audit.PermissionGranted, "granted"
		if grant {
			err = admin.GrantPermission(r.Context(), p.store, subject, c.to, f.Permission)
		} else {
			name, done = audit.PermissionRevoked, "taken"
			err = admin.RevokePermission(r.Context(), p.store, subject, c.to, f.Permission)
			if err != nil && !errors.Is(err, store.ErrUnavailable) {
				// The permission changed since the page was shown.
				p.log.Info("revoke permission", "error", err)
				return p.showAdminUser(w, r, c.user, c.target, http.StatusConflict, grantForm{Kind: f.Kind},
					"That permission was already changed by someone else. Check the list below.")
			}
		}
		if err != nil {
			return err
		}
		row := permissionRow{Kind: store.TargetKind(f.Kind), Target: f.Target, Name: f.Permission}
		p.audit(r, event(name, c.user, "", fmt.Sprintf("user %s: %s on %s", c.target.Username, f.Permission, row.Where())))
		redirectDone(w, r, adminPath+"/users/"+strconv.FormatInt(c.target.ID, 10), done)
		return nil
	}
}
