package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"latchkey/internal/store"
)

// ServiceUsername is the user name of a client's service identity. It
// cannot collide with a person's: user names of people have no colon.
func ServiceUsername(clientID string) string { return "client:" + clientID }

// ServiceUser returns the service identity of client c, creating it on
// first use. It has no password, so nobody can sign in as it; it holds only
// the permissions explicitly granted to it. It is dated from the client's
// registration: it is the client's identity, whenever its row is written.
func ServiceUser(ctx context.Context, st store.Store, c store.Client) (store.User, error) {
	name := ServiceUsername(c.ID)
	u, err := st.GetUserByUsername(ctx, name)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return u, err
	}
	u, err = st.CreateUser(ctx, store.User{Username: name, DisplayName: "Service identity of client " + c.ID,
		CreatedAt: c.CreatedAt})
	if errors.Is(err, store.ErrAlreadyExists) {
		return st.GetUserByUsername(ctx, name)
	}
	return u, err
}

// clientCredentialsGrant issues a token to a confidential client for its
// own service identity (RFC 6749 §4.4), never for a user. No refresh token
// is issued (§4.4.3): the client can always ask again.
type clientCredentialsGrant struct{ p *Provider }

func (g clientCredentialsGrant) handle(ctx context.Context, client store.Client, params Params) (*TokenResponse, error) {
	if client.Public {
		return nil, UnauthorizedClient("only a confidential client may use client_credentials")
	}
	t, err := g.p.resolveTarget(ctx, params.Resources())
	if err != nil {
		return nil, err
	}
	if len(t.external) > 0 && len(t.ids) > 1 {
		return nil, InvalidTarget("name one resource to get a token for an external resource server")
	}
	scopes, e := g.p.requestedScopes(client, params.Get("scope"), t)
	if e != nil {
		return nil, e
	}
	svc, err := ServiceUser(ctx, g.p.store, client)
	if err != nil {
		return nil, ServerError(fmt.Errorf("client credentials: service identity: %w", err))
	}
	is := issuance{scopes: scopes, resources: t.ids, target: t, access: g.p.forTarget(scopes, t)}
	if err := g.p.prepareJWT(ctx, &is, client.ID, 0, time.Time{}); err != nil {
		return nil, err
	}
	now := g.p.cfg.Now()
	draw := drawTokens(false, now)
	toks, err := g.p.tokens(&draw, is, now)
	if err != nil {
		return nil, err
	}
	_, err = g.p.store.CreateFamily(ctx, store.Issue{
		Family: store.TokenFamily{ClientID: client.ID, UserID: svc.ID, Scopes: scopes, CreatedAt: now, Resources: t.ids},
		Tokens: toks,
	}, now)
	if err != nil {
		return nil, AsError(fmt.Errorf("client credentials: store: %w", err))
	}
	return g.p.response(draw, is.access), nil
}
