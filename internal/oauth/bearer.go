package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"latchkey/internal/resource"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// Caller is who a protected request acts for: the token's user, evaluated
// now, and the principal that caps every permission check.
type Caller struct {
	User      store.User // zero for anonymous requests
	ClientID  string
	Family    store.TokenFamily
	Principal scope.Principal
}

// Anonymous reports whether the request carried no token (package
// access makes such callers, with scope.Anonymous as their principal).
func (c *Caller) Anonymous() bool { return c.User.ID == 0 }

// invalidToken is RFC 6750's invalid_token (401).
func invalidToken(desc string) *Error {
	return &Error{Code: CodeInvalidToken, Status: http.StatusUnauthorized, Description: desc}
}

// AuthenticateToken checks an access token and returns the caller it acts
// for, with the user's permissions as they are now, so that taking a
// permission from a user limits their existing tokens at once. A token is
// live while it is unexpired, its family is not revoked, it belongs to the
// family's current generation, its client is not suspended and its user is
// enabled.
//
// resource is the RFC 8707 identifier of the resource the token is
// presented to: a token issued for other resources is refused with
// invalid_token (RFC 8707 §2: the audience restriction). "" accepts a
// token for any of Latchkey's own resources, not one for an external
// resource server (the userinfo endpoint passes "").
func (p *Provider) AuthenticateToken(ctx context.Context, token, res string) (*Caller, error) {
	b, err := p.store.GetBearer(ctx, secret.TokenKey(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidToken("the access token is invalid")
	}
	if err != nil {
		return nil, ServerError(fmt.Errorf("bearer: load token: %w", err))
	}
	tok, fam := b.Token, b.Family
	switch {
	case tok.Kind != store.AccessToken:
		return nil, invalidToken("a refresh token is not an access token")
	case !p.cfg.Now().Before(tok.ExpiresAt):
		return nil, invalidToken("the access token has expired")
	case fam.Revoked() || tok.Generation != fam.Generation:
		return nil, invalidToken("the access token was revoked")
	case b.ClientSuspended:
		return nil, invalidToken("the application of this token is suspended")
	case b.User.Disabled:
		return nil, invalidToken("the user of this token is disabled")
	case !p.tokenFor(tok, res):
		return nil, invalidToken("the access token was not issued for this resource")
	}
	perms, err := p.store.ListPermissions(ctx, b.User.ID)
	if err != nil {
		return nil, ServerError(fmt.Errorf("bearer: load permissions: %w", err))
	}
	p.recordUse(ctx, fam)
	return &Caller{
		User:     b.User,
		ClientID: fam.ClientID,
		Family:   fam,
		Principal: scope.Principal{
			UserID: b.User.ID, Scopes: scope.Set(tok.Scopes), User: scope.NewUserAccess(perms),
		},
	}, nil
}

// tokenFor reports whether tok is for the resource res: one it was
// issued for, or, for res "", any of Latchkey's own.
func (p *Provider) tokenFor(tok store.Token, res string) bool {
	if res != "" {
		return resource.For(p.cfg.Issuer, tok.Resources, res)
	}
	for _, r := range resource.Of(p.cfg.Issuer, tok.Resources) {
		if !resource.IsOwn(p.cfg.Issuer, r) {
			return false
		}
	}
	return true
}
