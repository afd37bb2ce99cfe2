package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"latchkey/internal/scope"
	"latchkey/internal/store"
)

// authorizedApp is an application the user authorized: its live token
// families and its remembered consent, together.
type authorizedApp struct {
	ClientID   string
	Name       string
	Scopes     []consentScope
	GrantedAt  time.Time // the earliest live grant or consent
	LastUsedAt time.Time // zero: never used
	// Origin is the client's store.ClientOrigin ("" if it is gone).
	Origin string
	scopes scope.Set
}

// authorizedApps lists, by application name, what the user authorized:
// every application with a live token family or a remembered consent.
func (p *Pages) authorizedApps(ctx context.Context, userID int64) ([]authorizedApp, error) {
	now := p.provider.Now()
	families, err := store.All(ctx, func(ctx context.Context, pg store.Page) ([]store.UserFamily, store.Cursor, error) {
		return p.store.ListFamiliesByUser(ctx, userID, now, pg)
	})
	if err != nil {
		return nil, fmt.Errorf("list authorized applications: %w", err)
	}
	consents, err := store.All(ctx, store.Bind(p.store.ListConsentsByUser, userID))
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
	}
	byClient := map[string]*authorizedApp{}
	entry := func(clientID, name string, scopes []string, granted time.Time) *authorizedApp {
		a, ok := byClient[clientID]
		if !ok {
			a = &authorizedApp{ClientID: clientID, Name: name, GrantedAt: granted}
			byClient[clientID] = a
		}
		a.scopes = a.scopes.Union(scopes)
		if granted.Before(a.GrantedAt) {
			a.GrantedAt = granted
		}
		return a
	}
	for _, f := range families {
		a := entry(f.Family.ClientID, f.ClientName, f.Family.Scopes, f.Family.CreatedAt)
		if f.Family.LastUsedAt.After(a.LastUsedAt) {
			a.LastUsedAt = f.Family.LastUsedAt
		}
	}
	for _, c := range consents {
		name, err := p.clientName(ctx, c.ClientID, byClient)
		if err != nil {
			return nil, err
		}
		entry(c.ClientID, name, c.Scopes, c.GrantedAt)
	}
	out := make([]authorizedApp, 0, len(byClient))
	for _, a := range byClient {
		a.Scopes = describedScopes(a.scopes, nil)
		switch c, err := p.store.GetClient(ctx, a.ClientID); {
		case err == nil:
			a.Origin = string(c.Origin)
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("load client: %w", err)
		}
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b authorizedApp) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ClientID, b.ClientID))
	})
	return out, nil
}

// clientName is the name of a client, from the entries already built or
// from the store.
func (p *Pages) clientName(ctx context.Context, clientID string, known map[string]*authorizedApp) (string, error) {
	if a, ok := known[clientID]; ok {
		return a.Name, nil
	}
	c, err := p.store.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return clientID, nil
	}
	if err != nil {
		return "", fmt.Errorf("load client %s: %w", clientID, err)
	}
	return c.Name, nil
}

// pluralize writes a count with its noun, in the plural unless it is one.
func pluralize(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
