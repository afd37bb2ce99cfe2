package oauth

import (
	"context"
	"errors"
	"fmt"
	"latchkey/internal/audit"
	"net/http"
	"strconv"

	"latchkey/internal/resource"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// RevokeHandler serves token revocation (RFC 7009). The client
// authenticates as at the token endpoint. Revoking either token of a grant
// revokes the whole family: the refresh token and every access token issued
// with it stop working at once, on every node. An unknown or already dead
// token is not an error (§2.2).
func (p *Provider) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.revoke(w, r); err != nil {
			WriteError(w, p.log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
}

func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) error {
	params, client, err := p.authenticatedPost(w, r)
	if err != nil {
		return err
	}
	token := params.Get("token")
	if token == "" {
		return InvalidRequest("token is required")
	}
	_, fam, err := p.store.GetToken(r.Context(), secret.TokenKey(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return ServerError(fmt.Errorf("revoke: load token: %w", err))
	}
	if fam.ClientID != client.ID {
		return UnauthorizedClient("the token was not issued to this client")
	}
	if err := p.store.RevokeFamily(r.Context(), fam.ID, p.cfg.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return ServerError(fmt.Errorf("revoke: %w", err))
	}
	p.Audit(r.Context(), store.AuditEvent{Event: audit.TokenRevoked, UserID: fam.UserID, ClientID: client.ID,
		Remote: RemoteAddress(r), Detail: "the application revoked a token (RFC 7009); every token of its grant is revoked"})
	return nil
}

// authenticatedPost reads a POST's parameters and authenticates its client.
func (p *Provider) authenticatedPost(w http.ResponseWriter, r *http.Request) (Params, store.Client, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, store.Client{}, &Error{Code: CodeInvalidRequest, Status: http.StatusMethodNotAllowed,
			Description: "this endpoint accepts only POST"}
	}
	params, err := ReadParams(w, r)
	if err != nil {
		return nil, store.Client{}, err
	}
	client, err := p.AuthenticateClient(r.Context(), r, params)
	return params, client, err
}

// introspection is the RFC 7662 §2.2 response.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       any    `json:"aud,omitempty"` // a string, or an array of several
	Iss       string `json:"iss,omitempty"`
}

// IntrospectHandler serves token introspection (RFC 7662). Only a
// confidential client may introspect, and only its own tokens: for any other
// token the answer is {"active":false}, so that one client cannot probe
// another's.
func (p *Provider) IntrospectHandler() http.Handler {
	return p.jsonEndpoint(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return p.introspect(w, r)
	})
}

func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) (introspection, error) {
	params, client, err := p.authenticatedPost(w, r)
	if err != nil {
		return introspection{}, err
	}
	if client.Public {
		return introspection{}, InvalidClient("introspection requires a confidential client")
	}
	token := params.Get("token")
	if token == "" {
		return introspection{}, InvalidRequest("token is required")
	}
	return p.describe(r.Context(), client, token)
}

// describe says whether token is live for client and what it is.
func (p *Provider) describe(ctx context.Context, client store.Client, token string) (introspection, error) {
	tok, fam, err := p.store.GetToken(ctx, secret.TokenKey(token))
	if errors.Is(err, store.ErrNotFound) {
		return introspection{}, nil
	}
	if err != nil {
		return introspection{}, ServerError(fmt.Errorf("introspect: load token: %w", err))
	}
	live := !fam.Revoked() && tok.Generation == fam.Generation && p.cfg.Now().Before(tok.ExpiresAt)
	if !live {
		return introspection{}, nil
	}
	aud, ok, err := p.introspectable(ctx, client, tok, fam)
	if err != nil || !ok {
		return introspection{}, err
	}
	user, err := p.store.GetUser(ctx, fam.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return introspection{}, nil
	}
	if err != nil {
		return introspection{}, ServerError(fmt.Errorf("introspect: load user: %w", err))
	}
	resp := introspection{
		Active: true, Scope: scope.Set(tok.Scopes).String(), ClientID: fam.ClientID, Username: user.Username,
		Exp: tok.ExpiresAt.Unix(), Iat: tok.CreatedAt.Unix(), Sub: strconv.FormatInt(user.ID, 10),
		Aud: aud, Iss: p.cfg.Issuer,
	}
	if tok.Kind == store.AccessToken {
		resp.TokenType = "bearer"
	}
	return resp, nil
}

// introspectable decides whether client may learn about tok, and with
// which audience: the client the token was issued to may (the audience
// is then its resources, or its own ID for a token of Latchkey's
// code-hosting resource, as before resource indicators); so may the
// introspection client of an external resource server the token is for
// (the audience is that server). A token for an external resource server
// that has since been removed is no longer active for anyone.
func (p *Provider) introspectable(ctx context.Context, client store.Client, tok store.Token, fam store.TokenFamily) (any, bool, error) {
	var audience []string
	for _, id := range tok.Resources {
		if resource.IsOwn(p.cfg.Issuer, id) {
			audience = append(audience, id)
			continue
		}
		// Only a token for an external resource server costs a lookup.
		rs, err := p.store.GetResourceServer(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, false, nil // its resource server is gone
		}
		if err != nil {
			return nil, false, ServerError(fmt.Errorf("introspect: load resource server: %w", err))
		}
		if rs.IntrospectionClientID != "" && rs.IntrospectionClientID == client.ID {
			return rs.URI, true, nil
		}
		audience = append(audience, id)
	}
	switch {
	case fam.ClientID != client.ID:
		return nil, false, nil
	case len(audience) == 0:
		return client.ID, true, nil
	case len(audience) == 1:
		return audience[0], true, nil
	}
	return audience, true, nil
}
