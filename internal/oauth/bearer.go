package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

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

// Anonymous reports whether the request carried no token.
func (c *Caller) Anonymous() bool { return c.User.ID == 0 }

// ErrNoToken means the request carried no bearer token at all.
var ErrNoToken = errors.New("no bearer token")

// BearerToken extracts the token of an "Authorization: Bearer" header
// (RFC 6750 §2.1). It returns ErrNoToken when there is no Authorization
// header and a protocol error when the header is malformed.
func BearerToken(r *http.Request) (string, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", ErrNoToken
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", InvalidRequest("the Authorization header must be \"Bearer <token>\"")
	}
	return token, nil
}

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
func (p *Provider) AuthenticateToken(ctx context.Context, token string) (*Caller, error) {
	b, err := p.store.GetBearer(ctx, secret.Hash(token))
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

// WriteBearerError answers a protected-resource request per RFC 6750 §3:
// the status of err and a WWW-Authenticate challenge naming its code. A
// request without any token gets a challenge without an error code.
func WriteBearerError(w http.ResponseWriter, err error) {
	if challenge := BearerChallenge(err); challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if errors.Is(err, ErrNoToken) {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: CodeInvalidToken, Description: "authentication is required"})
		return
	}
	e := AsError(err)
	writeJSON(w, e.Status, errorBody{Error: e.Code, Description: e.Description})
}

// BearerChallenge is the WWW-Authenticate challenge of RFC 6750 §3 for
// err: without an error code when the request carried no token (ErrNoToken),
// with err's code and description otherwise, and empty for a server fault.
func BearerChallenge(err error) string {
	if errors.Is(err, ErrNoToken) {
		return `Bearer realm="latchkey"`
	}
	e := AsError(err)
	if e.Status >= 500 {
		return ""
	}
	return fmt.Sprintf(`Bearer realm="latchkey", error=%q, error_description=%q`,
		e.Code, strings.ReplaceAll(e.Description, `"`, "'"))
}

// InsufficientScope is RFC 6750's insufficient_scope (403).
func InsufficientScope(required string) *Error {
	return &Error{Code: CodeInsufficientScope, Status: http.StatusForbidden,
		Description: fmt.Sprintf("the token's scope does not allow this; it needs %s", required)}
}
