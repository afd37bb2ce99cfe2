package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/store"
)

// Issue 14: RFC 9728 protected resource metadata, RFC 8707 resource
// indicators and RFC 9068 JWT access tokens, over real HTTP.

// getJSON fetches url and decodes its JSON object.
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func TestProtectedResourceMetadataAndChallenges(t *testing.T) {
	n := newRSNode(t)
	base := n.env.URL
	for path, want := range map[string]string{
		"/.well-known/oauth-protected-resource":     base,
		"/.well-known/oauth-protected-resource/mcp": base + "/mcp",
	} {
		status, doc := getJSON(t, base+path)
		servers, _ := doc["authorization_servers"].([]any)
		scopes, _ := doc["scopes_supported"].([]any)
		methods, _ := doc["bearer_methods_supported"].([]any)
		if status != http.StatusOK || doc["resource"] != want || len(servers) != 1 || servers[0] != base ||
			len(scopes) == 0 || len(methods) != 1 || methods[0] != "header" {
			t.Errorf("%s: %d %v", path, status, doc)
		}
	}
	if status, _ := getJSON(t, base+"/.well-known/oauth-protected-resource/elsewhere"); status != http.StatusNotFound {
		t.Errorf("metadata of a resource Latchkey does not have: %d, want 404", status)
	}
	// Every 401 of the REST API (both dialects) and of git names the code
	// resource's metadata; the MCP endpoint's names its own.
	code, mcp := base+"/.well-known/oauth-protected-resource", base+"/.well-known/oauth-protected-resource/mcp"
	for path, want := range map[string]string{
		"/api/v1/user":           code,
		"/rest/api/1.0/projects": code,
		"/scm/prj/repo.git/info/refs?service=git-upload-pack": code,
		"/mcp": mcp,
	} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if strings.HasPrefix(path, "/rest/api/1.0/projects") {
			req.Header.Set("Authorization", "Bearer lat_not-a-token")
		}
		if path == "/mcp" {
			req.Method = http.MethodPost
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var bearer string
		for _, c := range resp.Header.Values("WWW-Authenticate") {
			if strings.HasPrefix(c, "Bearer ") {
				bearer = c
			}
		}
		if resp.StatusCode != http.StatusUnauthorized && !(path == "/rest/api/1.0/projects" && resp.StatusCode == http.StatusOK) {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
		if resp.StatusCode == http.StatusUnauthorized && !strings.Contains(bearer, `resource_metadata="`+want+`"`) {
			t.Errorf("%s: Bearer challenge %q does not name %s", path, bearer, want)
		}
	}
}

// codeToken runs the code flow for user with resource parameters at the
// authorization and token endpoints (x/oauth2 for the exchange).
func (n *rsNode) codeToken(t *testing.T, user store.User, scopes string, authorize, token []string) (*oauth2.Token, error) {
	t.Helper()
	ctx := context.Background()
	p := n.env.Server.Provider
	q := url.Values{"response_type": {"code"}, "client_id": {n.clientID}, "redirect_uri": {redirectURI}, "scope": {scopes},
		"state": {"s"}, "resource": authorize}
	params, err := oauth.ParseQuery(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	req, err := p.ValidateAuthorize(ctx, params)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	target, err := p.IssueCode(ctx, req, user.ID, n.env.Clock.Now(), store.SignIn{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target)
	conf := &oauth2.Config{ClientID: n.clientID, ClientSecret: n.secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{TokenURL: n.env.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInHeader}}
	var opts []oauth2.AuthCodeOption
	for _, r := range token {
		opts = append(opts, oauth2.SetAuthURLParam("resource", r))
	}
	return conf.Exchange(ctx, u.Query().Get("code"), opts...)
}

func TestResourceIndicatorsAndJWTAccessTokensOverHTTP(t *testing.T) {
	n := newRSNode(t)
	base := n.env.URL
	ctx := context.Background()
	alice := n.env.User("alice", "alice-password")
	const ext = "https://tools.example.com/mcp"
	rs, introSecret, err := admin.CreateResourceServer(ctx, n.env.Store, base,
		admin.NewResourceServer{URI: ext, Name: "Tools", Scopes: "tools:call read:repository", Introspect: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// Discovery lists the registered resource server with Latchkey's own.
	_, disc := getJSON(t, base+"/.well-known/oauth-authorization-server")
	if pr, _ := disc["protected_resources"].([]any); len(pr) != 3 || pr[2] != ext {
		t.Errorf("protected_resources %v, want Latchkey's two and %s", disc["protected_resources"], ext)
	}
	// A token for the MCP endpoint opens /mcp's door but not the REST API's.
	mcpTok, err := n.codeToken(t, alice, "read:repository", []string{base + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := n.call(t, http.MethodGet, "/api/v1/user", mcpTok.AccessToken, nil); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("an MCP token at the REST API: %d %s", r.status, r.header.Get("WWW-Authenticate"))
	}
	plain, err := n.codeToken(t, alice, "read:repository", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := n.call(t, http.MethodGet, "/api/v1/user", plain.AccessToken, nil); r.status != http.StatusOK {
		t.Errorf("a token requested without resource at the REST API: %d", r.status)
	}

	// An unknown resource is invalid_target at the token endpoint.
	if _, err := n.codeToken(t, alice, "read:repository", nil, []string{"https://unknown.example"}); !isOAuthError(err, "invalid_target") {
		t.Errorf("unknown resource at the token endpoint: %v", err)
	}

	// The external resource server gets an RFC 9068 JWT, verified against
	// the published key set with go-oidc, as a resource server would.
	tok, err := n.codeToken(t, alice, "tools:call", []string{ext}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := oidc.NewRemoteKeySet(ctx, base+"/login/oauth/keys")
	verifier := oidc.NewVerifier(base, keys, &oidc.Config{ClientID: ext, SupportedSigningAlgs: []string{"RS256", "ES256", "EdDSA"}})
	idt, err := verifier.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("the JWT access token does not verify with the JWKS: %v", err)
	}
	var claims struct {
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
		JTI      string `json:"jti"`
	}
	if err := idt.Claims(&claims); err != nil || claims.ClientID != n.clientID || claims.Scope != "tools:call" || claims.JTI == "" ||
		idt.Subject != strconv.FormatInt(alice.ID, 10) {
		t.Fatalf("claims %+v sub %q (%v)", claims, idt.Subject, err)
	}
	parsed, err := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil || parsed.Signatures[0].Protected.ExtraHeaders[jose.HeaderType] != "at+jwt" {
		t.Fatalf("typ of the JWT access token: %v (%v)", parsed.Signatures[0].Protected.ExtraHeaders, err)
	}
	if r := n.call(t, http.MethodGet, "/api/v1/user", tok.AccessToken, nil); r.status != http.StatusUnauthorized {
		t.Errorf("a JWT for an external resource server at Latchkey's REST API: %d", r.status)
	}
	// The resource server introspects with its own credentials.
	form := url.Values{"token": {tok.AccessToken}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login/oauth/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(rs.IntrospectionClientID, introSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var intro map[string]any
	if err := json.Unmarshal(body, &intro); err != nil || intro["active"] != true || intro["aud"] != ext {
		t.Fatalf("introspection by the resource server: %d %s", resp.StatusCode, body)
	}
	// Through the consent page: it names where the access goes, and the
	// form carries both resources back (one hidden field each).
	b := n.env.Browser("alice", "alice-password")
	b.Decision = "approve"
	q := url.Values{"response_type": {"code"}, "client_id": {n.clientID}, "redirect_uri": {redirectURI},
		"scope": {"tools:call read:repository"}, "state": {"s"}, "resource": {base + "/mcp", ext}, "prompt": {"consent"}}
	back, err := b.Authorize(base + "/login/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatalf("browser flow: %v", err)
	}
	consent := b.Pages[len(b.Pages)-1]
	for _, want := range []string{"Tools, a service outside this server", "this server&#39;s MCP endpoint", "at Tools.", ext} {
		if !strings.Contains(consent, want) {
			t.Errorf("the consent page does not say %q:\n%s", want, consent)
		}
	}
	conf := &oauth2.Config{ClientID: n.clientID, ClientSecret: n.secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{TokenURL: base + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInHeader}}
	mcpOnly, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.SetAuthURLParam("resource", base+"/mcp"))
	if err != nil {
		t.Fatalf("exchange for the MCP endpoint: %v", err)
	}
	if mcpOnly.Extra("scope") != "read:repository" {
		t.Errorf("the MCP token carries scope %v, want Latchkey's part only", mcpOnly.Extra("scope"))
	}
}

// TestDeviceGrantForTheMCPEndpoint: a command-line agent asks for the MCP
// endpoint with the device grant (x/oauth2); the confirmation page names
// the resource, and the token opens /mcp but not the REST API.
func TestDeviceGrantForTheMCPEndpoint(t *testing.T) {
	f := newDeviceFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mcp := oauth2.SetAuthURLParam("resource", f.env.URL+"/mcp")
	da, err := f.conf.DeviceAuth(ctx, mcp)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	b := f.env.Browser("alice", "alice-password")
	done := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := b.Device(da.VerificationURIComplete)
		done <- err
	}()
	tok, err := f.conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("device access token: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if page := strings.Join(b.Pages, "\n"); !strings.Contains(page, "this server&#39;s MCP endpoint") {
		t.Errorf("the device confirmation page does not name the MCP endpoint:\n%s", page)
	}
	call := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, f.env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := call("/api/v1/user"); s != http.StatusUnauthorized {
		t.Errorf("the device token for /mcp at the REST API: %d", s)
	}
	if s := call("/mcp"); s != http.StatusMethodNotAllowed {
		t.Errorf("the device token at GET /mcp: %d, want 405 (authenticated; no event stream)", s)
	}
}
