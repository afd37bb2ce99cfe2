package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// adminPath is the prefix of the administration pages.
const adminPath = "/admin"

// mountAdmin registers the administration pages.
func (p *Pages) mountAdmin(rt *Router) {
	toApps := http.RedirectHandler(adminPath+"/applications", http.StatusFound)
	rt.Handle("GET "+adminPath, toApps)
	rt.Handle("GET "+adminPath+"/{$}", toApps)
	rt.HandleFunc("GET "+adminPath+"/applications", p.adminApplications)
	rt.HandleFunc("POST "+adminPath+"/applications/{client}/suspend", p.adminSuspend(true))
	rt.HandleFunc("POST "+adminPath+"/applications/{client}/reinstate", p.adminSuspend(false))
	rt.HandleFunc("POST "+adminPath+"/applications/{client}/delete", p.adminDeleteApplication)
	rt.HandleFunc("POST "+adminPath+"/applications/{client}/device-grant/on", p.adminDeviceGrant(true))
	rt.HandleFunc("POST "+adminPath+"/applications/{client}/device-grant/off", p.adminDeviceGrant(false))
	rt.HandleFunc("GET "+adminPath+"/users", p.adminUsers)
	rt.HandleFunc("GET "+adminPath+"/users/{user}", p.adminUser)
	rt.HandleFunc("POST "+adminPath+"/users/{user}/disable", p.adminDisable(true))
	rt.HandleFunc("POST "+adminPath+"/users/{user}/enable", p.adminDisable(false))
	rt.HandleFunc("POST "+adminPath+"/users/{user}/email", p.adminSetEmail)
	rt.HandleFunc("POST "+adminPath+"/users/{user}/sign-out", p.adminSignOut)
	rt.HandleFunc("POST "+adminPath+"/users/{user}/reset-factors", p.adminResetFactors)
	rt.HandleFunc("POST "+adminPath+"/users/{user}/permissions", p.adminPermission(true))
	rt.HandleFunc("POST "+adminPath+"/users/{user}/permissions/revoke", p.adminPermission(false))
	rt.HandleFunc("GET "+adminPath+"/audit", p.adminAudit)
	// Identity sources (adminsources.go): "new" is no source's name here.
	rt.HandleFunc("GET "+sourcesPath, p.adminSources)
	rt.HandleFunc("GET "+sourcesPath+"/new", p.adminSourceNew)
	rt.HandleFunc("POST "+sourcesPath+"/new", p.adminSourceCreate)
	rt.HandleFunc("GET "+sourcesPath+"/{source}", p.adminSourceEdit)
	rt.HandleFunc("POST "+sourcesPath+"/{source}", p.adminSourceSave)
	rt.HandleFunc("POST "+sourcesPath+"/{source}/enable", p.adminSourceEnable(true))
	rt.HandleFunc("POST "+sourcesPath+"/{source}/disable", p.adminSourceEnable(false))
	rt.HandleFunc("POST "+sourcesPath+"/{source}/move-up", p.adminSourceMove(-1))
	rt.HandleFunc("POST "+sourcesPath+"/{source}/move-down", p.adminSourceMove(+1))
	rt.HandleFunc("POST "+sourcesPath+"/{source}/sync", p.adminSourceSync)
	rt.HandleFunc("POST "+sourcesPath+"/{source}/delete", p.adminSourceDelete)
}

// signedInAdmin returns the signed-in user if they hold global ADMIN or
// SYS_ADMIN, with that level; anyone else is refused (403).
func (p *Pages) signedInAdmin(r *http.Request) (*store.User, scope.Global, error) {
	user, _, err := p.signedIn(r)
	if err != nil {
		return nil, scope.NoGlobal, err
	}
	level, err := p.globalLevel(r.Context(), user.ID)
	if err != nil {
		return nil, scope.NoGlobal, err
	}
	if level < scope.GlobalAdmin {
		return nil, scope.NoGlobal, refuse(http.StatusForbidden, "Only administrators may open the administration pages.")
	}
	return user, level, nil
}

// adminApp is one row of the applications table.
type adminApp struct {
	store.Client
	Owner       string
	DeviceGrant bool // the client may use the device authorization grant
}

type adminAppsData struct {
	Notice string
	Apps   []adminApp
}

// adminApplications lists every application with its owner.
func (p *Pages) adminApplications(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedInAdmin(r)
	if err != nil {
		return err
	}
	clients, err := store.All(r.Context(), p.store.ListClients)
	if err != nil {
		return err
	}
	names, err := p.usernames(r)
	if err != nil {
		return err
	}
	d := adminAppsData{Notice: notice(r)}
	for _, c := range clients {
		owner := "" // registered by an administrator
		if c.OwnerUserID != 0 {
			owner = cmp.Or(names[c.OwnerUserID], fmt.Sprintf("deleted user #%d", c.OwnerUserID))
		}
		d.Apps = append(d.Apps, adminApp{Client: c, Owner: owner, DeviceGrant: admin.HasDeviceGrant(c)})
	}
	p.render(w, r, http.StatusOK, "admin_apps", "All applications", user, d)
	return nil
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

// adminClient returns the signed-in administrator and the application
// named in the path.
func (p *Pages) adminClient(r *http.Request) (*store.User, store.Client, error) {
	user, _, err := p.signedInAdmin(r)
	if err != nil {
		return nil, store.Client{}, err
	}
	c, err := p.store.GetClient(r.Context(), r.PathValue("client"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.Client{}, refuse(http.StatusNotFound, "There is no such application.")
	}
	if err != nil {
		return nil, store.Client{}, err
	}
	return user, c, nil
}

// adminSuspend suspends (revoking every token) or reinstates an application.
func (p *Pages) adminSuspend(suspend bool) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, c, err := p.adminClient(r)
		if err != nil {
			return err
		}
		_, n, err := admin.SetClientSuspended(r.Context(), p.store, c.ID, suspend, p.provider.Now())
		if err != nil {
			return err
		}
		name, done, detail := audit.ClientReinstated, "reinstated", "name: "+c.Name
		if suspend {
			name, done = audit.ClientSuspended, "suspended"
			detail += "; " + pluralize(n, "token grant") + " revoked"
		}
		p.audit(r, event(name, user, c.ID, detail))
		redirectDone(w, r, adminPath+"/applications", done)
		return nil
	}
}

// adminDeviceGrant switches an application's device authorization grant
// on or off (see admin.SetDeviceGrant).
func (p *Pages) adminDeviceGrant(on bool) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, c, err := p.adminClient(r)
		if err != nil {
			return err
		}
		if _, err := admin.SetDeviceGrant(r.Context(), p.store, c.ID, on); err != nil {
			return err
		}
		state := map[bool]string{true: "on", false: "off"}[on]
		p.audit(r, event(audit.ClientUpdated, user, c.ID, "name: "+c.Name+"; device grant switched "+state))
		redirectDone(w, r, adminPath+"/applications", "device-"+state)
		return nil
	}
}

// adminDeleteApplication deletes any application after asking.
func (p *Pages) adminDeleteApplication(w http.ResponseWriter, r *http.Request) error {
	user, c, err := p.adminClient(r)
	if err != nil {
		return err
	}
	return p.deleteClient(w, r, user, c, confirmData{
		Message: "Deleting " + c.Name + " (client ID " + c.ID + ") stops every token it holds for every user and removes its registration. This cannot be undone. To stop it for now instead, suspend it.",
		Button:  "Delete application", Cancel: adminPath + "/applications",
	}, "by an administrator; name: "+c.Name, adminPath+"/applications")
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
func (p *Pages) adminUsers(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedInAdmin(r)
	if err != nil {
		return err
	}
	users, err := store.All(r.Context(), p.store.ListUsers)
	if err != nil {
		return err
	}
	d := adminUsersData{Notice: notice(r)}
	for _, u := range users {
		perms, err := p.store.ListPermissions(r.Context(), u.ID)
		if err != nil {
			return err
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
	return nil
}

// pathUser loads the user named by ID in the path.
func (p *Pages) pathUser(r *http.Request) (store.User, error) {
	id, err := strconv.ParseInt(r.PathValue("user"), 10, 64)
	if err != nil {
		return store.User{}, refuse(http.StatusNotFound, "There is no such user.")
	}
	u, err := p.store.GetUser(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, refuse(http.StatusNotFound, "There is no such user.")
	}
	return u, err
}

// managedUser returns the signed-in administrator and the user named in
// the path, if the administrator may change them: an ADMIN may not touch
// a SYS_ADMIN.
func (p *Pages) managedUser(r *http.Request) (*store.User, scope.Global, store.User, error) {
	user, level, err := p.signedInAdmin(r)
	if err != nil {
		return nil, scope.NoGlobal, store.User{}, err
	}
	target, err := p.pathUser(r)
	if err != nil {
		return nil, scope.NoGlobal, store.User{}, err
	}
	theirs, err := p.globalLevel(r.Context(), target.ID)
	if err != nil {
		return nil, scope.NoGlobal, store.User{}, err
	}
	if theirs > level {
		return nil, scope.NoGlobal, store.User{}, refuse(http.StatusForbidden, "Only a system administrator may change a system administrator.")
	}
	return user, level, target, nil
}

// adminDisable disables (ending their sessions) or enables a user.
func (p *Pages) adminDisable(disable bool) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, _, target, err := p.managedUser(r)
		if err != nil {
			return err
		}
		if target.ID == user.ID {
			return refuse(http.StatusBadRequest, "You cannot disable or enable your own account.")
		}
		if disable {
			p.userSignedOut(r.Context(), target.ID, "")
		}
		if _, err := admin.SetUserDisabled(r.Context(), p.store, target.ID, disable); err != nil {
			return err
		}
		name, done := audit.UserEnabled, "enabled"
		if disable {
			name, done = audit.UserDisabled, "disabled"
		}
		p.audit(r, event(name, user, "", "user: "+target.Username))
		redirectDone(w, r, adminPath+"/users", done)
		return nil
	}
}

// adminSignOut ends every session of a user and revokes every
// application's tokens of theirs (admin.SignOutEverywhere), after asking.
// The account stays enabled and keeps its password. Administrators sign
// themselves out from their account page.
func (p *Pages) adminSignOut(w http.ResponseWriter, r *http.Request) error {
	user, _, target, err := p.managedUser(r)
	if err != nil {
		return err
	}
	if target.ID == user.ID {
		return refuse(http.StatusBadRequest, "To sign yourself out everywhere, use your account page.")
	}
	back := fmt.Sprintf("%s/users/%d", adminPath, target.ID)
	if !confirmed(r) {
		return p.askConfirmation(w, r, user, "Sign out "+target.Username+" everywhere?", confirmData{
			Message: "This ends every session of " + target.Username + " on every browser and device and revokes " +
				"every application they authorized: their tokens stop working at once. The account stays enabled " +
				"and keeps its password; to keep them out, disable it instead.",
			Button: "Sign out everywhere", Cancel: back,
		})
	}
	p.userSignedOut(r.Context(), target.ID, "")
	out, err := admin.SignOutEverywhere(r.Context(), p.store, target.ID, "", p.provider.Now())
	if err != nil {
		return err
	}
	p.audit(r, event(audit.UserSignedOut, user, "", "user: "+target.Username+"; "+signedOutDetail(out)))
	redirectDone(w, r, back, "user_signed_out")
	return nil
}

// adminResetFactors removes every second factor and recovery code of a
// user and ends their sessions (admin.ResetFactors), after asking: for
// someone who lost their factors and their recovery codes.
func (p *Pages) adminResetFactors(w http.ResponseWriter, r *http.Request) error {
	user, _, target, err := p.managedUser(r)
	if err != nil {
		return err
	}
	back := fmt.Sprintf("%s/users/%d", adminPath, target.ID)
	if !confirmed(r) {
		return p.askConfirmation(w, r, user, "Reset the second factors of "+target.Username+"?", confirmData{
			Message: "This removes every authenticator app, security key, passkey and recovery code of " + target.Username +
				" and ends every session of theirs. They then sign in with their password alone, or set up a new " +
				"factor at their next sign-in if the policy requires one. Make sure it is really them who lost their factors.",
			Button: "Reset second factors", Cancel: back,
		})
	}
	p.userSignedOut(r.Context(), target.ID, "")
	out, err := admin.ResetFactors(r.Context(), p.store, target.ID)
	if err != nil {
		return err
	}
	p.audit(r, event(audit.FactorsReset, user, "", fmt.Sprintf("user: %s; %s removed, %s ended",
		target.Username, pluralize(out.Factors, "factor"), pluralize(out.Sessions, "session"))))
	redirectDone(w, r, back, "factors_reset")
	return nil
}

// adminAudit shows the audit trail, newest first, a page at a time.
func (p *Pages) adminAudit(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedInAdmin(r)
	if err != nil {
		return err
	}
	const perPage = 50
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 || page > 1_000_000 {
		page = 1
	}
	newest := store.Walk(r.Context(), p.store.ListAudit, min(page*perPage+1, store.MaxLimit))
	events, err := store.Cut(newest, (page-1)*perPage, perPage)
	if err != nil {
		return err
	}
	d := auditData{Page: page, Events: events.Items}
	if events.More {
		d.Next = page + 1
	}
	if page > 1 {
		d.Prev = page - 1
	}
	p.render(w, r, http.StatusOK, "admin_audit", "Audit log", user, d)
	return nil
}

type auditData struct {
	Events     []store.AuditEvent
	Page       int
	Prev, Next int // 0: none
}

// auditTime is how the audit table shows a time: to the second.
func auditTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
