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
	"time"

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
	client, err := p.client(ctx, creds.id)
	if u, ok := asUnusable(err); ok {
		return store.Client{}, InvalidClient("%s", u.Reason)
	}
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

// tokenDraw is the plaintext of the tokens of one generation, drawn before
// the store call that writes them: the store's callback may run more than
// once, so every run of it hashes the same tokens, and the response hands
// out the ones that were stored.
type tokenDraw struct {
	access  string
	refresh string // empty: no refresh token
	lineage string // of the handle the refresh token carries; empty without one
	jti     string // the jti of the access token if it is a JWT
}

// drawTokens draws a new access token and, when withRefresh, a refresh
// token carrying a new family handle (a new grant), stamped with now.
func drawTokens(withRefresh bool, now time.Time) tokenDraw {
	if !withRefresh {
		return tokenDraw{access: secret.NewToken(secret.AccessTokenPrefix, now), jti: secret.NewHandle()}
	}
	return drawWithHandle(secret.NewFamilyHandle(now), now)
}

// drawRotation draws the tokens that replace the refresh token presented:
// the new refresh token carries the same family handle, or a new one if
// the presented token carries none (issued before handles existed).
func drawRotation(presented string, now time.Time) tokenDraw {
	handle, ok := secret.RefreshHandle(presented)
	if !ok {
		handle = secret.NewFamilyHandle(now)
	}
	return drawWithHandle(handle, now)
}

func drawWithHandle(handle string, now time.Time) tokenDraw {
	return tokenDraw{access: secret.NewToken(secret.AccessTokenPrefix, now),
		refresh: secret.NewRefreshToken(handle, now), lineage: secret.Lineage(handle), jti: secret.NewHandle()}
}

// presentedRefresh is a refresh token as the store sees it: its key, the
// lineage of the handle it carries (if any), and the client presenting it.
func presentedRefresh(token, clientID string) store.Presented {
	p := store.Presented{Hash: secret.TokenKey(token), ClientID: clientID}
	if handle, ok := secret.RefreshHandle(token); ok {
		p.Lineage = secret.Lineage(handle)
	}
	return p
}

// issuance is what the tokens of one generation are issued for: the
// grant's scopes and resources (which its refresh token keeps), the
// access token's target and the scopes it carries (a part of them), and,
// for an RFC 9068 JWT, its subject and the signer prepared before the
// store call.
type issuance struct {
	scopes    scope.Set // the refresh token's: the grant's, maybe narrowed
	resources []string  // the refresh token's: the grant's
	target    target    // the access token's audience
	access    scope.Set // the access token's scopes
	jwt       jwtIssue  // set when target is an external resource server
}

// tokens returns the drawn tokens as the store keeps them: under their
// keys (secret.TokenKey), with
// scopes, resources and lifetimes, issued at now. For an external
// resource server the access token is signed here, as a JWT, and put in
// d: the store's callback may run more than once, and the last run's
// draw is the one stored.
func (p *Provider) tokens(d *tokenDraw, is issuance, now time.Time) ([]store.Token, error) {
	if len(is.target.external) > 0 {
		jwt, err := p.signAccessToken(is, d.jti, now)
		if err != nil {
			return nil, err
		}
		d.access = jwt
	}
	tokens := []store.Token{{
		Hash: secret.TokenKey(d.access), Kind: store.AccessToken, Scopes: is.access,
		CreatedAt: now, ExpiresAt: now.Add(p.cfg.AccessTokenTTL), Resources: is.target.ids,
	}}
	if d.refresh != "" {
		tokens = append(tokens, store.Token{
			Hash: secret.TokenKey(d.refresh), Kind: store.RefreshToken, Scopes: is.scopes,
			CreatedAt: now, ExpiresAt: now.Add(p.cfg.RefreshTokenTTL), Resources: is.resources,
		})
	}
	return tokens, nil
}

// response hands the drawn tokens out with the access token's scopes.
func (p *Provider) response(d tokenDraw, scopes scope.Set) *TokenResponse {
	return &TokenResponse{
		AccessToken:  d.access,
		TokenType:    "bearer",
		ExpiresIn:    int64(p.cfg.AccessTokenTTL.Seconds()),
		RefreshToken: d.refresh,
		Scope:        scopes.String(),
	}
}

// holder is the user a grant would issue tokens to, as read before the
// store call, and the refusal that user earns (nil for an active user).
// The grant's callback checks it without I/O.
type holder struct {
	userID int64
	refuse error
}

// readHolder loads the user of a code, token or device authorization. A
// user who is gone or disabled is refused; a failure to read is the
// request's failure.
func (p *Provider) readHolder(ctx context.Context, userID int64) (holder, error) {
	u, err := p.store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return holder{userID: userID, refuse: InvalidGrant("the user of this grant no longer exists")}, nil
	}
	if err != nil {
		return holder{}, ServerError(fmt.Errorf("load user: %w", err))
	}
	return holderOf(u), nil
}

// check refuses to issue tokens to userID unless it is the holder's user
// and active. (The user of a code or a family never changes, so the first
// case means that the row the callback got is not the one read before.)
func (h holder) check(userID int64) error {
	if userID != h.userID {
		return InvalidGrant("the grant changed while it was being redeemed")
	}
	return h.refuse
}

// holderOf is the holder for a user already read.
func holderOf(u store.User) holder {
	h := holder{userID: u.ID}
	if u.Disabled {
		h.refuse = InvalidGrant("the user of this grant is disabled")
	}
	return h
}
