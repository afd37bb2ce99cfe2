package web

import (
	"errors"
	"net/http"
	"strings"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/store"
)

// Paths of the user's settings pages.
const (
	applicationsPath   = "/user/settings/applications"
	authorizationsPath = "/user/settings/authorizations"
	accountPath        = "/user/settings/account"
)

// mountSettings registers the signed-in user's settings pages.
func (p *Pages) mountSettings(rt *Router) {
	rt.Handle("GET /user/settings", http.RedirectHandler(applicationsPath, http.StatusFound))
	rt.HandleFunc("GET "+applicationsPath, p.applications)
	rt.HandleFunc("POST "+applicationsPath, p.registerApplication)
	rt.HandleFunc("GET "+applicationsPath+"/{client}", p.application)
	rt.HandleFunc("POST "+applicationsPath+"/{client}", p.updateApplication)
	rt.HandleFunc("POST "+applicationsPath+"/{client}/secret", p.regenerateSecret)
	rt.HandleFunc("POST "+applicationsPath+"/{client}/delete", p.deleteApplication)
	rt.HandleFunc("POST "+authorizationsPath+"/{client}/revoke", p.revokeAuthorization)
	rt.HandleFunc("GET "+accountPath, p.account)
	rt.HandleFunc("POST "+accountPath, p.changePassword)
	rt.HandleFunc("POST "+signOutEverywherePath, p.signOutEverywhere)
	p.mountEmail(rt)
	p.mountSecurity(rt)
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
	// PostLogoutURIs (one per line) and BackchannelURI are the OpenID
	// Connect logout settings (package logout).
	PostLogoutURIs string
	BackchannelURI string
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

		PostLogoutURIs: strings.TrimSpace(r.PostForm.Get("post_logout_redirect_uris")),
		BackchannelURI: strings.TrimSpace(r.PostForm.Get("backchannel_logout_uri")),
	}
	f.Checklist = scopeChecklist(f.Scopes)
	return f
}

// uris splits the redirect URIs field, one URI per line.
func (f appForm) uris() []string { return strings.Fields(f.RedirectURIs) }

// formProblem returns a plain-words complaint about what the form itself
// leaves out, or "". Everything else about a registration is validated
// once, by package admin, when it is stored (see refused).
func (f appForm) formProblem(r *http.Request) string {
	if t := r.PostForm.Get("client_type"); t != "" && t != "public" && t != "confidential" {
		return "Choose whether the application is confidential or public."
	}
	if len(f.Scopes) == 0 {
		return "Choose at least one scope the application may ask for."
	}
	if len(f.uris()) == 0 {
		return "Enter at least one redirect URI."
	}
	return ""
}

// refused returns the message of a registration or change that package
// admin refused (its ErrInvalid errors), as a sentence to show on the
// form, and false for any other error.
func refused(err error) (string, bool) {
	var ae *admin.Error
	if !errors.Is(err, admin.ErrInvalid) || !errors.As(err, &ae) {
		return "", false
	}
	return sentence(ae.Message), true
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
func (p *Pages) applications(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	return p.showApplications(w, r, user, http.StatusOK, newAppForm())
}

func (p *Pages) showApplications(w http.ResponseWriter, r *http.Request, user *store.User, status int, form appForm) error {
	apps, err := store.All(r.Context(), store.Bind(p.store.ListClientsByOwner, user.ID))
	if err != nil {
		return err
	}
	authorized, err := p.authorizedApps(r.Context(), user.ID)
	if err != nil {
		return err
	}
	p.render(w, r, status, "applications", "Applications", user,
		applicationsData{Notice: notice(r), Apps: apps, Authorized: authorized, Form: form})
	return nil
}

// secretData is the page that shows a client secret, once.
type secretData struct {
	Client store.Client
	Secret string
	New    bool // just registered, rather than a regenerated secret
}

// registerApplication registers an application owned by the user and shows
// its credentials once.
func (p *Pages) registerApplication(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	f := readAppForm(r)
	if f.Error = f.formProblem(r); f.Error != "" {
		return p.showApplications(w, r, user, http.StatusBadRequest, f)
	}
	c, plain, err := admin.CreateClient(r.Context(), p.store, admin.NewClient{
		Name: f.Name, RedirectURIs: f.uris(), Scopes: strings.Join(f.Scopes, " "), Public: f.Public,
		PKCERequired: f.PKCE, OwnerUserID: user.ID, AllowInsecureRedirects: p.cfg.AllowInsecureRedirects,
		PostLogoutRedirectURIs: strings.Fields(f.PostLogoutURIs), BackchannelLogoutURI: f.BackchannelURI,
	}, p.provider.Now())
	if msg, ok := refused(err); ok {
		f.Error = msg
		return p.showApplications(w, r, user, http.StatusBadRequest, f)
	}
	if err != nil {
		return err
	}
	p.audit(r, event(audit.ClientCreated, user, c.ID, "name: "+c.Name))
	p.render(w, r, http.StatusOK, "secret", "Application registered", user, secretData{Client: c, Secret: plain, New: true})
	return nil
}

// ownedClient returns the signed-in user and the application named in the
// path if they own it. Anyone else's application, or none, is "not found"
// alike.
func (p *Pages) ownedClient(r *http.Request) (*store.User, store.Client, error) {
	user, _, err := p.signedIn(r)
	if err != nil {
		return nil, store.Client{}, err
	}
	c, err := p.store.GetClient(r.Context(), r.PathValue("client"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.OwnerUserID != user.ID) {
		return nil, store.Client{}, refuse(http.StatusNotFound, "There is no such application among yours.")
	}
	if err != nil {
		return nil, store.Client{}, err
	}
	return user, c, nil
}

// applicationData is the page of one of the user's applications.
type applicationData struct {
	Notice string
	Client store.Client
	Form   appForm
}

// application shows the edit form of one of the user's applications.
func (p *Pages) application(w http.ResponseWriter, r *http.Request) error {
	user, c, err := p.ownedClient(r)
	if err != nil {
		return err
	}
	f := appForm{Name: c.Name, RedirectURIs: strings.Join(c.RedirectURIs, "\n"), Public: c.Public,
		PKCE: c.PKCERequired, Scopes: c.Scopes, Checklist: scopeChecklist(c.Scopes),
		PostLogoutURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"), BackchannelURI: c.BackchannelLogoutURI}
	p.render(w, r, http.StatusOK, "application", c.Name, user, applicationData{Notice: notice(r), Client: c, Form: f})
	return nil
}

// updateApplication saves the edit form.
func (p *Pages) updateApplication(w http.ResponseWriter, r *http.Request) error {
	user, c, err := p.ownedClient(r)
	if err != nil {
		return err
	}
	f := readAppForm(r)
	f.Public = c.Public
	f.Error = f.formProblem(r)
	if f.Error == "" {
		_, err = admin.UpdateClient(r.Context(), p.store, c.ID, admin.ClientChanges{
			Name: f.Name, RedirectURIs: f.uris(), Scopes: strings.Join(f.Scopes, " "), PKCERequired: f.PKCE,
			AllowInsecureRedirects: p.cfg.AllowInsecureRedirects,
			Logout:                 &admin.LogoutSettings{PostLogoutRedirectURIs: strings.Fields(f.PostLogoutURIs), BackchannelLogoutURI: f.BackchannelURI},
		})
		f.Error, _ = refused(err)
	}
	if f.Error != "" {
		p.render(w, r, http.StatusBadRequest, "application", c.Name, user, applicationData{Client: c, Form: f})
		return nil
	}
	if err != nil {
		return err
	}
	p.audit(r, event(audit.ClientUpdated, user, c.ID, "name: "+f.Name+"; scopes: "+strings.Join(f.Scopes, " ")))
	redirectDone(w, r, applicationsPath+"/"+c.ID, "updated")
	return nil
}

// regenerateSecret replaces the secret of one of the user's confidential
// applications and shows the new one once. The old one stops working now.
func (p *Pages) regenerateSecret(w http.ResponseWriter, r *http.Request) error {
	user, c, err := p.ownedClient(r)
	if err != nil {
		return err
	}
	if c.Public {
		return refuse(http.StatusBadRequest, "This application is public: it has no client secret.")
	}
	plain, err := admin.RegenerateSecret(r.Context(), p.store, c.ID)
	if err != nil {
		return err
	}
	p.audit(r, event(audit.ClientSecretRegenerated, user, c.ID, "the old secret no longer works"))
	p.render(w, r, http.StatusOK, "secret", "New client secret", user, secretData{Client: c, Secret: plain})
	return nil
}

// confirmData is a page that asks before something that cannot be undone.
type confirmData struct {
	Message, Action, Button, Cancel string
}

// confirmed reports whether the form carries the confirmation that
// askConfirmation's page adds.
func confirmed(r *http.Request) bool { return r.PostForm.Get("confirm") == "yes" }

// askConfirmation shows the confirmation page, whose form posts the same
// action again, confirmed.
func (p *Pages) askConfirmation(w http.ResponseWriter, r *http.Request, user *store.User, title string, d confirmData) error {
	d.Action = r.URL.Path
	p.render(w, r, http.StatusOK, "confirm", title, user, d)
	return nil
}

// deleteApplication deletes one of the user's applications after asking.
func (p *Pages) deleteApplication(w http.ResponseWriter, r *http.Request) error {
	user, c, err := p.ownedClient(r)
	if err != nil {
		return err
	}
	return p.deleteClient(w, r, user, c, confirmData{
		Message: "Deleting " + c.Name + " stops every token it holds and removes its registration. Applications that use its client ID will stop working. This cannot be undone.",
		Button:  "Delete application", Cancel: applicationsPath + "/" + c.ID,
	}, "name: "+c.Name, applicationsPath)
}

// deleteClient deletes application c once the form is confirmed (until
// then it asks, with ask), records detail in the audit trail and goes
// back to back.
func (p *Pages) deleteClient(w http.ResponseWriter, r *http.Request, user *store.User, c store.Client, ask confirmData, detail, back string) error {
	if !confirmed(r) {
		return p.askConfirmation(w, r, user, "Delete "+c.Name+"?", ask)
	}
	if err := admin.DeleteClient(r.Context(), p.store, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	p.audit(r, event(audit.ClientDeleted, user, c.ID, detail))
	redirectDone(w, r, back, "deleted")
	return nil
}

// revokeAuthorization ends the user's authorization of an application:
// every token of it dies at once and the consent is forgotten.
func (p *Pages) revokeAuthorization(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.signedIn(r)
	if err != nil {
		return err
	}
	clientID := r.PathValue("client")
	n, err := p.store.RevokeUserClient(r.Context(), user.ID, clientID, p.provider.Now())
	if err != nil {
		return err
	}
	p.audit(r, event(audit.AuthorizationRevoked, user, clientID, pluralize(n, "token grant")+" revoked, consent forgotten"))
	redirectDone(w, r, applicationsPath, "revoked")
	return nil
}
