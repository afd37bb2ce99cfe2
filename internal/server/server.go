// Package server assembles a Latchkey node: the protocol core, both
// dialects, the pages and the API on their muxes, the middleware every
// response passes through, health endpoints and graceful shutdown.
//
// Pages and the JSON API are kept on separate muxes. Pages are wrapped in
// cross-origin protection and get a strict CSP; the token endpoint and the
// API are not, because single-page apps call them across origins.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/api"
	"latchkey/internal/config"
	"latchkey/internal/dialect/bitbucket"
	"latchkey/internal/dialect/gitea"
	"latchkey/internal/gitserve"
	"latchkey/internal/oauth"
	"latchkey/internal/oidc"
	"latchkey/internal/store"
	"latchkey/internal/web"
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
}

// Options are test hooks; zero values mean production behaviour.
type Options struct {
	Now func() time.Time
}

// New wires a node on top of an open store.
func New(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger, opts Options) (*Server, error) {
	wellKnown, err := admin.ParsePreregistered(cfg.PreregisteredClients)
	if err != nil {
		return nil, err
	}
	idp, keys, err := newOIDC(ctx, cfg, st, log, opts.Now)
	if err != nil {
		return nil, err
	}
	provider := oauth.New(oauth.Config{
		Store: st, Issuer: cfg.Issuer(), Logger: log, Now: opts.Now, IDTokens: idp,
		AccessTokenTTL: cfg.AccessTokenTTL, RefreshTokenTTL: cfg.RefreshTokenTTL, CodeTTL: cfg.CodeTTL,
	})
	if err := admin.SyncWellKnownClients(ctx, st, wellKnown, provider.Now()); err != nil {
		return nil, err
	}
	pages, err := web.New(ctx, web.Config{
		Provider: provider, Store: st, SecureCookies: cfg.SecureCookies(), SessionTTL: cfg.SessionTTL, Logger: log,
		AllowInsecureRedirects: cfg.SkipRedirectURLHTTPS,
	})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, log: log, Provider: provider, metrics: newMetrics()}

	pageMux := http.NewServeMux()
	pages.Mount(pageMux)
	authorize := pages.Authorize()
	apiMux := http.NewServeMux()
	bitbucket.Mount(pageMux, apiMux, provider, authorize)
	gitea.Mount(pageMux, apiMux, provider, authorize)
	repos := gitserve.NewRepos(cfg.ReposDir())
	api.New(api.Config{
		Provider: provider, Store: st, BaseURL: cfg.Issuer(), Version: Version, Logger: log,
		Repos: repos, Keys: keys, MaxTokenLifetime: cfg.AccessTokenTTL,
	}).Mount(apiMux)
	gitserve.New(gitserve.Config{Provider: provider, Store: st, Repos: repos, Logger: log}).Mount(apiMux)
	if err := gitserve.Available(""); err != nil {
		log.Warn("git over HTTP will fail until git is installed", "error", err)
	}
	idp.Mount(apiMux, provider)
	apiMux.Handle(oauth.DeviceCodePath, provider.DeviceAuthorizationHandler())
	apiMux.HandleFunc("GET /healthz", s.healthz)
	apiMux.HandleFunc("GET /readyz", s.readyz)
	apiMux.Handle("GET /metrics", s.metrics.handler())

	crossOrigin := http.NewCrossOriginProtection()
	crossOrigin.SetDenyHandler(pages.CrossOriginDenied())
	protectedPages := pageHeaders(crossOrigin.Handler(pageMux))
	trusted, err := parseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s.handler = s.recoverPanics(clientAddress(trusted, s.logRequests(commonHeaders(cfg.SecureCookies(), route(pageMux, protectedPages, cors(apiMux))))))
	return s, nil
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
			Gitea: gitea.Endpoints(cfg.Issuer()), Bitbucket: bitbucket.Endpoints(cfg.Issuer()),
			GrantTypes: oauth.GrantTypes(),
		},
	}), keys, nil
}

// Handler returns the node's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// route sends a request to the page mux when one of its patterns matches,
// else to the API mux.
func route(pageMux *http.ServeMux, pages, apiHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := pageMux.Handler(r); pattern != "" {
			pages.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz says whether this node can serve: its database answers.
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
