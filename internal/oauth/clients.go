package oauth

import (
	"context"
	"errors"
	"fmt"

	"latchkey/internal/store"
)

// ClientSource finds the client a client_id names. The store is the
// source of registered clients; package clientmeta is another, which
// also knows the clients whose client_id is the https URL of a client ID
// metadata document, fetched on first use and stored as a client of
// origin store.OriginMetadata.
//
// Client returns store.ErrNotFound (wrapped) when id names no client,
// an *UnusableClientError when it names one that cannot be used now (a
// metadata document that could not be fetched or is invalid), and
// other errors for faults.
type ClientSource interface {
	Client(ctx context.Context, id string) (store.Client, error)
}

// UnusableClientError is a client_id that names a client Latchkey cannot
// use now; Reason says why, in words fit for the person on the page and
// for the client's developer.
type UnusableClientError struct {
	ClientID string
	Reason   string
}

func (e *UnusableClientError) Error() string {
	return fmt.Sprintf("client %q cannot be used: %s", e.ClientID, e.Reason)
}

// client loads the client of id from the configured source.
func (p *Provider) client(ctx context.Context, id string) (store.Client, error) {
	if p.cfg.Clients != nil {
		return p.cfg.Clients.Client(ctx, id)
	}
	return p.store.GetClient(ctx, id)
}

// Client loads the client of id as the protocol core does (for the
// pages that show it).
func (p *Provider) Client(ctx context.Context, id string) (store.Client, error) {
	return p.client(ctx, id)
}

// asUnusable reports whether err is an *UnusableClientError.
func asUnusable(err error) (*UnusableClientError, bool) {
	var u *UnusableClientError
	ok := errors.As(err, &u)
	return u, ok
}
