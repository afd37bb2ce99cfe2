// Package api serves the protected REST resources, Bitbucket-shaped under
// /rest/api/latest/ and Gitea-shaped under /api/v1/. It is an adapter over
// package access: access authenticates every request (Bearer tokens on the
// Bitbucket routes; Gitea's "token", Bearer and Basic with the token as
// password on the Gitea routes),
// loads and decides on projects and repositories, and says which status
// and challenge an error gets; every handler receives the caller (token
// scopes and the user's permissions as they are now) and returns an error
// to one renderer, which writes the dialect's error JSON where access
// leaves the words to the API. No handler compares scopes or permissions
// itself.
//
// Statuses: 401 without a token (or with an invalid one) on anything that
// is not public; 404 for a project or repository the caller may not see,
// exactly as for one that does not exist; 403 with RFC 6750's
// insufficient_scope when the token's scopes are too low; 403 with the
// dialect's error JSON when the scopes would do but the user may not.
package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"latchkey/internal/access"
	"latchkey/internal/admin"
	"latchkey/internal/dialect"
	"latchkey/internal/oauth"
	"latchkey/internal/resource"
	"latchkey/internal/routes"
	"latchkey/internal/store"
	"latchkey/internal/webhook"
)

// Config is what the API needs.
type Config struct {
	Provider *oauth.Provider
	Store    store.Store
	BaseURL  string
	Version  string
	Logger   *slog.Logger
	// Repos creates and removes the git repositories of repository rows.
	Repos admin.RepoDisk
	// Keys rotates the ID-token signing keys (system administration).
	Keys KeyRotator
	// MaxTokenLifetime is how long a retired signing key stays published
	// after a rotation: the longest lifetime of a token it signed.
	MaxTokenLifetime time.Duration
	// Emails verifies the addresses users set on their own accounts.
	Emails *admin.EmailChanges
	// HookSecrets seals the secrets of the webhooks created through the
	// API.
	HookSecrets *webhook.Secrets
}

// KeyRotator rotates the signing keys (oidc.Keys).
type KeyRotator interface {
	Rotate(ctx context.Context, publishAhead, maxTokenLifetime time.Duration) (string, error)
}

// API serves the REST resources.
type API struct {
	cfg   Config
	store store.Store
	guard *access.Guard
	// giteaGuard authenticates the Gitea routes, in every credential form
	// Gitea accepts; its decisions are the same as guard's.
	giteaGuard *access.Guard
	log        *slog.Logger
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// The Bitbucket routes take access tokens as Bearer only; the Gitea
	// routes as Gitea does.
	// Both are Latchkey's code-hosting resource (RFC 8707).
	code := resource.Code(cfg.Provider.Issuer())
	guard := access.New(access.Config{Tokens: cfg.Provider, Store: cfg.Store, Schemes: []access.Scheme{access.Bearer()},
		Resource: code, ResourceMetadata: resource.MetadataURL(code)})
	giteaGuard := access.New(access.Config{Tokens: cfg.Provider, Store: cfg.Store,
		Schemes:  []access.Scheme{access.Token(), access.Bearer(), access.Basic()},
		Resource: code, ResourceMetadata: resource.MetadataURL(code)})
	return &API{cfg: cfg, store: cfg.Store, guard: guard, giteaGuard: giteaGuard, log: cfg.Logger}
}

// bb is the prefix of the Bitbucket REST API; every route under it is
// served under bbVersioned too (bitbucketVersions).
const bb = "/rest/api/latest"

// bbVersioned is the prefix that Bitbucket Data Center serves the same
// REST API under, and that most clients (go-scm's stash driver, Jenkins)
// call.
const bbVersioned = "/rest/api/1.0"

// Mount registers the API routes. Every route under /rest/api/latest/ is
// registered under /rest/api/1.0/ as well, with the same handler, so both
// paths are in the route table.
func (a *API) Mount(mux routes.Mux) {
	mux = bitbucketVersions{mux}
	a.mountProjects(mux)
	a.mountRepos(mux)
	a.mountPermissions(mux)
	a.mountUsers(mux)
	a.mountAdmin(mux)
	a.mountGitea(mux)
	a.mountDeliveries(mux)
	mux.Handle("GET "+bb+"/application-properties", a.handle(public, a.applicationProperties))
	a.mountBitbucket(mux)
}

// bitbucketVersions registers each route whose path starts with
// /rest/api/latest/ twice: as given and under /rest/api/1.0/. Other
// routes pass through once.
type bitbucketVersions struct{ routes.Mux }

// Handle registers pattern, and its /rest/api/1.0/ twin if it has one.
func (m bitbucketVersions) Handle(pattern string, handler http.Handler) {
	m.Mux.Handle(pattern, handler)
	rt := routes.Parse(pattern)
	if rest, ok := strings.CutPrefix(rt.Path, bb+"/"); ok {
		rt.Path = bbVersioned + "/" + rest
		m.Mux.Handle(rt.String(), handler)
	}
}

// HandleFunc is Handle for a function.
func (m bitbucketVersions) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(handler))
}

// handlerFunc is an API handler: it gets the caller and returns a status
// and a JSON body (nil for none), or an error for the central renderer.
type handlerFunc func(r *http.Request, c *oauth.Caller) (int, any, error)

// route says how a handler is reached and how its errors look.
type route struct {
	anonymous bool           // requests without a token pass as the anonymous principal
	layout    dialect.Layout // the dialect whose error JSON the route answers with
	gitea     bool           // credentials in Gitea's forms (API.giteaGuard)
}

// Routes of each kind.
var (
	public        = route{anonymous: true, layout: dialect.Bitbucket()}
	authenticated = route{layout: dialect.Bitbucket()}
	giteaPublic   = route{anonymous: true, layout: dialect.Gitea(), gitea: true}
	giteaAuth     = route{layout: dialect.Gitea(), gitea: true}
)

// handle wraps h with the credential check and the error renderer.
func (a *API) handle(rt route, h handlerFunc) http.Handler {
	return a.wrap(rt, func(w http.ResponseWriter, r *http.Request, c *oauth.Caller) error {
		status, body, err := h(r, c)
		if err == nil {
			writeJSON(w, status, body)
		}
		return err
	})
}

// wrap is every API route's way in: it authenticates the request as rt
// says, names the user in X-AUSERNAME (as Bitbucket does), runs serve,
// which writes a success itself, and renders the error serve returns (or
// the credential check's) in rt's dialect.
func (a *API) wrap(rt route, serve func(w http.ResponseWriter, r *http.Request, c *oauth.Caller) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := a.caller(r, rt)
		if err == nil {
			if !caller.Anonymous() {
				w.Header().Set("X-AUSERNAME", caller.User.Username)
			}
			err = serve(w, r, caller)
		}
		if err != nil {
			a.writeError(w, r, rt, err)
		}
	})
}

// caller authenticates the request; a public route takes anonymous callers.
func (a *API) caller(r *http.Request, rt route) (*oauth.Caller, error) {
	if rt.anonymous {
		return a.guardOf(rt).AuthenticateOrAnonymous(r)
	}
	return a.guardOf(rt).Authenticate(r)
}

// guardOf is the Guard that reads the route's credentials.
func (a *API) guardOf(rt route) *access.Guard {
	if rt.gitea {
		return a.giteaGuard
	}
	return a.guard
}

// apiError is a resource error: a status and a message for the dialect's
// error JSON.
type apiError struct {
	status  int
	message string
	cause   error // what failed underneath, logged when status is 5xx; may be nil
}

func (e *apiError) Error() string { return e.message }

func notFound(msg string) error   { return &apiError{status: http.StatusNotFound, message: msg} }
func badRequest(msg string) error { return &apiError{status: http.StatusBadRequest, message: msg} }
func conflict(msg string) error   { return &apiError{status: http.StatusConflict, message: msg} }
func forbidden(msg string) error  { return &apiError{status: http.StatusForbidden, message: msg} }

// fromAdmin turns an error of package admin into a resource error: its
// message is fit to show, admin.Status picks the status. Other errors pass
// through to the central renderer.
func fromAdmin(err error) error {
	var ae *admin.Error
	status := admin.Status(err)
	if status == 0 || !errors.As(err, &ae) {
		return err
	}
	return &apiError{status: status, message: ae.Message, cause: err}
}

// writeError answers err: a resource error with its status, anything else
// as package access says (RFC 6750's error JSON for authentication and
// scope errors, the dialect's error JSON otherwise).
func (a *API) writeError(w http.ResponseWriter, r *http.Request, rt route, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.status >= 500 {
			a.log.Error("api request failed", "path", r.URL.Path, "error", cmp.Or(ae.cause, err))
		}
		writeJSON(w, ae.status, a.errorBody(rt, ae.message))
		return
	}
	ans := a.guardOf(rt).Answer(err)
	if ans.Status >= 500 {
		a.log.Error("api request failed", "path", r.URL.Path, "error", err)
	}
	if ans.Bearer != nil {
		ans.WriteJSON(w)
		return
	}
	writeJSON(w, ans.Status, a.errorBody(rt, words(ans)))
}

func (a *API) errorBody(rt route, msg string) any { return rt.layout.ErrorBody(a.cfg.BaseURL, msg) }

// withHeaders is a body that carries response headers too (Gitea's paging).
type withHeaders struct {
	header http.Header
	body   any
}

// writeJSON writes body as JSON; a nil body writes the status alone.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Cache-Control", "no-store")
	if wh, ok := body.(withHeaders); ok {
		for k, v := range wh.header {
			w.Header()[k] = v
		}
		body = wh.body
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// single returns the one value of query parameter key ("" when absent),
// and refuses it given more than once: a request that changes access must
// not mean one thing to us and another to a proxy that read the other
// value.
func single(r *http.Request, key string) (string, error) {
	if vs := r.URL.Query()[key]; len(vs) > 1 {
		return "", badRequest("Give " + key + " once, not " + strconv.Itoa(len(vs)) + " times.")
	}
	return r.URL.Query().Get(key), nil
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// decodeJSON reads a JSON request body into v. The body must be declared
// as JSON (415 otherwise): the API takes no forms.
func decodeJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &apiError{status: http.StatusUnsupportedMediaType, message: "The request body must be application/json."}
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return badRequest(jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("The request body holds more than one JSON value.")
	}
	return nil
}

// jsonProblem says what is wrong with a JSON body in the client's terms,
// without the decoder's Go type names.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("The field %q has the wrong type (%s given).", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("The request body has the wrong type (%s given); an object is expected.", typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntaxErr.Offset)
	case errors.As(err, &tooBig):
		return fmt.Sprintf("The request body is larger than %d bytes.", maxBody)
	}
	return "The request body is not valid JSON."
}
