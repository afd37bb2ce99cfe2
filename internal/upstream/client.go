package upstream

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

var (
	// ErrState is a callback whose state is missing or not the Flow's.
	ErrState = errors.New("upstream: the sign-in state does not match (an old or forged answer)")
	// ErrNonce is an ID token whose nonce is not the Flow's.
	ErrNonce = errors.New("upstream: the ID token's nonce does not match this sign-in")
	// ErrUnavailable wraps a failure to reach the provider (network,
	// refused address, discovery); the detail follows it.
	ErrUnavailable = errors.New("upstream: the identity provider cannot be reached")
)

// DiscoveryTTL is how long a provider's discovery document (and the key
// set go-oidc keeps with it) is reused before it is fetched again.
const DiscoveryTTL = 10 * time.Minute

// Flow is what the browser's round trip must bring back: the caller seals
// it (into a cookie) at Start and hands it to Finish.
type Flow struct {
	State     string    `json:"state"`
	Nonce     string    `json:"nonce"`
	Verifier  string    `json:"verifier"` // PKCE code verifier
	StartedAt time.Time `json:"started_at"`
}

// CheckState compares got (the callback's state parameter) with the Flow's
// in constant time; ErrState when they differ or either is empty.
func (f Flow) CheckState(got string) error {
	if f.State == "" || got == "" || subtle.ConstantTimeCompare([]byte(f.State), []byte(got)) != 1 {
		return ErrState
	}
	return nil
}

// Client is the relying party. It is safe for concurrent use.
type Client struct {
	http *http.Client
	now  func() time.Time

	mu        sync.Mutex
	providers map[string]*discovered
}

// discovered is one issuer's cached discovery.
type discovered struct {
	provider  *oidc.Provider
	authStyle oauth2.AuthStyle
	at        time.Time
}

// New returns a Client that sends every request (discovery, token, key
// set, userinfo) through hc (outbound.Client.HTTPClient(), so the
// outbound rules hold) and reads the time from now (nil: time.Now).
func New(hc *http.Client, now func() time.Time) *Client {
	if now == nil {
		now = time.Now
	}
	return &Client{http: hc, now: now, providers: map[string]*discovered{}}
}

// discover returns the issuer's provider, from the cache when it was
// discovered less than DiscoveryTTL ago. A failed discovery is not cached.
func (c *Client) discover(ctx context.Context, issuer string) (*discovered, error) {
	c.mu.Lock()
	d, ok := c.providers[issuer]
	c.mu.Unlock()
	now := c.now()
	if ok && now.Sub(d.at) < DiscoveryTTL && !now.Before(d.at) {
		return d, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.http), issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrUnavailable, issuer, brief(err))
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrUnavailable, issuer, err)
	}
	if p.Endpoint().AuthURL == "" || p.Endpoint().TokenURL == "" {
		return nil, fmt.Errorf("%w: discovery at %s names no authorization or token endpoint", ErrUnavailable, issuer)
	}
	d = &discovered{provider: p, authStyle: authStyle(meta.AuthMethods), at: now}
	c.mu.Lock()
	c.providers[issuer] = d
	c.mu.Unlock()
	return d, nil
}

// authStyle is client_secret_basic when the provider lists it or lists
// nothing (the default of OpenID Connect Discovery), else
// client_secret_post.
func authStyle(methods []string) oauth2.AuthStyle {
	if len(methods) == 0 || slices.Contains(methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

func (c *Client) config(d *discovered, s Settings, redirectURI string) *oauth2.Config {
	ep := d.provider.Endpoint()
	ep.AuthStyle = d.authStyle
	if s.ClientSecret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams // a public client sends client_id alone
	}
	return &oauth2.Config{
		ClientID:     s.ClientID,
		ClientSecret: s.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  redirectURI,
		Scopes:       s.Scopes,
	}
}

// Start discovers the provider (or reuses its cached discovery) and
// returns the authorization URL to send the browser to (response_type
// code, PKCE S256, a new state and nonce, the settings' scopes) and the
// Flow to keep until Finish. The settings must Validate.
func (c *Client) Start(ctx context.Context, s Settings, redirectURI string) (string, Flow, error) {
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return "", Flow{}, fmt.Errorf("upstream: settings: %w", err)
	}
	d, err := c.discover(ctx, s.Issuer)
	if err != nil {
		return "", Flow{}, err
	}
	f := Flow{
		State:     randomToken(),
		Nonce:     randomToken(),
		Verifier:  oauth2.GenerateVerifier(),
		StartedAt: c.now(),
	}
	u := c.config(d, s, redirectURI).AuthCodeURL(f.State,
		oauth2.S256ChallengeOption(f.Verifier), oidc.Nonce(f.Nonce))
	return u, f, nil
}

// randomToken is 32 random bytes, base64url without padding.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Finish completes the sign-in that Start began, once the caller has
// checked the callback's state with f.CheckState: it exchanges code (with
// the PKCE verifier and the client secret), verifies the ID token with
// go-oidc (signature, iss, aud = client_id, exp against the Client's
// clock; nonce equal to f.Nonce else ErrNonce), reads userinfo when the
// provider has an endpoint (its sub must equal the ID token's; its claims
// fill those the ID token lacks, so the ID token wins) and maps the claims
// per s. A token endpoint's refusal is an error naming its error code,
// never its whole answer.
func (c *Client) Finish(ctx context.Context, s Settings, redirectURI string, f Flow, code string) (Identity, error) {
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return Identity{}, fmt.Errorf("upstream: settings: %w", err)
	}
	if code == "" {
		return Identity{}, errors.New("upstream: the callback has no code")
	}
	if f.Nonce == "" || f.Verifier == "" {
		return Identity{}, errors.New("upstream: the sign-in flow is incomplete")
	}
	d, err := c.discover(ctx, s.Issuer)
	if err != nil {
		return Identity{}, err
	}
	tok, err := c.exchange(ctx, d, s, redirectURI, f, code)
	if err != nil {
		return Identity{}, err
	}
	claims, subject, err := c.verifyIDToken(ctx, d, s, f, tok)
	if err != nil {
		return Identity{}, err
	}
	if d.provider.UserInfoEndpoint() != "" {
		info, err := c.userinfo(ctx, d, tok, subject)
		if err != nil {
			return Identity{}, err
		}
		claims.fill(info)
	}
	return identityFrom(claims, s)
}

// exchange trades the code for tokens at the token endpoint.
func (c *Client) exchange(ctx context.Context, d *discovered, s Settings, redirectURI string, f Flow, code string) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	tok, err := c.config(d, s, redirectURI).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if re.ErrorCode != "" {
			return nil, fmt.Errorf("upstream: the token endpoint refused the code (HTTP %d): %s", status, safeText(re.ErrorCode, 64))
		}
		return nil, fmt.Errorf("upstream: the token endpoint refused the code (HTTP %d)", status)
	}
	if isNetwork(err) {
		return nil, fmt.Errorf("%w: token endpoint: %w", ErrUnavailable, err)
	}
	return nil, fmt.Errorf("upstream: the token endpoint's answer: %w", brief(err))
}

// verifyIDToken verifies the token answer's ID token and returns its
// claims and subject.
func (c *Client) verifyIDToken(ctx context.Context, d *discovered, s Settings, f Flow, tok *oauth2.Token) (claimSet, string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, "", errors.New("upstream: the token endpoint gave no ID token")
	}
	v := d.provider.Verifier(&oidc.Config{ClientID: s.ClientID, Now: c.now})
	idt, err := v.Verify(oidc.ClientContext(ctx, c.http), raw)
	if err != nil {
		return nil, "", fmt.Errorf("upstream: the ID token is not valid: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return nil, "", ErrNonce
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, "", fmt.Errorf("upstream: the ID token does not match the access token: %w", err)
		}
	}
	var all claimSet
	if err := idt.Claims(&all); err != nil || all == nil {
		return nil, "", fmt.Errorf("upstream: the ID token's claims cannot be read: %v", err)
	}
	return all, idt.Subject, nil
}

// userinfo reads the userinfo endpoint's claims; its sub must be subject.
func (c *Client) userinfo(ctx context.Context, d *discovered, tok *oauth2.Token, subject string) (claimSet, error) {
	info, err := d.provider.UserInfo(oidc.ClientContext(ctx, c.http), oauth2.StaticTokenSource(tok))
	if isNetwork(err) {
		return nil, fmt.Errorf("%w: userinfo: %w", ErrUnavailable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream: the userinfo endpoint refused: %w", brief(err))
	}
	var claims claimSet
	if err := info.Claims(&claims); err != nil || claims == nil {
		return nil, fmt.Errorf("upstream: the userinfo answer cannot be read: %v", err)
	}
	if claims.str("sub") != subject {
		return nil, errors.New("upstream: the userinfo answer is for another subject than the ID token")
	}
	return claims, nil
}

// isNetwork reports whether err is a failure to send a request or read its
// answer (including an address the outbound client refused), as opposed
// to an answer the provider gave.
func isNetwork(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// brief keeps err as it is when it is a network error (so that
// outbound.IsRefused and the like still see it); otherwise, since
// libraries put an answer's body into their errors, it returns the
// error's text cut to 160 printable characters.
func brief(err error) error {
	if err == nil || isNetwork(err) {
		return err
	}
	return errors.New(safeText(err.Error(), 160))
}

// safeText keeps upstream text fit for a message: at most limit characters
// of printable ASCII.
func safeText(s string, limit int) string {
	out := make([]byte, 0, min(len(s), limit))
	for i := 0; i < len(s) && len(out) < limit; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			out = append(out, c)
		}
	}
	return string(out)
}
