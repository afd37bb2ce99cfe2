// Package api serves the protected REST resources, Bitbucket-shaped under
// /rest/api/latest/ and Gitea-shaped under /api/v1/, behind one bearer
// check. Every handler receives the caller (token scopes and the user's
// permissions as they are now) and asks package scope what it may do.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Config is what the API needs.
type Config struct {
	Provider *oauth.Provider
	Store    store.Store
	BaseURL  string
	Version  string
	Logger   *slog.Logger
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

// Mount registers the API routes.
func (a *API) Mount(mux *http.ServeMux) {
	mux.Handle("GET /rest/api/latest/application-properties", a.handle(true, a.applicationProperties))
	mux.Handle("GET /rest/api/latest/projects", a.handle(true, a.listProjects))
	mux.Handle("GET /rest/api/latest/projects/{key}/repos", a.handle(true, a.listRepos))
	mux.Handle("GET /api/v1/user", a.handle(false, a.giteaUser))
}

// handlerFunc is an API handler: it gets the caller and returns a status
// and a JSON body, or an error for the central renderer.
type handlerFunc func(r *http.Request, c *oauth.Caller) (int, any, error)

// handle wraps h with the bearer check. allowAnonymous lets requests
// without a token through as the anonymous principal (public resources).
func (a *API) handle(allowAnonymous bool, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := a.caller(r, allowAnonymous)
		if err != nil {
			a.writeAuthError(w, err)
			return
		}
		if !caller.Anonymous() {
			w.Header().Set("X-AUSERNAME", caller.User.Username)
		}
		status, body, err := h(r, caller)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, status, body)
	})
}

func (a *API) caller(r *http.Request, allowAnonymous bool) (*oauth.Caller, error) {
	token, err := oauth.BearerToken(r)
	if errors.Is(err, oauth.ErrNoToken) && allowAnonymous {
		return &oauth.Caller{Principal: scope.Anonymous()}, nil
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

// apiError is a resource error: a status and a message for Bitbucket's
// error JSON ({"errors":[{"message":...}]}).
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func notFound(msg string) error { return &apiError{status: http.StatusNotFound, message: msg} }

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var oe *oauth.Error
	switch {
	case errors.As(err, &oe):
		oauth.WriteBearerError(w, oe)
	case errors.As(err, &ae):
		writeJSON(w, ae.status, errorsBody(ae.message))
	case errors.Is(err, store.ErrUnavailable):
		a.log.Error("api request failed", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, errorsBody("The service is temporarily unavailable. Try again later."))
	default:
		a.log.Error("api request failed", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorsBody("The server could not complete the request."))
	}
}

type errorEntry struct {
	Context       *string `json:"context"`
	Message       string  `json:"message"`
	ExceptionName *string `json:"exceptionName"`
}

func errorsBody(msg string) map[string][]errorEntry {
	return map[string][]errorEntry{"errors": {{Message: msg}}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// page is Bitbucket's paged response.
type page[T any] struct {
	Size          int  `json:"size"`
	Limit         int  `json:"limit"`
	IsLastPage    bool `json:"isLastPage"`
	Values        []T  `json:"values"`
	Start         int  `json:"start"`
	NextPageStart *int `json:"nextPageStart,omitempty"`
}

// paginate cuts items by the start and limit query parameters
// (limit 25 by default, at most 1000).
func paginate[T any](r *http.Request, items []T) (page[T], error) {
	start, err := queryInt(r, "start", 0)
	if err != nil {
		return page[T]{}, err
	}
	limit, err := queryInt(r, "limit", 25)
	if err != nil {
		return page[T]{}, err
	}
	limit = min(max(limit, 1), 1000)
	start = min(start, len(items))
	end := min(start+limit, len(items))
	p := page[T]{Values: items[start:end], Start: start, Limit: limit, Size: end - start, IsLastPage: end == len(items)}
	if p.Values == nil {
		p.Values = []T{}
	}
	if !p.IsLastPage {
		p.NextPageStart = &end
	}
	return p, nil
}

func queryInt(r *http.Request, name string, def int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, &apiError{status: http.StatusBadRequest, message: name + " must be a non-negative integer"}
	}
	return n, nil
}

// visibleProject loads a project the caller may see. A project the caller
// may not see answers exactly like one that does not exist.
func (a *API) visibleProject(ctx context.Context, c *oauth.Caller, key string) (store.Project, error) {
	p, err := a.store.GetProjectByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, notFound("Project " + key + " does not exist.")
	}
	if err != nil {
		return store.Project{}, err
	}
	if c.Principal.ProjectLevel(p) >= scope.Read {
		return p, nil
	}
	repos, err := a.visibleRepos(ctx, c, p)
	if err != nil {
		return store.Project{}, err
	}
	if len(repos) == 0 {
		return store.Project{}, notFound("Project " + key + " does not exist.")
	}
	return p, nil
}

// visibleRepos lists the repositories of p that the caller may read.
func (a *API) visibleRepos(ctx context.Context, c *oauth.Caller, p store.Project) ([]store.Repo, error) {
	repos, err := a.store.ListRepos(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	var out []store.Repo
	for _, r := range repos {
		if c.Principal.RepoLevel(r, p) >= scope.Read {
			out = append(out, r)
		}
	}
	return out, nil
}
