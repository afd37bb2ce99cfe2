package web

import (
	"errors"
	"net/http"
	"strings"

	"latchkey/internal/admin"
	"latchkey/internal/store"
)

// Paths of the user's settings pages.
const (
	applicationsPath   = "/user/settings/applications"
	authorizationsPath = "/user/settings/authorizations"
	accountPath        = "/user/settings/account"
)

// mountSettings registers the signed-in user's settings pages.
func (p *Pages) mountSettings(mux *http.ServeMux) {
	mux.HandleFunc("GET /user/settings", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, applicationsPath, http.StatusFound)
	})
	mux.HandleFunc("GET "+applicationsPath, p.applications)
	mux.HandleFunc("POST "+applicationsPath, p.registerApplication)
	mux.HandleFunc("GET "+applicationsPath+"/{id}", p.application)
	mux.HandleFunc("POST "+applicationsPath+"/{id}", p.updateApplication)
	mux.HandleFunc("POST "+applicationsPath+"/{id}/secret", p.regenerateSecret)
	mux.HandleFunc("POST "+applicationsPath+"/{id}/delete", p.deleteApplication)
	mux.HandleFunc("POST "+authorizationsPath+"/{id}/revoke", p.revokeAuthorization)
	mux.HandleFunc("GET "+accountPath, p.account)
	mux.HandleFunc("POST "+accountPath, p.changePassword)
}

// appForm is the registration and edit form of an application, as typed.
type appForm struct {
	Name         string
	RedirectURIs string // one per line
	Public       bool
	PKCE         bool
	Scopes       []string
	Error        string
	Checklist    []scopeGroup
}

// newAppForm is the empty registration form.
func newAppForm() appForm {
	scopes := strings.Fields(admin.DefaultClientScopes)
	return appForm{Scopes: scopes, Checklist: scopeChecklist(scopes)}
}

// readAppForm reads the form's fields from a parsed POST.
func readAppForm(r *http.Request) appForm {
	f := appForm{
		Name:         strings.TrimSpace(r.PostForm.Get("name")),
		RedirectURIs: strings.TrimSpace(r.PostForm.Get("redirect_uris")),
		Public:       r.PostForm.Get("client_type") == "public",
		PKCE:         r.PostForm.Get("pkce_required") == "on",
		Scopes:       r.PostForm["scope"],
	}
	f.Checklist = scopeChecklist(f.Scopes)
	return f
}

// uris splits the redirect URIs field, one URI per line.
func (f appForm) uris() []string { return strings.Fields(f.RedirectURIs) }

// check returns a plain-words complaint about the form, or "".
func (f appForm) check(r *http.Request, public bool, allowInsecure bool) string {
	if t := r.PostForm.Get("client_type"); t != "" && t != "public" && t != "confidential" {
		return "Choose whether the application is confidential or public."
	}
	if len(f.Scopes) == 0 {
		return "Choose at least one scope the application may ask for."
	}
	if len(f.uris()) == 0 {
		return "Enter at least one redirect URI."
	}
	err := admin.CheckClient(admin.NewClient{Name: f.Name, RedirectURIs: f.uris(), Scopes: strings.Join(f.Scopes, " "),
		Public: public, PKCERequired: f.PKCE, AllowInsecureRedirects: allowInsecure})
	if err != nil {
		return sentence(err.Error())
	}
	return ""
}

// sentence turns an error message into a sentence to show.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// applicationsData is the applications page.
type applicationsData struct {
	Notice     string
	Apps       []store.Client
	Authorized []authorizedApp
	Form       appForm
}

// applications lists the user's applications and the applications they
// authorized, with the registration form.
func (p *Pages) applications(w http.ResponseWriter, r *http.Request) {
	user, _, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	p.showApplications(w, r, user, http.StatusOK, newAppForm())
}

func (p *Pages) showApplications(w http.ResponseWriter, r *http.Request, user *store.User, status int, form appForm) {
	apps, err := store.All(r.Context(), store.Bind(p.store.ListClientsByOwner, user.ID))
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	authorized, err := p.authorizedApps(r.Context(), user.ID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.render(w, r, status, "applications", "Applications", user,
		applicationsData{Notice: notice(r), Apps: apps, Authorized: authorized, Form: form})
}

// secretData is the page that shows a client secret, once.
type secretData struct {
	Client store.Client
	Secret string
	New    bool // just registered, rather than a regenerated secret
}

// registerApplication registers an application owned by the user and shows
// its credentials once.
func (p *Pages) registerApplication(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	user, _, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	f := readAppForm(r)
	if f.Error = f.check(r, f.Public, p.cfg.AllowInsecureRedirects); f.Error != "" {
		p.showApplications(w, r, user, http.StatusBadRequest, f)
		return
	}
	c, plain, err := admin.CreateClient(r.Context(), p.store, admin.NewClient{
		Name: f.Name, RedirectURIs: f.uris(), Scopes: strings.Join(f.Scopes, " "), Public: f.Public,
		PKCERequired: f.PKCE, OwnerUserID: user.ID, AllowInsecureRedirects: p.cfg.AllowInsecureRedirects,
	}, p.provider.Now())
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.audit(r, event("client.created", user, c.ID, "name: "+c.Name))
	p.render(w, r, http.StatusOK, "secret", "Application registered", user, secretData{Client: c, Secret: plain, New: true})
}

// ownedClient loads the application named in the path if the user owns
// it. Anyone else's application, or none, is "not found" alike.
func (p *Pages) ownedClient(w http.ResponseWriter, r *http.Request, user *store.User) (store.Client, bool) {
	c, err := p.store.GetClient(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.OwnerUserID != user.ID) {
		p.errorPage(w, r, http.StatusNotFound, "There is no such application among yours.")
		return store.Client{}, false
	}
	if err != nil {
		p.serverError(w, r, err)
		return store.Client{}, false
	}
	return c, true
}

// applicationData is the page of one of the user's applications.
type applicationData struct {
	Notice string
	Client store.Client
	Form   appForm
}

// application shows the edit form of one of the user's applications.
func (p *Pages) application(w http.ResponseWriter, r *http.Request) {
	user, _, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	c, ok := p.ownedClient(w, r, user)
	if !ok {
		return
	}
	f := appForm{Name: c.Name, RedirectURIs: strings.Join(c.RedirectURIs, "\n"), Public: c.Public,
		PKCE: c.PKCERequired, Scopes: c.Scopes, Checklist: scopeChecklist(c.Scopes)}
	p.render(w, r, http.StatusOK, "application", c.Name, user, applicationData{Notice: notice(r), Client: c, Form: f})
}

// updateApplication saves the edit form.
func (p *Pages) updateApplication(w http.ResponseWriter, r *http.Request) {
	user, c, ok := p.ownedClientForm(w, r)
	if !ok {
		return
	}
	f := readAppForm(r)
	f.Public = c.Public
	if f.Error = f.check(r, c.Public, p.cfg.AllowInsecureRedirects); f.Error != "" {
		p.render(w, r, http.StatusBadRequest, "application", c.Name, user, applicationData{Client: c, Form: f})
		return
	}
	_, err := admin.UpdateClient(r.Context(), p.store, c.ID, admin.ClientChanges{
		Name: f.Name, RedirectURIs: f.uris(), Scopes: strings.Join(f.Scopes, " "), PKCERequired: f.PKCE,
		AllowInsecureRedirects: p.cfg.AllowInsecureRedirects,
	})
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.audit(r, event("client.updated", user, c.ID, "name: "+f.Name+"; scopes: "+strings.Join(f.Scopes, " ")))
	redirectDone(w, r, applicationsPath+"/"+c.ID, "updated")
}

// regenerateSecret replaces the secret of one of the user's confidential
// applications and shows the new one once. The old one stops working now.
func (p *Pages) regenerateSecret(w http.ResponseWriter, r *http.Request) {
	user, c, ok := p.ownedClientForm(w, r)
	if !ok {
		return
	}
	if c.Public {
		p.errorPage(w, r, http.StatusBadRequest, "This application is public: it has no client secret.")
		return
	}
	plain, err := admin.RegenerateSecret(r.Context(), p.store, c.ID)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.audit(r, event("client.secret_regenerated", user, c.ID, "the old secret no longer works"))
	p.render(w, r, http.StatusOK, "secret", "New client secret", user, secretData{Client: c, Secret: plain})
}

// confirmData is a page that asks before something that cannot be undone.
type confirmData struct {
	Message, Action, Button, Cancel string
}

// confirmed reports whether the form carries the confirmation; if not, it
// shows the confirmation page, whose form posts the same action again
// with it.
func (p *Pages) confirmed(w http.ResponseWriter, r *http.Request, user *store.User, title string, d confirmData) bool {
	if r.PostForm.Get("confirm") == "yes" {
		return true
	}
	d.Action = r.URL.Path
	p.render(w, r, http.StatusOK, "confirm", title, user, d)
	return false
}

// deleteApplication deletes one of the user's applications after asking.
func (p *Pages) deleteApplication(w http.ResponseWriter, r *http.Request) {
	user, c, ok := p.ownedClientForm(w, r)
	if !ok {
		return
	}
	if !p.confirmed(w, r, user, "Delete "+c.Name+"?", confirmData{
		Message: "Deleting " + c.Name + " stops every token it holds and removes its registration. Applications that use its client ID will stop working. This cannot be undone.",
		Button:  "Delete application", Cancel: applicationsPath + "/" + c.ID,
	}) {
		return
	}
	if err := admin.DeleteClient(r.Context(), p.store, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		p.serverError(w, r, err)
		return
	}
	p.audit(r, event("client.deleted", user, c.ID, "name: "+c.Name))
	redirectDone(w, r, applicationsPath, "deleted")
}

// revokeAuthorization ends the user's authorization of an application:
// every token of it dies at once and the consent is forgotten.
func (p *Pages) revokeAuthorization(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	user, _, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	clientID := r.PathValue("id")
	n, err := p.store.RevokeUserClient(r.Context(), user.ID, clientID, p.provider.Now())
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	p.audit(r, event("authorization.revoked", user, clientID, pluralize(n, "token grant")+" revoked, consent forgotten"))
	redirectDone(w, r, applicationsPath, "revoked")
}

// ownedClientForm reads a form about one of the signed-in user's
// applications: the CSRF check, the sign-in and the ownership, in that
// order. On failure it has answered the request.
func (p *Pages) ownedClientForm(w http.ResponseWriter, r *http.Request) (*store.User, store.Client, bool) {
	if !p.parseForm(w, r) {
		return nil, store.Client{}, false
	}
	user, _, ok := p.signedIn(w, r)
	if !ok {
		return nil, store.Client{}, false
	}
	c, ok := p.ownedClient(w, r, user)
	return user, c, ok
}
