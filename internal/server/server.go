// Package server assembles a Latchkey node: the protocol core, both
// dialects, the pages and the API on their muxes, the middleware every
// response passes through, health endpoints and graceful shutdown.
//
// Pages and the JSON API are kept on separate muxes, and a path that both
// serve is refused at start-up. Pages are wrapped in cross-origin
// protection and get a strict CSP; the token endpoint and the API are not,
// because single-page apps call them across origins. The server lists
// every route it serves (Routes), for tests that walk them all.
package server

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/api"
	"latchkey/internal/config"
	"latchkey/internal/dialect"
	"latchkey/internal/gitrepo"
	"latchkey/internal/gitserve"
	"latchkey/internal/identity"
	"latchkey/internal/logout"
	"latchkey/internal/mail"
	"latchkey/internal/mcp"
	"latchkey/internal/mfa"
	"latchkey/internal/oauth"
	"latchkey/internal/oidc"
	"latchkey/internal/outbound"
	"latchkey/internal/ratelimit"
	"latchkey/internal/register"
	"latchkey/internal/resource"
	"latchkey/internal/routes"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/web"
	"latchkey/internal/webhook"
)

// Version is reported by the API.
var Version = "0.1.0"

// Server is one Latchkey node.
type Server struct {
	cfg      config.Config
	store    store.Store
	log      *slog.Logger
	Provider *oauth.Provider
	handler  http.Handler
	metrics  *metrics
	routes   []Route
	emails   *admin.EmailChanges
	// hookSecrets seals and opens webhook secrets.
	hookSecrets *webhook.Secrets
	// hooks turns pushes into webhook deliveries and sends them.
	hooks *webhook.Hooks
	// logouts queues and sends back-channel logout tokens.
	logouts *logout.Service
	// identity is the node's identity sources.
	identity *identity.Service
}

// Options are test hooks; zero values mean production behaviour.
type Options struct {
	Now func() time.Time
	// Routes, if set, registers more routes after the node's own, the
	// ordinary way: pages on the page router, the rest on the API mux.
	Routes func(pages *web.Router, apis routes.Mux)
	// OutboundRootCAs, if set, are the certificate authorities that client
	// ID metadata documents are verified against instead of the system's
	// (tests). No flag sets it.
	OutboundRootCAs *x509.CertPool
}

// Route is a route the node serves, and whether it is a page (served by
// the page router, behind cross-origin and CSRF protection) or not.
type Route struct {
	routes.Route
	Page bool
}

// New wires a node on top of an open store.
//
// The base URL is normalized first (config.NormalizeBaseURL), so that the
// issuer, Secure cookies and HSTS agree however it was spelled.
func New(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger, opts Options) (*Server, error) {
	cfg.NormalizeBaseURL()
	wellKnown, err := admin.ParsePreregistered(cfg.PreregisteredClients)
	if err != nil {
		return nil, err
	}
	registration, err := registrationConfig(cfg)
	if err != nil {
		return nil, err
	}
	idp, keys, err := newOIDC(ctx, cfg, st, log, opts.Now)
	if err != nil {
		return nil, err
	}
	clients, err := newClientSource(cfg, st, log, opts)
	if err != nil {
		return nil, err
	}
	provider := oauth.New(oauth.Config{
		Store: st, Issuer: cfg.Issuer(), Logger: log, Now: opts.Now, IDTokens: idp, AccessTokens: keys, Clients: clients,
		AccessTokenTTL: cfg.AccessTokenTTL, RefreshTokenTTL: cfg.RefreshTokenTTL, CodeTTL: cfg.CodeTTL,
		RefreshGrace: cfg.RefreshGracePeriod,
	})
	if err := admin.SyncWellKnownClients(ctx, st, wellKnown, provider.Now()); err != nil {
		return nil, err
	}
	emails, err := newEmailChanges(cfg, st, provider.Now)
	if err != nil {
		return nil, err
	}
	logouts, err := newLogout(cfg, st, keys, log, opts)
	if err != nil {
		return nil, err
	}
	factors, err := newFactors(cfg, st, provider.Now)
	if err != nil {
		return nil, err
	}
	sources, err := newIdentity(cfg, st, log, logouts, provider.Now, opts)
	if err != nil {
		return nil, err
	}
	pages, err := web.New(ctx, web.Config{
		Provider: provider, Store: st, SecureCookies: cfg.SecureCookies(), SessionTTL: cfg.SessionTTL, Logger: log,
		AllowInsecureRedirects: cfg.SkipRedirectURLHTTPS, Emails: emails,
		Factors: factors, Logout: logouts, RequireSecondFactor: cfg.RequireSecondFactor, Identity: sources,
	})
	if err != nil {
		return nil, err
	}
	hookSecrets, err := newHookSecrets(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, log: log, Provider: provider, metrics: newMetrics(), emails: emails,
		hookSecrets: hookSecrets, logouts: logouts, identity: sources}
	if s.hooks, err = newHooks(cfg, st, hookSecrets, log, provider.Now); err != nil {
		return nil, err
	}
	pageRouter := pages.NewRouter()
	pages.Mount(pageRouter)
	authorize := dialect.Authorize{Handler: pages.Authorize(), Refuse: pages.RateLimited}
	limits := newLimits(cfg, st, log, opts.Now)
	apiMux := routes.NewTable()
	crossOrigin := http.NewCrossOriginProtection()
	for _, layout := range dialect.All() {
		layout.Mount(pageRouter, apiMux, provider, authorize, limits)
		// The end-session endpoint takes relying parties' cross-site
		// posts by design (web.Pages.EndSession says why that is safe).
		pageRouter.HandleFunc("GET "+layout.EndSessionPath, pages.EndSession())
		pageRouter.HandleCrossSite("POST "+layout.EndSessionPath, pages.EndSession())
		crossOrigin.AddInsecureBypassPattern("POST " + layout.EndSessionPath)
	}
	s.mountAPI(apiMux, provider, idp, keys, limits)
	registration.Store, registration.Provider, registration.Limits, registration.Logger = st, provider, limits, log
	register.Mount(apiMux, registration)
	if opts.Routes != nil {
		opts.Routes(pageRouter, apiMux)
	}
	if s.routes, err = disjoint(pageRouter, apiMux); err != nil {
		return nil, err
	}
	crossOrigin.SetDenyHandler(pages.CrossOriginDenied())
	protectedPages := pageHeaders(crossOrigin.Handler(pageRouter))
	trusted, err := parseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s.handler = s.recoverPanics(clientAddress(trusted, readScope(s.logRequests(commonHeaders(cfg.SecureCookies(), route(pageRouter, protectedPages, cors(apiMux)))))))
	return s, nil
}

// mountAPI registers on the API mux what is not a page and not a
// dialect's: the REST API, git over HTTP, the OpenID Connect endpoints,
// the device authorization endpoint, health and metrics.
func (s *Server) mountAPI(apis *routes.Table, provider *oauth.Provider, idp *oidc.Provider, keys *oidc.Keys, limits *ratelimit.Guard) {
	repos := gitserve.NewRepos(s.cfg.ReposDir())
	api.New(api.Config{
		Provider: provider, Store: s.store, BaseURL: s.cfg.Issuer(), Version: Version, Logger: s.log,
		Repos: repos, Keys: keys, MaxTokenLifetime: s.cfg.AccessTokenTTL, Emails: s.emails,
		HookSecrets: s.hookSecrets,
	}).Mount(apis)
	g := s.cfg.Git
	gitserve.New(gitserve.Config{Provider: provider, Store: s.store, Repos: repos, Logger: s.log, Limits: gitserve.Limits{
		IdleTimeout: g.IdleTimeout, MaxDuration: g.MaxDuration, MaxProcesses: g.MaxProcesses,
		MaxProcessesPerCaller: g.MaxProcessesPerCaller, MaxPushSize: g.MaxPushSize,
	}, OnPush: s.hooks.Fire}).Mount(apis)
	if err := gitserve.Available(""); err != nil {
		s.log.Warn("git over HTTP will fail until git is installed", "error", err)
	}
	idp.Mount(apis, provider)
	resource.Mount(apis, resource.Documents(s.cfg.Issuer(), scope.Known(), resource.MCPScopes))
	mcp.New(mcp.Config{Tokens: provider, Store: s.store, Repos: repos, Issuer: s.cfg.Issuer(), Version: Version, Logger: s.log}).Mount(apis)
	apis.Handle(oauth.DeviceCodePath, dialect.Limit(limits, "device", provider.DeviceAuthorizationHandler()))
	apis.HandleFunc("GET /healthz", s.healthz)
	apis.HandleFunc("GET /readyz", s.readyz)
	apis.Handle("GET /metrics", s.metrics.handler())
}

// registrationConfig reads the dynamic client registration settings.
func registrationConfig(cfg config.Config) (register.Config, error) {
	policy, err := register.ParsePolicy(cfg.Registration)
	if err != nil {
		return register.Config{}, err
	}
	scopes, err := register.ParseScopes(cmp.Or(cfg.RegistrationScopes, register.DefaultScopes))
	if err != nil {
		return register.Config{}, err
	}
	return register.Config{Issuer: cfg.Issuer(), Policy: policy,
		Rules: register.Rules{Scopes: scopes, AllowInsecureRedirects: cfg.SkipRedirectURLHTTPS}}, nil
}

// newFactors checks second factors, sealing TOTP keys under the
// key-encryption key.
func newFactors(cfg config.Config, st store.Store, now func() time.Time) (*mfa.Factors, error) {
	kek, err := cfg.LoadKeyEncryptionKey()
	if err != nil {
		return nil, err
	}
	return mfa.New(st, kek, now)
}

// newIdentity builds the node's identity sources: their secrets sealed
// under the key-encryption key; a source's change that ends sessions
// queues back-channel logout.
// Upstream providers are reached through the guarded outbound client:
// internal addresses only when --identity-allowed-internal-hosts names them.
func newIdentity(cfg config.Config, st store.Store, log *slog.Logger, logouts *logout.Service, now func() time.Time, opts Options) (*identity.Service, error) {
	kek, err := cfg.LoadKeyEncryptionKey()
	if err != nil {
		return nil, err
	}
	svc, err := identity.ForNode(st, kek, now, log, func(ctx context.Context, userID int64) error {
		return logouts.UserSignedOut(ctx, userID, "")
	})
	if err != nil {
		return nil, err
	}
	allow, err := outbound.ParseAllowList(cfg.IdentityAllowedInternalHosts)
	if err != nil {
		return nil, fmt.Errorf("--identity-allowed-internal-hosts: %w", err)
	}
	hc := outbound.New(outbound.Config{Allow: allow, Timeout: 10 * time.Second, MaxBody: 1 << 20, RootCAs: opts.OutboundRootCAs})
	return svc, svc.UseHTTP(hc.HTTPClient(), kek)
}

// newHookSecrets seals webhook secrets under the key-encryption key.
func newHookSecrets(cfg config.Config) (*webhook.Secrets, error) {
	kek, err := cfg.LoadKeyEncryptionKey()
	if err != nil {
		return nil, err
	}
	return webhook.NewSecrets(kek)
}

// newHooks builds the node's webhooks: deliveries go through the guarded
// outbound client, which reaches internal addresses only when
// --webhook-allowed-hosts names them.
func newHooks(cfg config.Config, st store.Store, secrets *webhook.Secrets, log *slog.Logger, now func() time.Time) (*webhook.Hooks, error) {
	w := cfg.Webhook
	allow, err := outbound.ParseAllowList(w.AllowedHosts)
	if err != nil {
		return nil, fmt.Errorf("--webhook-allowed-hosts: %w", err)
	}
	timeout := cmp.Or(w.Timeout, webhook.DefaultTimeout)
	repos := gitserve.NewRepos(cfg.ReposDir())
	return webhook.New(webhook.Config{
		Store: st, Secrets: secrets, BaseURL: cfg.Issuer(), RepoDir: repos.Path, Logger: log, Now: now,
		Client:  outbound.New(outbound.Config{Allow: allow, Timeout: timeout, MaxBody: webhook.MaxResponseBody}),
		Timeout: timeout, PollInterval: w.PollInterval, MaxAttempts: w.MaxAttempts, RetryBackoff: w.RetryBackoff,
	}), nil
}

// newLogout builds the node's logout service: logout tokens go through
// the guarded outbound client, which reaches internal addresses only when
// --backchannel-logout-allowed-hosts names them.
func newLogout(cfg config.Config, st store.Store, keys *oidc.Keys, log *slog.Logger, opts Options) (*logout.Service, error) {
	b := cfg.BackchannelLogout
	allow, err := outbound.ParseAllowList(b.AllowedHosts)
	if err != nil {
		return nil, fmt.Errorf("--backchannel-logout-allowed-hosts: %w", err)
	}
	return logout.New(logout.Config{
		Store: st, Keys: keys, Issuer: cfg.Issuer(), Now: opts.Now, Logger: log,
		Client:       outbound.New(outbound.Config{Allow: allow, Timeout: logout.DefaultTimeout, RootCAs: opts.OutboundRootCAs}),
		RetryBackoff: b.RetryBackoff, PollInterval: b.PollInterval,
	}), nil
}

// StartLogouts starts the node's back-channel logout worker; stop stops
// it and waits for the tokens it is sending to be recorded. Serve calls
// it; tests that serve the Handler themselves call it.
func (s *Server) StartLogouts(ctx context.Context) (stop func()) { return s.logouts.Start(ctx) }

// Logouts is the node's logout service: what ends sessions calls its
// SessionEnded and UserSignedOut (logout.Ender).
func (s *Server) Logouts() *logout.Service { return s.logouts }

// StartDirectorySync starts the periodic sync of the LDAP sources
// (identity.Service.RunSync; check 0: every minute); stop stops it and
// waits for a sync under way to end. Serve calls it.
func (s *Server) StartDirectorySync(ctx context.Context, check time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.identity.RunSync(ctx, check)
	}()
	return func() { cancel(); <-done }
}

// Identity is the node's identity sources.
func (s *Server) Identity() *identity.Service { return s.identity }

// StartWebhooks starts the node's webhook delivery worker; stop stops it
// and waits for the deliveries it is sending to be recorded (call it
// before closing the store). Serve calls it; tests that serve the
// Handler themselves call it to have deliveries sent.
func (s *Server) StartWebhooks(ctx context.Context) (stop func()) { return s.hooks.Start(ctx) }

// FireHooks stores the webhook deliveries of a push, as git over HTTP
// does after every push (webhook.Hooks.Fire): for tests and tools that
// report a push without running git.
func (s *Server) FireHooks(ctx context.Context, pusher *oauth.Caller, repo store.Repo, changes []gitrepo.Change) error {
	return s.hooks.Fire(ctx, pusher, repo, changes)
}

// newEmailChanges builds the self-service address changes: with the SMTP
// settings a mail sender, without them none (changes are then refused).
func newEmailChanges(cfg config.Config, st store.Store, now func() time.Time) (*admin.EmailChanges, error) {
	e := &admin.EmailChanges{Store: st, BaseURL: cfg.Issuer(), TTL: cmp.Or(cfg.EmailVerificationTTL, 24*time.Hour), Now: now}
	mc, err := cfg.MailConfig()
	if err != nil || mc == nil {
		return e, err
	}
	if e.Mailer, err = mail.New(*mc); err != nil {
		return nil, err
	}
	return e, nil
}

// newLimits builds the rate limits of the protocol endpoints: shared by
// every node through the database on PostgreSQL, in this process on
// SQLite (one process owns the file).
func newLimits(cfg config.Config, st store.Store, log *slog.Logger, now func() time.Time) *ratelimit.Guard {
	var limiter ratelimit.Limiter = ratelimit.NewMemory()
	if cfg.IsPostgres() {
		limiter = ratelimit.Shared{Store: st}
	}
	return ratelimit.New(ratelimit.Config{
		Limiter:    limiter,
		PerClient:  ratelimit.Rule{Limit: cfg.RateLimitPerClient, Window: cfg.RateLimitWindow},
		PerAddress: ratelimit.Rule{Limit: cfg.RateLimitPerAddress, Window: cfg.RateLimitWindow},
		Now:        now, Logger: log,
	})
}

// newOIDC loads the signing keys (creating the first one) and builds the
// OpenID Connect provider; it returns the keys too, for the system
// administration API.
func newOIDC(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger, now func() time.Time) (*oidc.Provider, *oidc.Keys, error) {
	kek, err := cfg.LoadKeyEncryptionKey()
	if err != nil {
		return nil, nil, err
	}
	keys, err := oidc.NewKeys(st, kek, cmp.Or(cfg.IDTokenAlgorithm, oidc.RS256), now)
	if err != nil {
		return nil, nil, err
	}
	if err := keys.EnsureKey(ctx); err != nil {
		return nil, nil, err
	}
	return oidc.New(oidc.Config{
		Store: st, Keys: keys, Issuer: cfg.Issuer(), TokenTTL: cfg.AccessTokenTTL, Now: now, Logger: log,
		Discovery: oidc.DiscoveryConfig{
			Gitea: dialect.Gitea().Endpoints(cfg.Issuer()), Bitbucket: dialect.Bitbucket().Endpoints(cfg.Issuer()),
			GrantTypes: oauth.GrantTypes(), ClientIDMetadataDocuments: !cfg.ClientMetadata.Off(),
			Registration: register.Endpoint(cfg.Issuer(), register.Policy(cfg.Registration)),
		},
	}), keys, nil
}

// Handler returns the node's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Routes lists every route the node serves, the pages first, each mux's
// in the order of registration.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// disjoint lists the routes of both muxes, or refuses a path that both
// serve (under any methods): route would send every request for it to the
// pages, so the API's handler would never run.
func disjoint(pages *web.Router, apis *routes.Table) ([]Route, error) {
	pageRoutes, apiRoutes := pages.Routes(), apis.Routes()
	if r, pattern, ok := routes.Overlap(pageRoutes, apis); ok {
		return nil, fmt.Errorf("server: page route %q and API route %q serve the same path", r, pattern)
	}
	if r, pattern, ok := routes.Overlap(apiRoutes, pages); ok {
		return nil, fmt.Errorf("server: API route %q and page route %q serve the same path", r, pattern)
	}
	all := make([]Route, 0, len(pageRoutes)+len(apiRoutes))
	for _, r := range pageRoutes {
		all = append(all, Route{Route: r, Page: true})
	}
	for _, r := range apiRoutes {
		all = append(all, Route{Route: r})
	}
	return all, nil
}

// route sends a request to the page router when one of its patterns
// matches, else to the API mux.
func route(pages *web.Router, pagesHandler, apiHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := pages.Handler(r); pattern != "" {
			pagesHandler.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz says whether this node can serve: its database answers and
// holds the schema this build expects (store.Store.Ping).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Serve listens on cfg.Listen until ctx is cancelled, then drains in-flight
// requests for at most the shutdown timeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.PprofListen != "" {
		stopPprof, err := s.startPprof(s.cfg.PprofListen)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	// The worker stops after the requests drained (a push still running
	// may store deliveries), and before the caller closes the store.
	stopHooks := s.StartWebhooks(context.WithoutCancel(ctx))
	defer stopHooks()
	stopLogouts := s.StartLogouts(context.WithoutCancel(ctx))
	defer stopLogouts()
	stopSync := s.StartDirectorySync(ctx, 0)
	defer stopSync()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining requests", "timeout", s.cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
