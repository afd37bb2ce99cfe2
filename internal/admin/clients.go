package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// ClientChanges are the settings of a registered client that its owner
// (or an administrator) may change. Whether the client is public, its ID
// and its owner stay as registered.
type ClientChanges struct {
	Name         string
	RedirectURIs []string
	Scopes       string // space-separated; empty: DefaultClientScopes
	PKCERequired bool   // ignored for a public client, which always needs PKCE
	// AllowInsecureRedirects is the skip-redirect-URL-HTTPS setting.
	AllowInsecureRedirects bool
	// Logout, when not nil, replaces the client's logout settings
	// (validated as at registration); nil keeps them.
	Logout *LogoutSettings
}

// LogoutSettings are a client's OpenID Connect logout settings.
type LogoutSettings struct {
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
}

// UpdateClient validates ch as registration does and stores it. The
// client's default scopes stay while its new scopes still cover them, and
// fall back to PUBLIC_REPOS otherwise. Existing tokens keep their scopes:
// every request is capped by the user's permissions anyway, and the user
// can revoke them.
func UpdateClient(ctx context.Context, st store.Store, id string, ch ClientChanges) (store.Client, error) {
	c, err := st.UpdateClient(ctx, id, func(old store.Client) (store.Client, error) {
		nc := NewClient{
			Name: ch.Name, RedirectURIs: ch.RedirectURIs, Scopes: ch.Scopes,
			GrantTypes: strings.Join(old.GrantTypes, " "), Public: old.Public, PKCERequired: ch.PKCERequired,
			AllowInsecureRedirects: ch.AllowInsecureRedirects,
		}
		if ch.Logout != nil {
			nc.PostLogoutRedirectURIs, nc.BackchannelLogoutURI = ch.Logout.PostLogoutRedirectURIs, ch.Logout.BackchannelLogoutURI
		}
		built, err := buildClient(nc, old.CreatedAt)
		if err != nil {
			return store.Client{}, err
		}
		old.Name, old.RedirectURIs, old.Scopes, old.PKCERequired = built.Name, built.RedirectURIs, built.Scopes, built.PKCERequired
		if ch.Logout != nil {
			old.PostLogoutRedirectURIs, old.BackchannelLogoutURI = built.PostLogoutRedirectURIs, built.BackchannelLogoutURI
		}
		if !scope.Set(old.Scopes).Covers(old.DefaultScopes) {
			old.DefaultScopes = []string{scope.PublicRepos}
		}
		return old, nil
	})
	if err != nil {
		return store.Client{}, clientError("update", id, err)
	}
	return c, nil
}

// ErrPublicClient means an operation needs a client secret and the client
// is public (it has none).
var ErrPublicClient = errors.New("a public application has no client secret")

// RegenerateSecret gives a confidential client a new secret and returns
// it, to be shown once. Only its hash is stored, replacing the old one, so
// the old secret stops working at once, on every node.
func RegenerateSecret(ctx context.Context, st store.Store, id string) (string, error) {
	plain := secret.New(secret.ClientSecretPrefix)
	_, err := st.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
		if c.Public {
			return store.Client{}, ErrPublicClient
		}
		c.SecretHash = secret.Hash(plain)
		return c, nil
	})
	if err != nil {
		return "", clientError("regenerate the secret of", id, err)
	}
	return plain, nil
}

// SetClientSuspended suspends or reinstates a client. Suspending also
// revokes every token the client holds, so they stop working at once and
// stay dead after the client is reinstated; while suspended, the client
// can get no new ones. It returns the client and how many token families
// it revoked.
func SetClientSuspended(ctx context.Context, st store.Store, id string, suspended bool, now time.Time) (store.Client, int, error) {
	c, err := st.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
		c.Suspended = suspended
		return c, nil
	})
	if err != nil {
		return store.Client{}, 0, clientError("change", id, err)
	}
	if !suspended {
		return c, 0, nil
	}
	n, err := st.RevokeClientFamilies(ctx, id, now)
	if err != nil {
		return c, 0, fmt.Errorf("revoke the tokens of client %s: %w", id, err)
	}
	return c, n, nil
}

// DeleteClient removes a client with its codes, consents and tokens.
func DeleteClient(ctx context.Context, st store.Store, id string) error {
	if err := st.DeleteClient(ctx, id); err != nil {
		return clientError("delete", id, err)
	}
	return nil
}

// clientError says which client an operation failed on, keeping the
// store's sentinel errors visible to errors.Is.
func clientError(op, id string, err error) error {
	if errors.Is(err, ErrInvalid) {
		return err // a refused change: its message is the one to show
	}
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("client %s does not exist: %w", id, err)
	}
	return fmt.Errorf("%s client %s: %w", op, id, err)
}

// SetDeviceGrant switches the device authorization grant (RFC 8628) of a
// client on or off. Off, the device authorization endpoint answers
// unauthorized_client and the client's pending device codes can no longer
// be redeemed; its other grants and its tokens stay. An administrator
// switches it off for a pre-registered public client that their people do
// not use on devices, so that nobody can start a device flow in its
// trusted name to phish a code (RFC 8628 §5.4). SyncWellKnownClients
// leaves the choice as it is across restarts.
func SetDeviceGrant(ctx context.Context, st store.Store, id string, on bool) (store.Client, error) {
	c, err := st.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
		kept := slices.DeleteFunc(slices.Clone(c.GrantTypes), func(g string) bool { return g == oauth.GrantDeviceCode })
		if on {
			kept = append(kept, oauth.GrantDeviceCode)
		}
		c.GrantTypes = kept
		return c, nil
	})
	if err != nil {
		return store.Client{}, clientError("change", id, err)
	}
	return c, nil
}

// HasDeviceGrant reports whether c may use the device authorization grant.
func HasDeviceGrant(c store.Client) bool { return slices.Contains(c.GrantTypes, oauth.GrantDeviceCode) }

// SetClientTrusted marks a client a trusted first-party application (its
// users are not asked to consent; oauth.IsTrusted) or takes the mark
// away. Only a confidential client an administrator or a user registered
// can be trusted: a public, self-registered or metadata-document client
// is refused.
func SetClientTrusted(ctx context.Context, st store.Store, id string, trusted bool) (store.Client, error) {
	c, err := st.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
		c.Trusted = trusted
		if trusted && !oauth.IsTrusted(c) {
			return c, invalid("only a confidential client registered by an administrator or a user can be trusted; %s is public or registered itself", id)
		}
		return c, nil
	})
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return store.Client{}, err
		}
		return store.Client{}, clientError("change", id, err)
	}
	return c, nil
}
