package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"latchkey/internal/oauth"
	"latchkey/internal/resource"
	"latchkey/internal/scope"
	"latchkey/internal/secret"
	"latchkey/internal/store"
)

// NewResourceServer is an administrator's registration of an external
// resource server (RFC 8707): a resource that accepts Latchkey's RFC 9068
// JWT access tokens, such as an MCP server.
type NewResourceServer struct {
	URI    string // its resource identifier: https (http only on loopback), no fragment
	Name   string // shown on the consent page
	Scopes string // space-separated scopes it understands
	// Introspect creates a confidential client whose credentials the
	// resource server presents at the introspection endpoint to learn
	// whether a token for it is still active.
	Introspect bool
	// AllowInsecure allows an http URI on any host (development only).
	AllowInsecure bool
}

// maxResourceScopes bounds the scopes of one resource server.
const maxResourceScopes = 64

// CreateResourceServer registers a resource server of the server whose
// issuer is issuer. It returns the introspection client's secret, shown
// once, when n.Introspect. Latchkey's own resources cannot be registered.
func CreateResourceServer(ctx context.Context, st store.Store, issuer string, n NewResourceServer, now time.Time) (store.ResourceServer, string, error) {
	rs, err := buildResourceServer(issuer, n, now)
	if err != nil {
		return store.ResourceServer{}, "", err
	}
	plain := ""
	if n.Introspect {
		plain = secret.New(secret.ClientSecretPrefix)
		c, err := st.CreateClient(ctx, store.Client{
			ID: secret.NewID(), Name: "Introspection of " + rs.Name, SecretHash: secret.Hash(plain), CreatedAt: now,
		})
		if err != nil {
			return store.ResourceServer{}, "", fmt.Errorf("create introspection client: %w", err)
		}
		rs.IntrospectionClientID = c.ID
	}
	created, err := st.CreateResourceServer(ctx, rs)
	if err != nil {
		if rs.IntrospectionClientID != "" {
			_ = st.DeleteClient(ctx, rs.IntrospectionClientID)
		}
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.ResourceServer{}, "", failed(store.ErrAlreadyExists, "resource server %s is already registered", rs.URI)
		}
		return store.ResourceServer{}, "", fmt.Errorf("create resource server: %w", err)
	}
	return created, plain, nil
}

// buildResourceServer validates a registration.
func buildResourceServer(issuer string, n NewResourceServer, now time.Time) (store.ResourceServer, error) {
	u, err := url.Parse(n.URI)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return store.ResourceServer{}, invalid("the resource URI %q must be an absolute URI", n.URI)
	case u.Fragment != "" || strings.Contains(n.URI, "#"):
		return store.ResourceServer{}, invalid("the resource URI %q must not have a fragment", n.URI)
	case u.User != nil:
		return store.ResourceServer{}, invalid("the resource URI %q must not carry user information", n.URI)
	case u.Scheme != "https" && !(u.Scheme == "http" && (n.AllowInsecure || oauth.IsLoopbackHost(u.Hostname()))):
		return store.ResourceServer{}, invalid("the resource URI %q must use https (http only on a loopback host)", n.URI)
	case resource.IsOwn(issuer, n.URI):
		return store.ResourceServer{}, invalid("%s is one of Latchkey's own resources", n.URI)
	}
	name := strings.TrimSpace(n.Name)
	if name == "" || len(name) > 200 {
		return store.ResourceServer{}, invalid("the resource server name must be 1-200 characters")
	}
	scopes := strings.Fields(n.Scopes)
	if len(scopes) > maxResourceScopes {
		return store.ResourceServer{}, invalid("at most %d scopes", maxResourceScopes)
	}
	for _, s := range scopes {
		if !scope.ValidToken(s) || len(s) > 200 {
			return store.ResourceServer{}, invalid("%q is not a scope token (RFC 6749 §3.3)", s)
		}
	}
	slices.Sort(scopes)
	return store.ResourceServer{URI: n.URI, Name: name, Scopes: slices.Compact(scopes), CreatedAt: now}, nil
}

// DeleteResourceServer removes the resource server of uri and its
// introspection client. Tokens already issued for it are no longer
// refreshed or reported active; the JWTs it holds stay valid for it until
// they expire (it verifies them offline).
func DeleteResourceServer(ctx context.Context, st store.Store, uri string) error {
	rs, err := st.GetResourceServer(ctx, uri)
	if errors.Is(err, store.ErrNotFound) {
		return failed(store.ErrNotFound, "no resource server %s", uri)
	}
	if err != nil {
		return err
	}
	if err := st.DeleteResourceServer(ctx, uri); err != nil {
		return fmt.Errorf("delete resource server: %w", err)
	}
	if rs.IntrospectionClientID != "" {
		if err := st.DeleteClient(ctx, rs.IntrospectionClientID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete introspection client: %w", err)
		}
	}
	return nil
}
