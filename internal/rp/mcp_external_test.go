package rp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// externalMCP is an MCP server written with the official Go SDK, as a
// third party would run it: Latchkey is its authorization server, and it
// verifies Latchkey's RFC 9068 JWT access tokens offline.
type externalMCP struct {
	resource string   // its audience URI, the MCP endpoint
	scopes   []string // the scopes it requires
	count    atomic.Int64
}

// verified says how many tokens the server accepted.
func (x *externalMCP) verified() int64 { return x.count.Load() }

// jwtClaims are the RFC 9068 claims the external server checks.
type jwtClaims struct {
	Issuer   string       `json:"iss"`
	Subject  string       `json:"sub"`
	Audience audienceList `json:"aud"`
	Expiry   int64        `json:"exp"`
	IssuedAt int64        `json:"iat"`
	ID       string       `json:"jti"`
	ClientID string       `json:"client_id"`
	Scope    string       `json:"scope"`
}

// audienceList is aud, a string or an array of strings (RFC 7519 §4.1.3).
type audienceList []string

func (a *audienceList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audienceList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// startExternalMCP serves, on a loopback port, the protected resource
// metadata (naming Latchkey) and an MCP endpoint at /mcp behind
// RequireBearerToken with a tool whoami that answers with the verified
// claims.
func startExternalMCP(t *testing.T, env *testkit.Env, jwksURI string) *externalMCP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	// It understands one of Latchkey's scopes: the administrator registers
	// it with that scope, which the client asks for.
	x := &externalMCP{resource: base + "/mcp", scopes: []string{"read:repository"}}
	keys := &jwksCache{url: jwksURI}
	verifier := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		claims, err := verifyAccessJWT(ctx, keys, token, env.URL, x.resource, env.Clock.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
		}
		x.count.Add(1)
		raw, _ := json.Marshal(claims)
		return &auth.TokenInfo{Scopes: strings.Fields(claims.Scope), Expiration: time.Unix(claims.Expiry, 0),
			UserID: claims.Subject, Extra: map[string]any{"claims": string(raw)}}, nil
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "external-e2e", Version: "1.0.0"}, nil)
	type none struct{}
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "the verified claims of the caller's access token"},
		func(_ context.Context, req *mcp.CallToolRequest, _ none) (*mcp.CallToolResult, any, error) {
			info := req.Extra.TokenInfo
			if info == nil {
				return nil, nil, fmt.Errorf("no token")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: info.Extra["claims"].(string)}}}, nil, nil
		})
	prmURL := base + "/.well-known/oauth-protected-resource/mcp"
	mux := http.NewServeMux()
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: x.resource, AuthorizationServers: []string{env.URL}, ScopesSupported: x.scopes,
		BearerMethodsSupported: []string{"header"}, ResourceName: "External MCP (test)",
	}))
	mux.Handle("/mcp", auth.RequireBearerToken(verifier, &auth.RequireBearerTokenOptions{ResourceMetadataURL: prmURL, Scopes: x.scopes})(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return x
}

// jwksCache holds the authorization server's JWKS, fetched once and again
// when a token names a key it does not know (key rotation).
type jwksCache struct {
	url  string
	mu   sync.Mutex
	keys jose.JSONWebKeySet
}

func (c *jwksCache) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; attempt < 2; attempt++ {
		if k := c.keys.Key(kid); len(k) > 0 {
			return &k[0], nil
		}
		if attempt == 1 {
			break
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		err = json.NewDecoder(resp.Body).Decode(&c.keys)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("JWKS: %v", err)
		}
	}
	return nil, fmt.Errorf("no key %q in the JWKS", kid)
}

// verifyAccessJWT checks an RFC 9068 access token offline: a JWS signed by
// a key of the issuer's JWKS, typ at+jwt, iss, aud containing audience,
// exp after now, and client_id present.
func verifyAccessJWT(ctx context.Context, keys *jwksCache, token, issuer, audience string, now time.Time) (jwtClaims, error) {
	var claims jwtClaims
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.PS256})
	if err != nil {
		return claims, fmt.Errorf("not a JWT: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return claims, fmt.Errorf("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return claims, fmt.Errorf("typ %q, want at+jwt (RFC 9068 §2.1)", typ)
	}
	key, err := keys.key(ctx, h.KeyID)
	if err != nil {
		return claims, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return claims, fmt.Errorf("signature: %v", err)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return claims, fmt.Errorf("claims: %v", err)
	}
	switch {
	case claims.Issuer != issuer:
		return claims, fmt.Errorf("iss %q, want %q", claims.Issuer, issuer)
	case !slices.Contains(claims.Audience, audience):
		return claims, fmt.Errorf("aud %q does not contain %q", claims.Audience, audience)
	case claims.Expiry == 0 || !now.Before(time.Unix(claims.Expiry, 0)):
		return claims, fmt.Errorf("expired at %d (now %d)", claims.Expiry, now.Unix())
	case claims.ClientID == "" || claims.Subject == "" || claims.ID == "":
		return claims, fmt.Errorf("client_id, sub or jti missing: %+v", claims)
	}
	return claims, nil
}

// registerResourceServer registers the external server in Latchkey as an
// administrator does (store.ResourceServer): its URI, name and scopes.
func registerResourceServer(t *testing.T, env *testkit.Env, uri, name string, scopes []string) {
	t.Helper()
	if _, err := env.Store.CreateResourceServer(context.Background(), store.ResourceServer{
		URI: uri, Name: name, Scopes: scopes, CreatedAt: env.Clock.Now(),
	}); err != nil {
		t.Fatalf("register the resource server %s: %v", uri, err)
	}
}

// TestExternalVerifierRefusesWhatRFC9068Forbids checks the external
// server's offline verifier on its own, with tokens the test signs: it
// accepts a good one and refuses a wrong typ, issuer, audience, an expired
// token, one without client_id, an unknown key and a bad signature, so that
// its acceptance of Latchkey's tokens in the end-to-end test means
// something.
func TestExternalVerifierRefusesWhatRFC9068Forbids(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jwks)
	}))
	defer srv.Close()
	const issuer, audience = "https://as.example", "https://mcp.example/mcp"
	now := time.Now()
	good := map[string]any{"iss": issuer, "sub": "7", "aud": audience, "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "jti": "j1", "client_id": "c1", "scope": "read:repository"}
	sign := func(k *rsa.PrivateKey, kid, typ string, change func(map[string]any)) string {
		claims := maps.Clone(good)
		if change != nil {
			change(claims)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k},
			(&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(claims)
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name  string
		token string
		ok    bool
	}{
		{"good", sign(key, "k1", "at+jwt", nil), true},
		{"aud as an array", sign(key, "k1", "at+jwt", func(c map[string]any) { c["aud"] = []string{"x", audience} }), true},
		{"typ JWT", sign(key, "k1", "JWT", nil), false},
		{"another issuer", sign(key, "k1", "at+jwt", func(c map[string]any) { c["iss"] = "https://evil.example" }), false},
		{"another audience", sign(key, "k1", "at+jwt", func(c map[string]any) { c["aud"] = "https://as.example" }), false},
		{"expired", sign(key, "k1", "at+jwt", func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() }), false},
		{"no client_id", sign(key, "k1", "at+jwt", func(c map[string]any) { delete(c, "client_id") }), false},
		{"unknown key", sign(other, "k2", "at+jwt", nil), false},
		{"signed by another key under a known kid", sign(other, "k1", "at+jwt", nil), false},
		{"opaque", "lka_not-a-jwt", false},
	}
	for _, c := range cases {
		_, err := verifyAccessJWT(context.Background(), &jwksCache{url: srv.URL}, c.token, issuer, audience, now)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want accepted %v", c.name, err, c.ok)
		}
	}
}
