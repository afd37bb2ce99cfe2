package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"latchkey/internal/config"
	"latchkey/internal/routes"
	"latchkey/internal/server"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
	"latchkey/internal/web"
)

// newNode builds a node on a fresh SQLite database with extra routes, and
// returns server.New's answer.
func newNode(t *testing.T, st store.Store, dir string, extra func(*web.Router, routes.Mux)) (*server.Server, error) {
	cfg := config.Config{BaseURL: "http://127.0.0.1:9", DataDir: dir, DB: filepath.Join(dir, "latchkey.db"),
		AccessTokenTTL: time.Hour, RefreshTokenTTL: time.Hour, CodeTTL: time.Minute, SessionTTL: time.Hour}
	return server.New(context.Background(), cfg, st, testkit.Logger(), server.Options{Routes: extra})
}

func openStore(t *testing.T) (store.Store, string) {
	dir := t.TempDir()
	st, err := backend.Open(context.Background(), filepath.Join(dir, "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

func noPage(http.ResponseWriter, *http.Request) error { return nil }

func noAPI(http.ResponseWriter, *http.Request) {}

// TestNewRefusesAPathBothMuxesServe: a path served by the page router and
// by the API mux is a start-up error, whichever side came second and
// whatever the methods, because requests for it would all go to the pages.
func TestNewRefusesAPathBothMuxesServe(t *testing.T) {
	st, dir := openStore(t)
	for name, extra := range map[string]func(*web.Router, routes.Mux){
		"a page on an API path":             func(p *web.Router, _ routes.Mux) { p.HandleFunc("GET /rest/api/latest/projects", noPage) },
		"a page form on a GET API path":     func(p *web.Router, _ routes.Mux) { p.HandleFunc("POST /healthz", noPage) },
		"a page under an API wildcard":      func(p *web.Router, _ routes.Mux) { p.HandleFunc("GET /api/v1/repos/x/{y}", noPage) },
		"an API route on a page path":       func(_ *web.Router, a routes.Mux) { a.HandleFunc("DELETE /admin/users/{id}", noAPI) },
		"an API route on a dialect's page":  func(_ *web.Router, a routes.Mux) { a.HandleFunc("/login/oauth/authorize", noAPI) },
		"an API prefix over the user pages": func(_ *web.Router, a routes.Mux) { a.HandleFunc("/user/", noAPI) },
	} {
		t.Run(name, func(t *testing.T) {
			srv, err := newNode(t, st, dir, extra)
			if err == nil || srv != nil {
				t.Fatalf("server.New = %v, %v; want a refusal", srv, err)
			}
			if !strings.Contains(err.Error(), "serve the same path") {
				t.Fatalf("server.New: %v; want it to say the path is served twice", err)
			}
		})
	}
}

// TestRoutesListsEveryMux: the route list holds the pages (Pages', the
// dialects' authorization endpoints) marked as pages, and the API mux's
// routes (REST API, git, OAuth endpoints, health) not.
func TestRoutesListsEveryMux(t *testing.T) {
	st, dir := openStore(t)
	srv, err := newNode(t, st, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	list := srv.Routes()
	for pattern, page := range map[string]bool{
		"POST /login": true, "GET /rest/oauth2/latest/authorize": true, "GET /login/oauth/authorize": true,
		"POST /admin/users/{user}/permissions": true, "GET /static/": true,
		"GET /rest/api/latest/projects": false, "POST /scm/{project}/{repo}/{service}": false,
		"/login/oauth/access_token": false, "GET /healthz": false, "GET /login/oauth/userinfo": false,
	} {
		want := server.Route{Route: routes.Parse(pattern), Page: page}
		if !slices.Contains(list, want) {
			t.Errorf("Routes() lacks %+v", want)
		}
	}
}
