// Package oauth is the protocol core shared by both dialects: validation of
// authorization requests, issuing codes, the token endpoint pipeline with one
// small handler per grant, PKCE, refresh rotation, the validity of access
// tokens (AuthenticateToken), and RFC 6749 / RFC 6750 errors.
//
// Control flow: the web package renders login and consent pages and calls
// ValidateAuthorize and IssueCode; the dialect packages mount TokenHandler on
// their paths; package access, which reads the credentials of every
// protected resource (the API, git over HTTP, userinfo), calls
// AuthenticateToken. This package never renders a page and reaches storage
// only through store.Store.
package oauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// Config is what the protocol core needs.
type Config struct {
	Store store.Store
	// Issuer is the server's base URL without a trailing slash. It is the
	// iss value of authorization responses (RFC 9207).
	Issuer          string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	CodeTTL         time.Duration // at most 10 minutes
	// RefreshGrace is the refresh grace period (store.Presented.Grace):
	// zero, the default, revokes a grant at the first reuse of a rotated
	// refresh token.
	RefreshGrace time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
	// IDTokens signs ID tokens for grants that include the openid scope;
	// nil disables OpenID Connect.
	IDTokens IDTokenIssuer
	// Clients finds clients by client_id; nil: the store (registered
	// clients only).
	Clients ClientSource
	// AccessTokens signs the JWT access tokens of external resource
	// servers; nil: tokens for them are refused (invalid_target).
	AccessTokens AccessTokenSigner
}

// IDTokenIssuer signs ID tokens (package oidc implements it).
type IDTokenIssuer interface {
	IssueIDToken(ctx context.Context, req IDTokenRequest) (string, error)
}

// IDTokenRequest is what an ID token is issued for.
type IDTokenRequest struct {
	ClientID    string
	UserID      int64
	Scopes      scope.Set
	AuthTime    time.Time
	Nonce       string // empty on refresh (OpenID Connect Core §12.2)
	AccessToken string // for at_hash
	// SignIn is what the session that authorized the grant signed in
	// with: sid, amr and acr of the ID token (zero: none of them).
	SignIn store.SignIn
}

// Defaults for token lifetimes.
const (
	DefaultAccessTokenTTL  = time.Hour
	DefaultRefreshTokenTTL = 90 * 24 * time.Hour
	DefaultCodeTTL         = time.Minute
	MaxCodeTTL             = 10 * time.Minute
)

// Provider implements the protocol core.
type Provider struct {
	store  store.Store
	cfg    Config
	log    *slog.Logger
	grants map[string]grantHandler
}

// New builds a Provider, filling unset lifetimes with defaults.
func New(cfg Config) *Provider {
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if cfg.RefreshTokenTTL <= 0 {
		cfg.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	cfg.CodeTTL = min(cfg.CodeTTL, MaxCodeTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	p := &Provider{store: cfg.Store, cfg: cfg, log: cfg.Logger, grants: map[string]grantHandler{}}
	for _, g := range grantTable(p) {
		p.grants[g.name] = g.handler
	}
	return p
}

// namedGrant is one grant the token endpoint serves.
type namedGrant struct {
	name    string
	handler grantHandler
}

// grantTable is the one list of the grants the token endpoint serves, in
// the order discovery names them. GrantTypes reads its names, so the
// token endpoint, discovery and client registration cannot disagree.
func grantTable(p *Provider) []namedGrant {
	return []namedGrant{
		{GrantAuthorizationCode, codeGrant{p}},
		{GrantRefreshToken, refreshGrant{p}},
		{GrantDeviceCode, deviceGrant{p}},
		{GrantClientCredentials, clientCredentialsGrant{p}},
	}
}

// GrantTypes lists the grant types the token endpoint serves, for
// discovery (grant_types_supported) and for client registration.
func GrantTypes() []string {
	var names []string
	for _, g := range grantTable(nil) {
		names = append(names, g.name)
	}
	return names
}

// Issuer returns the issuer identifier.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Now returns the provider's current time.
func (p *Provider) Now() time.Time { return p.cfg.Now() }

// appendQuery adds params to a redirect URI, keeping the query it already has
// (RFC 6749 §3.1.2).
func appendQuery(base string, params url.Values) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// withIDToken adds an ID token to resp when the grant includes openid.
func (p *Provider) withIDToken(ctx context.Context, resp *TokenResponse, req IDTokenRequest) error {
	if p.cfg.IDTokens == nil || !req.Scopes.Has(scope.OpenID) {
		return nil
	}
	req.AccessToken = resp.AccessToken
	idToken, err := p.cfg.IDTokens.IssueIDToken(ctx, req)
	if err != nil {
		return ServerError(fmt.Errorf("issue ID token: %w", err))
	}
	resp.IDToken = idToken
	return nil
}
