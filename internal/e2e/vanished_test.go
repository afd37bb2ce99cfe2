package e2e

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to drop a database
	_ "modernc.org/sqlite"             // the "sqlite" driver, to rename tables

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
)

// TestVanishedDatabaseIsUnavailable takes the database away under a running
// node (SQLite: its tables renamed; PostgreSQL: the database dropped) and
// brings it back. While it is gone, the API, the token endpoint and
// /readyz answer 503 with Retry-After, never 500 or "ready"; once it is
// back, the node is ready again.
func TestVanishedDatabaseIsUnavailable(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		n := vanishingNode(t)
		db, err := sql.Open("sqlite", n.env.Config.DSN()+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tables := []string{"tokens", "clients", "schema_migrations"}
		rename := func(suffix, back string) {
			for _, table := range tables {
				if _, err := db.Exec("ALTER TABLE " + table + back + " RENAME TO " + table + suffix); err != nil {
					t.Fatal(err)
				}
			}
		}
		tok := n.token(t, n.env.User("alice", "alice-password"), "PUBLIC_REPOS")
		wantVanished(t, n, tok, func() { rename("_gone", "") }, func() { rename("", "_gone") }, true)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testkit.FreshPostgres(t)
		n := vanishingNode(t, func(c *config.Config) { c.DB, c.KeyEncryptionKey = dsn, testkit.TestKeyEncryptionKey })
		u, _ := url.Parse(dsn)
		name := strings.TrimPrefix(u.Path, "/")
		adminDB, err := sql.Open("pgx", os.Getenv(testkit.PostgresEnv))
		if err != nil {
			t.Fatal(err)
		}
		defer adminDB.Close()
		exec := func(q string) {
			if _, err := adminDB.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		drop := func() { exec("DROP DATABASE " + name + " WITH (FORCE)") }
		restore := func() {
			exec("CREATE DATABASE " + name)
			st, err := backend.Open(context.Background(), dsn) // migrates
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
		}
		tok := n.token(t, n.env.User("alice", "alice-password"), "PUBLIC_REPOS")
		wantVanished(t, n, tok, drop, restore, false)
	})
}

func vanishingNode(t *testing.T, opts ...testkit.Option) *rsNode {
	env := testkit.New(t, opts...)
	id, secret := env.Client(admin.NewClient{Name: "App", RedirectURIs: []string{redirectURI}, Scopes: "PUBLIC_REPOS"})
	return &rsNode{env: env, clientID: id, secret: secret}
}

// wantVanished checks the node's answers before, while and after the
// database is gone. keptData says whether the restored database still
// holds the token (a renamed table) or is empty (a recreated database).
func wantVanished(t *testing.T, n *rsNode, tok string, vanish, restore func(), keptData bool) {
	t.Helper()
	requests := map[string]func() *http.Response{
		"/readyz": func() *http.Response { return do(t, http.MethodGet, n.env.URL+"/readyz", "", nil) },
		"API": func() *http.Response {
			return do(t, http.MethodGet, n.env.URL+"/rest/api/latest/projects", "Bearer "+tok, nil)
		},
		"token endpoint": func() *http.Response {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {n.clientID}, "client_secret": {n.secret}}
			return do(t, http.MethodPost, n.env.URL+"/rest/oauth2/latest/token", "", form)
		},
	}
	want := func(what string, ok func(status int) bool) {
		t.Helper()
		for name, req := range requests {
			resp := req()
			resp.Body.Close()
			if !ok(resp.StatusCode) {
				t.Errorf("%s: %s answered %d", what, name, resp.StatusCode)
			}
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: %s answered 503 without Retry-After", what, name)
			}
		}
	}
	want("before", func(s int) bool { return s < 500 })
	vanish()
	want("database gone", func(s int) bool { return s == http.StatusServiceUnavailable })
	restore()
	want("database back", func(s int) bool { return s < 500 })
	if keptData {
		resp := requests["API"]()
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("API with the old token after the restore: %d", resp.StatusCode)
		}
	}
}

// do sends one request; form, if not nil, is the POST body.
func do(t *testing.T, method, target, authorization string, form url.Values) *http.Response {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
