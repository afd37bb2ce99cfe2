// Package testkit starts real Latchkey nodes for tests: a real HTTP server
// (httptest) on a real database (a fresh SQLite file, or PostgreSQL), an
// adjustable clock, helpers to create users, clients, projects and
// repositories through the same admin operations the command line uses, and
// a scripted browser that logs in and answers the consent page over HTTP.
package testkit

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/gitserve"
	"latchkey/internal/oidc"
	"latchkey/internal/routes"
	"latchkey/internal/server"
	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/web"
)

// Clock is a test clock: real time plus an offset that tests advance.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the shifted current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Env is one running node with its database.
type Env struct {
	T      testing.TB
	URL    string
	Store  store.Store
	Server *server.Server
	Clock  *Clock
	Config config.Config
	http   *httptest.Server
}

// Option adjusts the node's configuration before it starts.
type Option func(*config.Config)

// WithIDTokenAlg selects the ID-token signing algorithm.
func WithIDTokenAlg(alg string) Option { return func(c *config.Config) { c.IDTokenAlgorithm = alg } }

// WithPreregisteredClients sets the pre-registered well-known clients.
func WithPreregisteredClients(list string) Option {
	return func(c *config.Config) { c.PreregisteredClients = list }
}

// Keys returns a signing-key manager on the node's database and clock, as
// `latchkey keys rotate` builds one.
func (e *Env) Keys() *oidc.Keys {
	e.T.Helper()
	kek, err := e.Config.LoadKeyEncryptionKey()
	if err != nil {
		e.T.Fatalf("testkit: key-encryption key: %v", err)
	}
	keys, err := oidc.NewKeys(e.Store, kek, cmp.Or(e.Config.IDTokenAlgorithm, oidc.RS256), e.Clock.Now)
	if err != nil {
		e.T.Fatalf("testkit: keys: %v", err)
	}
	return keys
}

// Logger returns a logger for tests: silent unless LATCHKEY_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("LATCHKEY_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// New starts a node on a fresh SQLite database in t's temporary directory.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	return NewWithRoutes(t, nil, opts...)
}

// NewWithRoutes starts a node like New on which extra, if not nil,
// registers more routes after the node's own, the ordinary way: pages on
// the page router, the rest on the API mux (server.Options.Routes).
func NewWithRoutes(t testing.TB, extra func(pages *web.Router, apis routes.Mux), opts ...Option) *Env {
	t.Helper()
	return start(t, server.Options{Routes: extra}, Logger(), opts)
}

// NewWithServerOptions starts a node like New with more server options
// (OutboundRootCAs, say); Now is the Env's clock whatever so says.
func NewWithServerOptions(t testing.TB, so server.Options, opts ...Option) *Env {
	t.Helper()
	return start(t, so, Logger(), opts)
}

// NewWithLog starts a node like New that writes its log, as JSON lines,
// to w (a SyncBuffer, say), for tests of what is logged.
func NewWithLog(t testing.TB, w io.Writer, opts ...Option) *Env {
	t.Helper()
	return start(t, server.Options{}, slog.New(slog.NewJSONHandler(w, nil)), opts)
}

func start(t testing.TB, so server.Options, log *slog.Logger, opts []Option) *Env {
	t.Helper()
	ctx := context.Background()
	hs := httptest.NewUnstartedServer(nil)
	cfg := config.Config{
		BaseURL:              "http://" + hs.Listener.Addr().String(),
		DataDir:              t.TempDir(),
		AccessTokenTTL:       time.Hour,
		RefreshTokenTTL:      90 * 24 * time.Hour,
		CodeTTL:              time.Minute,
		SessionTTL:           time.Hour,
		ShutdownTimeout:      time.Second,
		PreregisteredClients: "git-credential-oauth,git-credential-manager,tea",
		Git: config.Git{IdleTimeout: config.DefaultGitIdleTimeout, MaxDuration: config.DefaultGitMaxDuration,
			MaxProcesses: config.DefaultGitMaxProcesses, MaxProcessesPerCaller: config.DefaultGitMaxProcessesPerCaller,
			MaxPushSize: config.DefaultGitMaxPushSize},
	}
	cfg.DB = filepath.Join(cfg.DataDir, "latchkey.db")
	for _, o := range opts {
		o(&cfg)
	}
	st, err := backend.Open(ctx, cfg.DSN())
	if err != nil {
		t.Fatalf("testkit: open store: %v", err)
	}
	clock := &Clock{}
	so.Now = clock.Now
	srv, err := server.New(ctx, cfg, st, log, so)
	if err != nil {
		t.Fatalf("testkit: new server: %v", err)
	}
	hs.Config.Handler = srv.Handler()
	if cfg.SecureCookies() {
		hs.StartTLS() // an https base URL (an Option set it) is served over TLS
	} else {
		hs.Start()
	}
	t.Cleanup(func() {
		hs.Close()
		st.Close()
	})
	return &Env{T: t, URL: hs.URL, Store: st, Server: srv, Clock: clock, Config: cfg, http: hs}
}

// HTTPClient returns a client that trusts the node's certificate when it
// serves TLS (an https base URL), and follows no redirects.
func (e *Env) HTTPClient() *http.Client {
	return &http.Client{Transport: e.http.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// User creates a user with the given password and global and other permissions.
func (e *Env) User(username, password string) store.User {
	e.T.Helper()
	u, _, err := admin.CreateUser(context.Background(), e.Store, admin.NewUser{Username: username, Email: username + "@example.com", Password: password}, e.Clock.Now())
	if err != nil {
		e.T.Fatalf("testkit: create user: %v", err)
	}
	return u
}

// Grant gives a user a permission; target as on the command line.
func (e *Env) Grant(username string, target admin.Target, permission string) {
	e.T.Helper()
	if err := admin.GrantPermission(context.Background(), e.Store, admin.Subject{Username: username}, target, permission); err != nil {
		e.T.Fatalf("testkit: grant: %v", err)
	}
}

// GrantClient gives a client's service identity a permission.
func (e *Env) GrantClient(clientID string, target admin.Target, permission string) {
	e.T.Helper()
	if err := admin.GrantPermission(context.Background(), e.Store, admin.Subject{ClientID: clientID}, target, permission); err != nil {
		e.T.Fatalf("testkit: grant client: %v", err)
	}
}

// Revoke takes a permission away.
func (e *Env) Revoke(username string, target admin.Target, permission string) {
	e.T.Helper()
	if err := admin.RevokePermission(context.Background(), e.Store, admin.Subject{Username: username}, target, permission); err != nil {
		e.T.Fatalf("testkit: revoke: %v", err)
	}
}

// Client registers a client and returns its ID and secret.
func (e *Env) Client(nc admin.NewClient) (string, string) {
	e.T.Helper()
	if nc.Name == "" {
		nc.Name = "Test App"
	}
	c, secret, err := admin.CreateClient(context.Background(), e.Store, nc, e.Clock.Now())
	if err != nil {
		e.T.Fatalf("testkit: create client: %v", err)
	}
	return c.ID, secret
}

// Repos returns the node's git repositories on disk.
func (e *Env) Repos() *gitserve.Repos { return gitserve.NewRepos(e.Config.ReposDir()) }

// Project creates a project.
func (e *Env) Project(key string, public bool) store.Project {
	e.T.Helper()
	p, err := admin.CreateProject(context.Background(), e.Store, key, key+" project", public, e.Clock.Now())
	if err != nil {
		e.T.Fatalf("testkit: create project: %v", err)
	}
	return p
}

// Repo creates a repository.
func (e *Env) Repo(projectKey, slug string, public bool) store.Repo {
	e.T.Helper()
	r, err := admin.CreateRepo(context.Background(), e.Store, e.Repos(),
		admin.NewRepo{ProjectKey: projectKey, Slug: slug, Public: public}, e.Clock.Now())
	if err != nil {
		e.T.Fatalf("testkit: create repo: %v", err)
	}
	return r
}
