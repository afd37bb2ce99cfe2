// Package api serves the protected REST resources, Bitbucket-shaped under
// /rest/api/latest/ and Gitea-shaped under /api/v1/, behind one bearer
// check. Every handler receives the caller (token scopes and the user's
// permissions as they are now) and asks package scope for a verdict; it
// never compares scopes or permissions itself.
//
// Statuses: 401 without a token (or with an invalid one) on anything that
// is not public; 404 for a project or repository the caller may not see,
// exactly as for one that does not exist; 403 with RFC 6750's
// insufficient_scope when the token's scopes are too low; 403 with the
// dialect's error JSON when the scopes would do but the user may not.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/routes"
	"latchkey/internal/store"
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
}

// KeyRotator rotates the signing keys (oidc.Keys).
type KeyRotator interface {
	Rotate(ctx context.Context, publishAhead, maxTokenLifetime time.Duration) (string, error)
}

// API serves the REST resources.
type API struct {
	cfg   Config
	store store.Store
	log   *slog.Logger
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &API{cfg: cfg, store: cfg.Store, log: cfg.Logger}
}

// bb is the prefix of the Bitbucket REST API.
const bb = "/rest/api/latest"

// Mount registers the API routes.
func (a *API) Mount(mux routes.Mux) {
	a.mountProjects(mux)
	a.mountRepos(mux)
	a.mountPermissions(mux)
	a.mountUsers(mux)
	a.mountAdmin(mux)
	a.mountGitea(mux)
	mux.Handle("GET "+bb+"/application-properties", a.handle(public, a.applicationProperties))
}

// handlerFunc is an API handler: it gets the caller and returns a status
// and a JSON body (nil for none), or an error for the central renderer.
type handlerFunc func(r *http.Request, c *oauth.Caller) (int, any, error)

// route says how a handler is reached and how its errors look.
type route struct {
	anonymous bool // requests without a token pass as the anonymous principal
	gitea     bool // Gitea's error JSON instead of Bitbucket's
}

// Routes of each kind.
var (
	public        = route{anonymous: true}
	authenticated = route{}
	giteaPublic   = route{anonymous: true, gitea: true}
	giteaAuth     = route{gitea: true}
)

// handle wraps h with the bearer check and the error renderer.
func (a *API) handle(rt route, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := a.caller(r, rt.anonymous)
		if err != nil {
			a.writeAuthError(w, err)
			return
		}
		if !caller.Anonymous() {
			w.Header().Set("X-AUSERNAME", caller.User.Username)
		}
		status, body, err := h(r, caller)
		if err != nil {
			a.writeError(w, r, rt, err)
			return
		}
		writeJSON(w, status, body)
	})
}

func (a *API) caller(r *http.Request, allowAnonymous bool) (*oauth.Caller, error) {
	token, err := oauth.BearerToken(r)
	if errors.Is(err, oauth.ErrNoToken) && allowAnonymous {
		return anonymous(), nil
	}
	if err != nil {
		return nil, err
	}
	return a.cfg.Provider.AuthenticateToken(r.Context(), token)
}

// writeAuthError answers a failed bearer check per RFC 6750; a database
// outage becomes 503 server_error (oauth.AsError).
func (a *API) writeAuthError(w http.ResponseWriter, err error) {
	if e := oauth.AsError(err); e.Status >= 500 {
		a.log.Error("bearer check failed", "error", err)
	}
	oauth.WriteBearerError(w, err)
}

// apiError is a resource error: a status and a message for the dialect's
// error JSON.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func notFound(msg string) error   { return &apiError{status: http.StatusNotFound, message: msg} }
func badRequest(msg string) error { return &apiError{status: http.StatusBadRequest, message: msg} }
func conflict(msg string) error   { return &apiError{status: http.StatusConflict, message: msg} }
func forbidden(msg string) error  { return &apiError{status: http.StatusForbidden, message: msg} }

// fromAdmin turns an error of package admin into a resource error: its
// message is fit to show, its kind picks the status.
func fromAdmin(err error) error {
	var ae *admin.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case errors.Is(err, admin.ErrInvalid):
		return badRequest(ae.Message)
	case errors.Is(err, store.ErrAlreadyExists):
		return conflict(ae.Message)
	case errors.Is(err, store.ErrNotFound):
		return notFound(ae.Message)
	}
	return err
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, rt route, err error) {
	var ae *apiError
	var oe *oauth.Error
	switch {
	case errors.Is(err, oauth.ErrNoToken), errors.As(err, &oe):
		a.writeAuthError(w, err)
	case errors.As(err, &ae):
		writeJSON(w, ae.status, a.errorBody(rt, ae.message))
	case errors.Is(err, store.ErrInvalidText):
		writeJSON(w, http.StatusBadRequest, a.errorBody(rt, "A value holds a NUL byte or invalid UTF-8."))
	case errors.Is(err, store.ErrUnavailable):
		a.log.Error("api request failed", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, a.errorBody(rt, "The service is temporarily unavailable. Try again later."))
	default:
		a.log.Error("api request failed", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, a.errorBody(rt, "The server could not complete the request."))
	}
}

func (a *API) errorBody(rt route, msg string) any {
	if rt.gitea {
		return giteaError{Message: msg, URL: a.cfg.BaseURL + "/api/swagger"}
	}
	return errorsBody(msg)
}

type errorEntry struct {
	Context       *string `json:"context"`
	Message       string  `json:"message"`
	ExceptionName *string `json:"exceptionName"`
}

// errorsBody is Bitbucket's error JSON.
func errorsBody(msg string) map[string][]errorEntry {
	return map[string][]errorEntry{"errors": {{Message: msg}}}
}

// giteaError is Gitea's error JSON.
type giteaError struct {
	Message string `json:"message"`
	URL     string `json:"url"`
}

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
