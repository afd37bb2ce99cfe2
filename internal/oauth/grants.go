package oauth

import (
	"context"
	"errors"
	"fmt"
	"latchkey/internal/audit"
	"slices"

	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// codeGrant redeems an authorization code (RFC 6749 §4.1.3).
type codeGrant struct{ p *Provider }

func (g codeGrant) handle(ctx context.Context, client store.Client, params Params) (*TokenResponse, error) {
	code := params.Get("code")
	if code == "" {
		return nil, InvalidRequest("code is required")
	}
	var resp *TokenResponse
	var redeemed store.AuthCode
	_, err := g.p.store.RedeemAuthCode(ctx, secret.Hash(code), g.p.cfg.Now(), func(ac store.AuthCode) (store.Issue, error) {
		if err := g.check(ctx, client, params, ac); err != nil {
			return store.Issue{}, err
		}
		redeemed = ac
		var tokens []store.Token
		tokens, resp = g.p.newTokens(ac.Scopes, slices.Contains(client.GrantTypes, GrantRefreshToken))
		return store.Issue{
			Family: store.TokenFamily{
				ClientID: client.ID, UserID: ac.UserID, Scopes: ac.Scopes,
				AuthTime: ac.AuthTime, Nonce: ac.Nonce, CreatedAt: g.p.cfg.Now(),
			},
			Tokens: tokens,
		}, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, InvalidGrant("the authorization code is invalid")
	case errors.Is(err, store.ErrCodeReused):
		g.p.log.Warn("authorization code reused; its tokens are revoked", "client_id", client.ID)
		g.p.Audit(ctx, store.AuditEvent{Event: audit.CodeReused, ClientID: client.ID,
			Detail: "an authorization code was presented twice; the tokens issued from it are revoked"})
		return nil, InvalidGrant("the authorization code was already used")
	case err != nil:
		return nil, AsError(fmt.Errorf("redeem code: %w", err))
	}
	return resp, g.p.withIDToken(ctx, resp, IDTokenRequest{
		ClientID: client.ID, UserID: redeemed.UserID, Scopes: redeemed.Scopes,
		AuthTime: redeemed.AuthTime, Nonce: redeemed.Nonce,
	})
}

// check enforces every binding of the code: client, lifetime, redirect URI,
// PKCE verifier and a still active user.
func (g codeGrant) check(ctx context.Context, client store.Client, params Params, ac store.AuthCode) error {
	if ac.ClientID != client.ID {
		return InvalidGrant("the authorization code was issued to another client")
	}
	if !g.p.cfg.Now().Before(ac.ExpiresAt) {
		return InvalidGrant("the authorization code has expired")
	}
	redirectURI := params.Get("redirect_uri")
	if (ac.RedirectURISent || redirectURI != "") && redirectURI != ac.RedirectURI {
		return InvalidGrant("redirect_uri does not match the authorization request")
	}
	if e := verifyPKCE(params.Get("code_verifier"), ac.CodeChallenge, ac.ChallengeMethod); e != nil {
		return e
	}
	_, err := g.p.activeUser(ctx, ac.UserID)
	return err
}

// refreshGrant rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2).
type refreshGrant struct{ p *Provider }

func (g refreshGrant) handle(ctx context.Context, client store.Client, params Params) (*TokenResponse, error) {
	refresh := params.Get("refresh_token")
	if refresh == "" {
		return nil, InvalidRequest("refresh_token is required")
	}
	requested, err := scope.Parse(params.Get("scope"))
	if err != nil {
		return nil, InvalidScope("%v", err)
	}
	var resp *TokenResponse
	var family store.TokenFamily
	var scopes scope.Set
	_, err = g.p.store.RotateRefreshToken(ctx, secret.Hash(refresh), g.p.cfg.Now(), func(fam store.TokenFamily, old store.Token) (store.Issue, error) {
		var err error
		if scopes, err = g.check(ctx, client, fam, old, requested); err != nil {
			return store.Issue{}, err
		}
		family = fam
		var tokens []store.Token
		tokens, resp = g.p.newTokens(scopes, true)
		return store.Issue{Family: fam, Tokens: tokens}, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked):
		return nil, InvalidGrant("the refresh token is invalid or revoked")
	case errors.Is(err, store.ErrTokenReused):
		g.p.log.Warn("rotated refresh token reused; its family is revoked", "client_id", client.ID)
		g.p.Audit(ctx, store.AuditEvent{Event: audit.RefreshReused, ClientID: client.ID,
			Detail: "a rotated refresh token was presented again; every token of its grant is revoked"})
		return nil, InvalidGrant("the refresh token was already used; every token of this grant is now revoked")
	case err != nil:
		return nil, AsError(fmt.Errorf("rotate refresh token: %w", err))
	}
	return resp, g.p.withIDToken(ctx, resp, IDTokenRequest{
		ClientID: client.ID, UserID: family.UserID, Scopes: scopes, AuthTime: family.AuthTime,
	})
}

// check enforces the refresh token's bindings and returns the scopes of the
// new tokens: those requested, which may only narrow the current ones.
func (g refreshGrant) check(ctx context.Context, client store.Client, fam store.TokenFamily, old store.Token, requested scope.Set) (scope.Set, error) {
	if fam.ClientID != client.ID {
		return nil, InvalidGrant("the refresh token was issued to another client")
	}
	if !g.p.cfg.Now().Before(old.ExpiresAt) {
		return nil, InvalidGrant("the refresh token has expired")
	}
	current := scope.Set(old.Scopes)
	if len(requested) == 0 {
		requested = current
	}
	if !current.Covers(requested) {
		return nil, InvalidScope("a refresh may narrow the scope, never widen it")
	}
	if _, err := g.p.activeUser(ctx, fam.UserID); err != nil {
		return nil, err
	}
	return requested, nil
}
