package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"latchkey/internal/audit"
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
	hash := secret.TokenKey(code)
	pre, h, err := g.holder(ctx, hash)
	if err != nil {
		return nil, err
	}
	is, err := g.p.issuanceOf(ctx, client.ID, pre.UserID, pre.AuthTime, pre.Scopes, pre.Resources, params.Resources())
	if err != nil {
		return nil, err
	}
	now := g.p.cfg.Now()
	draw := drawTokens(slices.Contains(client.GrantTypes, GrantRefreshToken), now)
	// The code as read is handed over: the store may start from it (an
	// unknown code is the zero AuthCode, which the store ignores).
	presented := store.Presented{Hash: hash, ClientID: client.ID, Code: &pre}
	iss, err := g.p.store.RedeemAuthCode(ctx, presented, now, func(ac store.AuthCode) (store.Issue, error) {
		if err := g.check(params, ac, h, now); err != nil {
			return store.Issue{}, err
		}
		if !slices.Equal(ac.Resources, pre.Resources) || !slices.Equal(ac.Scopes, pre.Scopes) {
			return store.Issue{}, InvalidGrant("the grant changed while it was being redeemed")
		}
		toks, err := g.p.tokens(&draw, is, now)
		if err != nil {
			return store.Issue{}, err
		}
		return store.Issue{
			Family: store.TokenFamily{Scopes: ac.Scopes, AuthTime: ac.AuthTime, Nonce: ac.Nonce, CreatedAt: now,
				Lineage: draw.lineage, Resources: ac.Resources, SignIn: ac.SignIn},
			Tokens: toks,
		}, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, InvalidGrant("the authorization code is invalid")
	case errors.Is(err, store.ErrWrongClient):
		return nil, InvalidGrant("the authorization code was issued to another client")
	case errors.Is(err, store.ErrCodeReused):
		g.p.log.Warn("authorization code reused; its tokens are revoked", "client_id", client.ID)
		g.p.Audit(ctx, store.AuditEvent{Event: audit.CodeReused, ClientID: client.ID,
			Detail: "an authorization code was presented twice; the tokens issued from it are revoked"})
		return nil, InvalidGrant("the authorization code was already used")
	case err != nil:
		return nil, AsError(fmt.Errorf("redeem code: %w", err))
	}
	fam := iss.Family
	resp := g.p.response(draw, is.access)
	return resp, g.p.withIDToken(ctx, resp, IDTokenRequest{
		ClientID: client.ID, UserID: fam.UserID, Scopes: fam.Scopes, AuthTime: fam.AuthTime, Nonce: fam.Nonce,
		SignIn: fam.SignIn,
	})
}

// holder reads the code and its user before its redemption. What a
// code grants never changes; an unknown code (the zero AuthCode) has no
// user and is refused by the redemption itself.
func (g codeGrant) holder(ctx context.Context, hash string) (store.AuthCode, holder, error) {
	ac, err := g.p.store.GetAuthCode(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.AuthCode{}, holder{}, nil
	}
	if err != nil {
		return store.AuthCode{}, holder{}, AsError(fmt.Errorf("load code: %w", err))
	}
	h, err := g.p.readHolder(ctx, ac.UserID)
	return ac, h, err
}

// check enforces the bindings of the code the store leaves to the caller
// (the store checks the client, before anything else): lifetime, redirect
// URI, PKCE verifier and a still active user (h, read before).
func (g codeGrant) check(params Params, ac store.AuthCode, h holder, now time.Time) error {
	if !now.Before(ac.ExpiresAt) {
		return InvalidGrant("the authorization code has expired")
	}
	redirectURI := params.Get("redirect_uri")
	if (ac.RedirectURISent || redirectURI != "") && redirectURI != ac.RedirectURI {
		return InvalidGrant("redirect_uri does not match the authorization request")
	}
	if e := verifyPKCE(params.Get("code_verifier"), ac.CodeChallenge, ac.ChallengeMethod); e != nil {
		return e
	}
	return h.check(ac.UserID)
}

// refreshGrant rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2).
type refreshGrant struct{ p *Provider }

func (g refreshGrant) handle(ctx context.Context, client store.Client, params Params) (*TokenResponse, error) {
	refresh := params.Get("refresh_token")
	if refresh == "" {
		return nil, InvalidRequest("refresh_token is required")
	}
	requested, err := parseNarrowing(params.Get("scope"))
	if err != nil {
		return nil, err
	}
	pre, h, err := g.holder(ctx, refresh)
	if err != nil {
		return nil, err
	}
	// The scopes and resources of the new tokens, computed from the token
	// as read now and checked against the one the rotation locks.
	scopes := scope.Set(pre.Token.Scopes)
	if len(requested) > 0 && pre.Token.Hash != "" {
		if !scopes.Covers(requested) {
			return nil, InvalidScope("a refresh may narrow the scope, never widen it")
		}
		scopes = requested
	}
	is, err := g.p.issuanceOf(ctx, client.ID, pre.Family.UserID, pre.Family.AuthTime, scopes, pre.Family.Resources, params.Resources())
	if err != nil {
		return nil, err
	}
	now := g.p.cfg.Now()
	draw := drawRotation(refresh, now)
	presented := presentedRefresh(refresh, client.ID)
	presented.Grace = g.p.cfg.RefreshGrace
	// The token as read is handed over: the store may start from it. (In
	// the grace period pre holds the family's current refresh token, not
	// the one presented, and the store ignores it.)
	presented.Token, presented.Family = &pre.Token, &pre.Family
	iss, err := g.p.store.RotateRefreshToken(ctx, presented, now, func(fam store.TokenFamily, old store.Token) (store.Issue, error) {
		if err := g.check(fam, old, h, now); err != nil {
			return store.Issue{}, err
		}
		if !slices.Equal(old.Scopes, pre.Token.Scopes) || !slices.Equal(fam.Resources, pre.Family.Resources) {
			return store.Issue{}, InvalidGrant("the grant changed while it was being refreshed")
		}
		fam.Lineage = draw.lineage // taken only by a family without one, which is then the draw's
		toks, err := g.p.tokens(&draw, is, now)
		if err != nil {
			return store.Issue{}, err
		}
		return store.Issue{Family: fam, Tokens: toks}, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked):
		return nil, InvalidGrant("the refresh token is invalid or revoked")
	case errors.Is(err, store.ErrWrongClient):
		return nil, InvalidGrant("the refresh token was issued to another client")
	case errors.Is(err, store.ErrTokenReused):
		g.p.log.Warn("rotated refresh token reused; its family is revoked", "client_id", client.ID)
		g.p.Audit(ctx, store.AuditEvent{Event: audit.RefreshReused, ClientID: client.ID,
			Detail: "a rotated refresh token was presented again; every token of its grant is revoked"})
		return nil, InvalidGrant("the refresh token was already used; every token of this grant is now revoked")
	case err != nil:
		return nil, AsError(fmt.Errorf("rotate refresh token: %w", err))
	}
	resp := g.p.response(draw, is.access)
	return resp, g.p.withIDToken(ctx, resp, IDTokenRequest{
		ClientID: client.ID, UserID: iss.Family.UserID, Scopes: is.scopes, AuthTime: iss.Family.AuthTime,
		SignIn: iss.Family.SignIn,
	})
}

// holder reads the user of the token's family, with the token, before the
// rotation. A family's user never changes; an unknown token has no user
// and is refused by the rotation itself.
//
// With a grace period, a token that is not stored (rotated away) but is
// the one its family's last rotation replaced stands for the family's
// current refresh token: what the rotation will give the callback.
func (g refreshGrant) holder(ctx context.Context, refresh string) (store.Bearer, holder, error) {
	hash := secret.TokenKey(refresh)
	b, err := g.p.store.GetBearer(ctx, hash)
	if errors.Is(err, store.ErrNotFound) && g.p.cfg.RefreshGrace > 0 {
		if handle, ok := secret.RefreshHandle(refresh); ok {
			tok, fam, cerr := g.p.store.GetCurrentRefresh(ctx, secret.Lineage(handle))
			if cerr == nil && fam.PreviousRefresh == hash {
				h, err := g.p.readHolder(ctx, fam.UserID)
				return store.Bearer{Token: tok, Family: fam}, h, err
			}
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Bearer{}, holder{}, nil
	}
	if err != nil {
		return store.Bearer{}, holder{}, AsError(fmt.Errorf("load refresh token: %w", err))
	}
	return b, holderOf(b.User), nil
}

// check enforces the refresh token's bindings the store leaves to the
// caller (the store checks the client, first): its lifetime and an
// active user.
func (g refreshGrant) check(fam store.TokenFamily, old store.Token, h holder, now time.Time) error {
	if !now.Before(old.ExpiresAt) {
		return InvalidGrant("the refresh token has expired")
	}
	return h.check(fam.UserID)
}
