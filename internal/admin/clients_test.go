package admin_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/store"
	"latchkey/internal/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRefusedRegistrationsAreInvalidWithAMessageToShow: every refusal of
// client registration is one typed ErrInvalid error whose message names the
// problem, and nothing is stored; a valid registration is stored as given.
func TestRefusedRegistrationsAreInvalidWithAMessageToShow(t *testing.T) {
	st := openStore(t)
	ok := admin.NewClient{Name: "App", RedirectURIs: []string{"https://app.example/cb"}}
	for _, c := range []struct {
		name string
		edit func(*admin.NewClient)
		want string
	}{
		{"an empty name", func(n *admin.NewClient) { n.Name = "  " }, "client name must be 1-200 characters"},
		{"a name over 200 characters", func(n *admin.NewClient) { n.Name = strings.Repeat("x", 201) }, "client name must be 1-200 characters"},
		{"no redirect URI", func(n *admin.NewClient) { n.RedirectURIs = nil }, "at least one redirect URI is required"},
		{"a plain-http redirect URI", func(n *admin.NewClient) { n.RedirectURIs = []string{"http://app.example/cb"} }, "must use https"},
		{"a redirect URI with a fragment", func(n *admin.NewClient) { n.RedirectURIs = []string{"https://app.example/cb#x"} }, "must not contain a fragment"},
		{"an unknown scope", func(n *admin.NewClient) { n.Scopes = "REPO_READ NOPE" }, "scopes \"REPO_READ NOPE\""},
		{"default scopes beyond the scopes", func(n *admin.NewClient) { n.Scopes, n.DefaultScopes = "REPO_READ", "REPO_WRITE" }, "are not within the client's scopes"},
		{"an unknown grant type", func(n *admin.NewClient) { n.GrantTypes = "password" }, "grant type \"password\" is not supported"},
		{"a public client with client_credentials", func(n *admin.NewClient) { n.Public, n.GrantTypes = true, "client_credentials" }, "a public client cannot use client_credentials"},
	} {
		t.Run(c.name, func(t *testing.T) {
			nc := ok
			c.edit(&nc)
			_, _, err := admin.CreateClient(context.Background(), st, nc, time.Now())
			var ae *admin.Error
			if !errors.Is(err, admin.ErrInvalid) || !errors.As(err, &ae) || !strings.Contains(ae.Message, c.want) {
				t.Fatalf("CreateClient = %v, want an ErrInvalid *admin.Error saying %q", err, c.want)
			}
		})
	}
	clients, err := store.All(context.Background(), st.ListClients)
	if err != nil || len(clients) != 0 {
		t.Fatalf("refused registrations stored %d clients (%v)", len(clients), err)
	}
	c, plain, err := admin.CreateClient(context.Background(), st, ok, time.Now())
	if err != nil || c.Name != "App" || plain == "" {
		t.Fatalf("valid registration: %+v, secret %q, %v", c, plain, err)
	}
}

// TestRefusedUpdateIsInvalidAndChangesNothing: an update is validated like
// a registration, and a refused one leaves the client as it was.
func TestRefusedUpdateIsInvalidAndChangesNothing(t *testing.T) {
	st := openStore(t)
	c, _, err := admin.CreateClient(context.Background(), st, admin.NewClient{Name: "App", RedirectURIs: []string{"https://app.example/cb"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.UpdateClient(context.Background(), st, c.ID, admin.ClientChanges{Name: "Renamed", RedirectURIs: []string{"javascript:alert(1)"}})
	var ae *admin.Error
	if !errors.Is(err, admin.ErrInvalid) || !errors.As(err, &ae) || !strings.Contains(ae.Message, "forbidden scheme") {
		t.Fatalf("UpdateClient = %v, want an ErrInvalid *admin.Error about the scheme", err)
	}
	got, err := st.GetClient(context.Background(), c.ID)
	if err != nil || got.Name != "App" {
		t.Fatalf("after a refused update: %+v, %v", got, err)
	}
}
