package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// TokenResponse is the RFC 6749 §5.1 success body.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token,omitempty"`
	// CreatedAt (Unix seconds) is sent by the Bitbucket layout only.
	CreatedAt int64 `json:"created_at,omitempty"`
}

// TokenOptions are the response details a dialect chooses.
type TokenOptions struct {
	IncludeCreatedAt bool // Bitbucket's created_at member
}

// grantHandler runs one grant type after the client has been authenticated.
// It is the only thing a grant implements: parsing, client authentication
// and writing the response are done once, for all grants, by TokenHandler.
type grantHandler interface {
	handle(ctx context.Context, client store.Client, params Params) (*TokenResponse, error)
}

// TokenHandler serves the token endpoint (RFC 6749 §3.2) as one fixed
// sequence: read the parameters, authenticate the client, check that the
// client may use the grant, run the grant, write the response.
func (p *Provider) TokenHandler(opts TokenOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := p.token(w, r)
		if err != nil {
			WriteError(w, p.log, err)
			return
		}
		if opts.IncludeCreatedAt {
			resp.CreatedAt = p.cfg.Now().Unix()
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) (*TokenResponse, error) {
	params, client, err := p.authenticatedPost(w, r)
	if err != nil {
		return nil, err
	}
	grantType := params.Get("grant_type")
	if grantType == "" {
		return nil, InvalidRequest("grant_type is required")
	}
	grant, ok := p.grants[grantType]
	if !ok {
		return nil, &Error{Code: CodeUnsupportedGrantType, Status: http.StatusBadRequest,
			Description: fmt.Sprintf("grant_type %q is not supported", grantType)}
	}
	if !slices.Contains(client.GrantTypes, grantType) {
		return nil, UnauthorizedClient("the client is not registered for grant_type %q", grantType)
	}
	return grant.handle(r.Context(), client, params)
}

// clientCredentials are what a request presents to identify its client.
type clientCredentials struct {
	id, secret string
}

// AuthenticateClient identifies and authenticates the client of a token,
// revocation or introspection request (RFC 6749 §2.3): HTTP Basic, or
// client_id and client_secret in the parameters, or client_id alone for a
// public client. Basic and body credentials that disagree are refused;
// secrets are compared in constant time.
func (p *Provider) AuthenticateClient(ctx context.Context, r *http.Request, params Params) (store.Client, error) {
	creds, err := presentedCredentials(r, params)
	if err != nil {
		return store.Client{}, err
	}
	client, err := p.store.GetClient(ctx, creds.id)
	if errors.Is(err, store.ErrNotFound) {
		secret.Matches(creds.secret, secret.Hash("")) // spend the time a known client would cost
		return store.Client{}, InvalidClient("client authentication failed")
	}
	if err != nil {
		return store.Client{}, ServerError(fmt.Errorf("token: load client: %w", err))
	}
	if client.Suspended {
		return store.Client{}, InvalidClient("the client is suspended")
	}
	if client.Public {
		if creds.secret != "" {
			return store.Client{}, InvalidClient("client authentication failed: a public client has no secret")
		}
		return client, nil
	}
	if creds.secret == "" || !secret.Matches(creds.secret, client.SecretHash) {
		return store.Client{}, InvalidClient("client authentication failed")
	}
	return client, nil
}

func presentedCredentials(r *http.Request, params Params) (clientCredentials, error) {
	bodyCreds := clientCredentials{id: params.Get("client_id"), secret: params.Get("client_secret")}
	header := r.Header.Get("Authorization")
	if header == "" {
		if bodyCreds.id == "" {
			return clientCredentials{}, InvalidClient("client authentication is required")
		}
		return bodyCreds, nil
	}
	basic, err := parseBasic(header)
	if err != nil {
		return clientCredentials{}, err
	}
	if bodyCreds.id != "" && bodyCreds.id != basic.id {
		return clientCredentials{}, InvalidRequest("client_id in the body differs from the HTTP Basic credentials")
	}
	if bodyCreds.secret != "" && bodyCreds.secret != basic.secret {
		return clientCredentials{}, InvalidRequest("client_secret in the body differs from the HTTP Basic credentials")
	}
	return basic, nil
}

// parseBasic decodes an HTTP Basic header whose user and password are
// form-urlencoded client_id and client_secret (RFC 6749 §2.3.1).
func parseBasic(header string) (clientCredentials, error) {
	scheme, payload, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return clientCredentials{}, InvalidClient("only HTTP Basic client authentication is supported in the Authorization header")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return clientCredentials{}, InvalidClient("the HTTP Basic credentials are not valid base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return clientCredentials{}, InvalidClient("the HTTP Basic credentials lack a colon")
	}
	id, err1 := url.QueryUnescape(user)
	sec, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil || id == "" {
		return clientCredentials{}, InvalidClient("the HTTP Basic credentials are malformed")
	}
	return clientCredentials{id: id, secret: sec}, nil
}

// newTokens builds the access and refresh token of one generation and the
// response that hands them out.
func (p *Provider) newTokens(scopes scope.Set, withRefresh bool) ([]store.Token, *TokenResponse) {
	now := p.cfg.Now()
	access := secret.New(secret.AccessTokenPrefix)
	tokens := []store.Token{{
		Hash: secret.Hash(access), Kind: store.AccessToken, Scopes: scopes,
		CreatedAt: now, ExpiresAt: now.Add(p.cfg.AccessTokenTTL),
	}}
	resp := &TokenResponse{
		AccessToken: access,
		TokenType:   "bearer",
		ExpiresIn:   int64(p.cfg.AccessTokenTTL.Seconds()),
		Scope:       scopes.String(),
	}
	if withRefresh {
		refresh := secret.New(secret.RefreshTokenPrefix)
		tokens = append(tokens, store.Token{
			Hash: secret.Hash(refresh), Kind: store.RefreshToken, Scopes: scopes,
			CreatedAt: now, ExpiresAt: now.Add(p.cfg.RefreshTokenTTL),
		})
		resp.RefreshToken = refresh
	}
	return tokens, resp
}

// activeUser loads a token's user and refuses one that is gone or disabled.
func (p *Provider) activeUser(ctx context.Context, userID int64) (store.User, error) {
	u, err := p.store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, InvalidGrant("the user of this grant no longer exists")
	}
	if err != nil {
		return store.User{}, ServerError(fmt.Errorf("load user: %w", err))
	}
	if u.Disabled {
		return store.User{}, InvalidGrant("the user of this grant is disabled")
	}
	return u, nil
}
