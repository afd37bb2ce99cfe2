package web

import (
	"cmp"
	"errors"
	"fmt"
	"latchkey/internal/audit"
	"net/http"
	"strconv"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// adminPath is the prefix of the administration pages.
const adminPath = "/admin"

// mountAdmin registers the administration pages.
func (p *Pages) mountAdmin(mux *http.ServeMux) {
	toApps := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, adminPath+"/applications", http.StatusFound)
	}
	mux.HandleFunc("GET "+adminPath, toApps)
	mux.HandleFunc("GET "+adminPath+"/{$}", toApps)
	mux.HandleFunc("GET "+adminPath+"/applications", p.adminApplications)
	mux.HandleFunc("POST "+adminPath+"/applications/{id}/suspend", p.adminSuspend(true))
	mux.HandleFunc("POST "+adminPath+"/applications/{id}/reinstate", p.adminSuspend(false))
	mux.HandleFunc("POST "+adminPath+"/applications/{id}/delete", p.adminDeleteApplication)
	mux.HandleFunc("GET "+adminPath+"/users", p.adminUsers)
	mux.HandleFunc("GET "+adminPath+"/users/{id}", p.adminUser)
	mux.HandleFunc("POST "+adminPath+"/users/{id}/disable", p.adminDisable(true))
	mux.HandleFunc("POST "+adminPath+"/users/{id}/enable", p.adminDisable(false))
	mux.HandleFunc("POST "+adminPath+"/users/{id}/permissions", p.adminGrant)
	mux.HandleFunc("POST "+adminPath+"/users/{id}/permissions/revoke", p.adminRevoke)
	mux.HandleFunc("GET "+adminPath+"/audit", p.adminAudit)
}

// signedInAdmin returns the signed-in user if they hold global ADMIN or
// SYS_ADMIN, with that level; anyone else gets a page that says no.
func (p *Pages) signedInAdmin(w http.ResponseWriter, r *http.Request) (*store.User, scope.Global, bool) {
	user, _, ok := p.signedIn(w, r)
	if !ok {
		return nil, scope.NoGlobal, false
	}
	level, err := p.globalLevel(r.Context(), user.ID)
	if err != nil {
		p.serverError(w, r, err)
		return nil, scope.NoGlobal, false
	}
	if level < scope.GlobalAdmin {
		p.errorPage(w, r, http.StatusForbidden, "Only administrators may open the administration pages.")
		return nil, scope.NoGlobal, false
	}
	return user, level, true
}

// adminApp is one row of the applications table.
type adminApp struct {
	store.Client
	Owner string
}

type adminAppsData struct {
	Notice string
	Apps   []adminApp
}

// adminApplications lists every application with its owner.
func (p *Pages) adminApplications(w http.ResponseWriter, r *http.Request) {
	user, _, ok := p.signedInAdmin(w, r)
	if !ok {
		return
	}
	clients, err := store.All(r.Context(), p.store.ListClients)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	names, err := p.usernames(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	d := adminAppsData{Notice: notice(r)}
	for _, c := range clients {
		owner := "" // registered by an administrator
		if c.OwnerUserID != 0 {
			owner = cmp.Or(names[c.OwnerUserID], fmt.Sprintf("deleted user #%d", c.OwnerUserID))
		}
		d.Apps = append(d.Apps, adminApp{Client: c, Owner: owner})
	}
	p.render(w, r, http.StatusOK, "admin_apps", "All applications", user, d)
}

// usernames maps user IDs to user names.
func (p *Pages) usernames(r *http.Request) (map[int64]string, error) {
	users, err := store.All(r.Context(), p.store.ListUsers)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	names := make(map[int64]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Username
	}
	return names, nil
}

// anyClient loads the application named in the path.
func (p *Pages) anyClient(w http.ResponseWriter, r *http.Request) (store.Client, bool) {
	c, err := p.store.GetClient(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		p.errorPage(w, r, http.StatusNotFound, "There is no such application.")
		return store.Client{}, false
	}
	if err != nil {
		p.serverError(w, r, err)
		return store.Client{}, false
	}
	return c, true
}

// adminSuspend suspends (revoking every token) or reinstates an application.
func (p *Pages) adminSuspend(suspend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !p.parseForm(w, r) {
			return
		}
		user, _, ok := p.signedInAdmin(w, r)
		if !ok {
			return
		}
		c, ok := p.anyClient(w, r)
		if !ok {
			return
		}
		_, n, err := admin.SetClientSuspended(r.Context(), p.store, c.ID, suspend, p.provider.Now())
		if err != nil {
			p.serverError(w, r, err)
			return
		}
		name, done, detail := audit.ClientReinstated, "reinstated", "name: "+c.Name
		if suspend {
			name, done = audit.ClientSuspended, "suspended"
			detail += "; " + pluralize(n, "token grant") + " revoked"
		}
		p.audit(r, event(name, user, c.ID, detail))
		redirectDone(w, r, adminPath+"/applications", done)
	}
}

// adminDeleteApplication deletes any application after asking.
func (p *Pages) adminDeleteApplication(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	user, _, ok := p.signedInAdmin(w, r)
	if !ok {
		return
	}
	c, ok := p.anyClient(w, r)
	if !ok {
		return
	}
	if !p.confirmed(w, r, user, "Delete "+c.Name+"?", confirmData{
		Message: "Deleting " + c.Name + " (client ID " + c.ID + ") stops every token it holds for every user and removes its registration. This cannot be undone. To stop it for now instead, suspend it.",
		Button:  "Delete application", Cancel: adminPath + "/applications",
	}) {
		return
	}
	if err := admin.DeleteClient(r.Context(), p.store, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		p.serverError(w, r, err)
		return
	}
	p.audit(r, event("client.deleted", user, c.ID, "by an administrator; name: "+c.Name))
	redirectDone(w, r, adminPath+"/applications", "deleted")
}

// adminUserRow is one row of the users table.
type adminUserRow struct {
	store.User
	Global string // the global permission held, or ""
	Self   bool
}

type adminUsersData struct {
	Notice string
	Users  []adminUserRow
}

// adminUsers lists every user with their global permission.
func (p *Pages) adminUsers(w http.ResponseWriter, r *http.Request) {
	user, _, ok := p.signedInAdmin(w, r)
	if !ok {
		return
	}
	users, err := store.All(r.Context(), p.store.ListUsers)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	d := adminUsersData{Notice: notice(r)}
	for _, u := range users {
		perms, err := p.store.ListPermissions(r.Context(), u.ID)
		if err != nil {
			p.serverError(w, r, err)
			return
		}
		row := adminUserRow{User: u, Self: u.ID == user.ID}
		for _, perm := range perms {
			if perm.Target == store.TargetGlobal {
				row.Global = perm.Name
			}
		}
		d.Users = append(d.Users, row)
	}
	p.render(w, r, http.StatusOK, "admin_users", "Users", user, d)
}

// pathUser loads the user named by ID in the path.
func (p *Pages) pathUser(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		p.errorPage(w, r, http.StatusNotFound, "There is no such user.")
		return store.User{}, false
	}
	u, err := p.store.GetUser(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		p.errorPage(w, r, http.StatusNotFound, "There is no such user.")
		return store.User{}, false
	}
	if err != nil {
		p.serverError(w, r, err)
		return store.User{}, false
	}
	return u, true
}

// mayManage checks that the administrator at level may change target: an
// ADMIN may not touch a SYS_ADMIN. It answers the request when not.
func (p *Pages) mayManage(w http.ResponseWriter, r *http.Request, level scope.Global, target store.User) bool {
	theirs, err := p.globalLevel(r.Context(), target.ID)
	if err != nil {
		p.serverError(w, r, err)
		return false
	}
	if theirs > level {
		p.errorPage(w, r, http.StatusForbidden, "Only a system administrator may change a system administrator.")
		return false
	}
	return true
}

// adminDisable disables (ending their sessions) or enables a user.
func (p *Pages) adminDisable(disable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !p.parseForm(w, r) {
			return
		}
		user, level, ok := p.signedInAdmin(w, r)
		if !ok {
			return
		}
		target, ok := p.pathUser(w, r)
		if !ok || !p.mayManage(w, r, level, target) {
			return
		}
		if target.ID == user.ID {
			p.errorPage(w, r, http.StatusBadRequest, "You cannot disable or enable your own account.")
			return
		}
		if _, err := admin.SetUserDisabled(r.Context(), p.store, target.ID, disable); err != nil {
			p.serverError(w, r, err)
			return
		}
		name, done := audit.UserEnabled, "enabled"
		if disable {
			name, done = audit.UserDisabled, "disabled"
		}
		p.audit(r, event(name, user, "", "user: "+target.Username))
		redirectDone(w, r, adminPath+"/users", done)
	}
}

// adminAudit shows the audit trail, newest first, a page at a time.
func (p *Pages) adminAudit(w http.ResponseWriter, r *http.Request) {
	user, _, ok := p.signedInAdmin(w, r)
	if !ok {
		return
	}
	const perPage = 50
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 || page > 1_000_000 {
		page = 1
	}
	newest := store.Walk(r.Context(), p.store.ListAudit, min(page*perPage+1, store.MaxLimit))
	events, err := store.Cut(newest, (page-1)*perPage, perPage)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	d := auditData{Page: page, Events: events.Items}
	if events.More {
		d.Next = page + 1
	}
	if page > 1 {
		d.Prev = page - 1
	}
	p.render(w, r, http.StatusOK, "admin_audit", "Audit log", user, d)
}

type auditData struct {
	Events     []store.AuditEvent
	Page       int
	Prev, Next int // 0: none
}

// auditTime is how the audit table shows a time: to the second.
func auditTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
