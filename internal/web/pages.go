// Package web serves the pages a person sees: login, consent and device
// entry, the authorization endpoint that leads through them, the user's
// settings (their applications, the applications they authorized, their
// password) and the administration pages (all applications, users and
// their permissions, the audit trail). It keeps browser sessions (in the
// database, so any node can serve any request) and owns the page router,
// which protects every form against cross-site request forgery before its
// handler runs. The pages need no JavaScript.
//
// Page handlers return an error instead of answering one (HandlerFunc);
// one renderer turns it into the page, the redirect to the login page or
// the redirect back to the client that it stands for.
//
// Control flow: a dialect mounts Authorize on its path; Authorize asks the
// protocol core (package oauth) to validate the request, sends the person to
// /login when there is no session, to the consent page when consent is
// needed, and finally asks the core to issue a code and redirects to the
// client. The settings and admin pages change clients, users and
// permissions through package admin, the same operations the command line
// uses, and revoke tokens through the store; they never see a token.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/audit"
	"latchkey/internal/identity"
	"latchkey/internal/logout"
	"latchkey/internal/mfa"
	"latchkey/internal/oauth"
	"latchkey/internal/passkey"
	"latchkey/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ConsentPath is where the consent page lives, in both dialects
// (Bitbucket's documented path).
const ConsentPath = "/plugins/servlet/oauth2/consent"

// Config is what the pages need.
type Config struct {
	Provider *oauth.Provider
	Store    store.Store
	// SecureCookies marks cookies Secure; true when the base URL is https.
	SecureCookies bool
	// AllowInsecureRedirects lets users register plain-http redirect URIs
	// to any host (the skip-redirect-URL-HTTPS setting).
	AllowInsecureRedirects bool
	SessionTTL             time.Duration
	Logger                 *slog.Logger
	// Emails verifies the addresses people set on their own accounts.
	Emails *admin.EmailChanges
	// Logout checks RP-initiated logout requests and queues back-channel
	// logout tokens when a session ends; nil: no end-session endpoint.
	Logout *logout.Service
	// Factors checks and enrols second factors (TOTP, recovery codes).
	Factors *mfa.Factors
	// RequireSecondFactor is the second-factor policy: PolicyOff (or
	// ""), PolicyAdmins or PolicyEveryone.
	RequireSecondFactor string
	// Identity is the node's identity sources (LDAP directories and
	// upstream OpenID Connect providers); nil: local passwords only.
	Identity *identity.Service
}

// Pages serves the HTML pages.
type Pages struct {
	cfg      Config
	provider *oauth.Provider
	store    store.Store
	log      *slog.Logger
	pages    map[string]*template.Template
	csrfKey  []byte
	throttle *throttle
	passkeys *passkey.RP
}

// New loads templates and the shared CSRF key.
func New(ctx context.Context, cfg Config) (*Pages, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	key, err := cfg.Store.EnsureSecret(ctx, "csrf-key", randomKey())
	if err != nil {
		return nil, fmt.Errorf("web: load CSRF key: %w", err)
	}
	p := &Pages{cfg: cfg, provider: cfg.Provider, store: cfg.Store, log: cfg.Logger,
		pages: map[string]*template.Template{}, csrfKey: key, throttle: newThrottle(cfg.Store, cfg.Provider.Now)}
	p.passkeys, err = passkey.New(ctx, passkey.Config{BaseURL: cfg.Provider.Issuer(), Store: cfg.Store, Now: cfg.Provider.Now})
	if errors.Is(err, passkey.ErrNoDomain) {
		cfg.Logger.Warn("security keys and passkeys are off: " + err.Error())
	} else if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(templateFS,
			"templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// pageNames are the templates in templates/, each rendered inside layout.html.
var pageNames = []string{"login", "consent", "error", "home", "device", "device_done", "confirm",
	"applications", "application", "secret", "account", "verify_email", "admin_apps", "admin_users", "admin_user", "admin_audit",
	"logout_confirm", "signed_out",
	"factor", "enrol", "recovery_codes", "security", "security_remove"}

// widePages hold tables and use the wider layout.
var widePages = map[string]bool{"applications": true, "application": true, "admin_apps": true,
	"admin_users": true, "admin_user": true, "admin_audit": true, "security": true}

// Mount registers the pages that are the same in both dialects.
func (p *Pages) Mount(rt *Router) {
	static, _ := fs.Sub(staticFS, "static")
	rt.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	rt.HandleFunc("GET /{$}", p.home)
	rt.HandleFunc("GET /login", p.loginForm)
	rt.HandleFunc("POST /login", p.login)
	rt.HandleFunc("POST /logout", p.logout)
	rt.HandleFunc("POST "+EndSessionConfirmPath, p.endSessionConfirm)
	rt.HandleFunc("GET "+factorPath, p.factorForm)
	rt.HandleFunc("POST "+factorPath, p.factorSubmit)
	rt.HandleFunc("GET "+enrolPath, p.enrolForm)
	rt.HandleFunc("POST "+enrolPath, p.enrolSubmit)
	rt.HandleFunc("GET "+ConsentPath, p.consentForm)
	rt.HandleFunc("POST "+ConsentPath, p.consent)
	rt.HandleFunc("GET "+oauth.DevicePath, p.deviceForm)
	rt.HandleFunc("POST "+oauth.DevicePath, p.deviceSubmit)
	rt.HandleFunc("GET "+deviceConfirmPath, p.deviceConfirm)
	rt.HandleFunc("POST "+deviceConfirmPath, p.deviceDecide)
	p.mountSettings(rt)
	p.mountPasskeys(rt)
	p.mountUpstream(rt)
	p.mountAdmin(rt)
}

// view is what every template receives.
type view struct {
	Title string
	User  *store.User
	CSRF  string
	Data  any
	// Admin shows the administration link; Section marks the current
	// navigation entry; Wide selects the layout for tables.
	Admin   bool
	Section string
	Wide    bool
	// Passkeys shows the security key and passkey buttons: the base URL
	// has a host name (see passkey.ErrNoDomain).
	Passkeys bool
}

// render writes a page. It buffers, so a template error becomes a clean 500.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name, title string, user *store.User, data any) {
	var buf bytes.Buffer
	v := view{Title: title, User: user, CSRF: p.csrfToken(w, r), Data: data,
		Section: section(r.URL.Path), Wide: widePages[name], Passkeys: p.passkeys != nil}
	if user != nil {
		v.Admin = p.isAdmin(r.Context(), user.ID)
	}
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.log.Error("render page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (p *Pages) home(w http.ResponseWriter, r *http.Request) error {
	user, _, err := p.currentUser(r)
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "home", "Home", user, nil)
	return nil
}

// audit records a security event, with the address the request came
// from, in the audit trail that the admin pages show (and in the log).
func (p *Pages) audit(r *http.Request, e store.AuditEvent) {
	e.Remote = clientAddress(r)
	p.provider.Audit(r.Context(), e)
}

// event is an audit event of user (nil: nobody known) about clientID.
func event(name audit.Event, user *store.User, clientID, detail string) store.AuditEvent {
	e := store.AuditEvent{Event: name, ClientID: clientID, Detail: detail}
	if user != nil {
		e.UserID, e.Username = user.ID, user.Username
	}
	return e
}

// safeNext keeps a post-login destination only if it is a path on this
// server, so that the login page is no open redirect.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t\\") {
		return "/"
	}
	return next
}
