package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"latchkey/internal/store"
)

// WellKnownClient is a public client that Latchkey can pre-register with
// its published client ID, as Gitea does, so that the tool works against a
// fresh server with no set-up.
type WellKnownClient struct {
	Key  string // name in the --preregistered-clients setting
	ID   string
	Name string
}

// WellKnownClients are Gitea's default applications, with the client IDs
// those tools ship with.
var WellKnownClients = []WellKnownClient{
	{Key: "git-credential-oauth", ID: "a4792ccc-144e-407e-86c9-5e7d8d9c3269", Name: "git-credential-oauth"},
	{Key: "git-credential-manager", ID: "e90ee53c-94e2-48ac-9358-a874fb9e0662", Name: "Git Credential Manager"},
	{Key: "tea", ID: "d57cb8c4-630c-4168-8324-ec79935e18d4", Name: "tea"},
}

// DefaultPreregisteredClients is the default of --preregistered-clients.
const DefaultPreregisteredClients = "git-credential-oauth,git-credential-manager,tea"

// wellKnownScopes are what those tools may ask for: repository access for
// git, and the user's identity. A request without scope gets REPO_WRITE,
// which clone and push need.
const (
	wellKnownScopes        = "PUBLIC_REPOS REPO_READ REPO_WRITE read:repository write:repository read:user openid profile email"
	wellKnownDefaultScopes = "REPO_WRITE"
)

// wellKnownRedirects are the redirect URIs of the well-known clients:
// loopback on any port (RFC 8252 §7.3), by IP literal as RFC 8252
// advises and by "localhost", which some tools send.
var wellKnownRedirects = []string{"http://127.0.0.1", "https://127.0.0.1", "http://[::1]", "http://localhost"}

// earlierWellKnownRedirects are the redirect URIs an earlier release
// registered; a client that still has exactly these gets the current ones.
var earlierWellKnownRedirects = []string{"http://127.0.0.1", "https://127.0.0.1", "http://[::1]"}

// ParsePreregistered validates the --preregistered-clients setting: a
// comma-separated list of keys of WellKnownClients, or empty for none.
func ParsePreregistered(setting string) ([]string, error) {
	var keys []string
	for _, k := range strings.Split(setting, ",") {
		k = strings.TrimSpace(k)
		if k == "" || k == "none" {
			continue
		}
		if !slices.ContainsFunc(WellKnownClients, func(c WellKnownClient) bool { return c.Key == k }) {
			return nil, fmt.Errorf("unknown pre-registered client %q (known: %s)", k, DefaultPreregisteredClients)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// SyncWellKnownClients registers the enabled well-known clients (public,
// PKCE required, loopback redirects on any port) that are missing, and
// deletes the disabled ones an earlier start registered, with their
// consents and tokens. An enabled client that exists is left as it is, so
// an administrator's changes (a suspension, say) survive restarts. Clients
// it registers are created at now.
func SyncWellKnownClients(ctx context.Context, st store.Store, enabled []string, now time.Time) error {
	for _, wk := range WellKnownClients {
		if !slices.Contains(enabled, wk.Key) {
			if err := st.DeleteClient(ctx, wk.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("remove client %s: %w", wk.Key, err)
			}
			continue
		}
		c, err := st.GetClient(ctx, wk.ID)
		if err == nil {
			if err := upgradeWellKnown(ctx, st, c); err != nil {
				return fmt.Errorf("sync client %s: %w", wk.Key, err)
			}
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("sync client %s: %w", wk.Key, err)
		}
		if err := createWellKnown(ctx, st, wk, now); err != nil {
			return err
		}
	}
	return nil
}

func createWellKnown(ctx context.Context, st store.Store, wk WellKnownClient, now time.Time) error {
	c, err := buildClient(NewClient{
		Name: wk.Name, RedirectURIs: wellKnownRedirects,
		Scopes: wellKnownScopes, DefaultScopes: wellKnownDefaultScopes, Public: true,
		GrantTypes: "authorization_code refresh_token urn:ietf:params:oauth:grant-type:device_code",
	}, now)
	if err != nil {
		return fmt.Errorf("build client %s: %w", wk.Key, err)
	}
	c.ID = wk.ID
	_, err = st.CreateClient(ctx, c)
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) { // another node was first
		return fmt.Errorf("register client %s: %w", wk.Key, err)
	}
	return nil
}

// upgradeWellKnown gives a well-known client registered by an earlier
// release the redirect URIs of this one, if it still has exactly the ones
// that release registered (an administrator's change is left alone).
func upgradeWellKnown(ctx context.Context, st store.Store, c store.Client) error {
	if !slices.Equal(c.RedirectURIs, earlierWellKnownRedirects) {
		return nil
	}
	_, err := st.UpdateClient(ctx, c.ID, func(c store.Client) (store.Client, error) {
		if slices.Equal(c.RedirectURIs, earlierWellKnownRedirects) {
			c.RedirectURIs = slices.Clone(wellKnownRedirects)
		}
		return c, nil
	})
	return err
}
