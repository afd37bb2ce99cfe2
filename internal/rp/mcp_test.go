package rp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/server"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// The MCP tool the TypeScript client calls at Latchkey's /mcp, and the
// repositories of the scenario: alice may read PRIV/mcp-visible; bob's
// private BOB/bob-secret must never show in alice's answers.
const (
	mcpListTool    = "list_repositories"
	mcpVisibleRepo = "mcp-visible"
	mcpHiddenRepo  = "bob-secret"
)

// mcpWorld is a Latchkey node with the two users and their private
// repositories.
type mcpWorld struct {
	env   *testkit.Env
	alice int64
}

func newMCPWorld(t *testing.T, so server.Options, opts ...testkit.Option) mcpWorld {
	t.Helper()
	env := testkit.NewWithServerOptions(t, so, opts...)
	alice := env.User("alice", "alice-password")
	env.User("bob", "bob-password")
	env.Project("PRIV", false)
	env.Repo("PRIV", mcpVisibleRepo, false)
	env.Project("BOB", false)
	env.Repo("BOB", mcpHiddenRepo, false)
	env.Grant("alice", admin.Target{Repo: "PRIV/" + mcpVisibleRepo}, "REPO_READ")
	env.Grant("bob", admin.Target{Repo: "BOB/" + mcpHiddenRepo}, "REPO_READ")
	return mcpWorld{env: env, alice: alice.ID}
}

// requireLatchkeyMCP checks that the node serves /mcp behind a 401 that
// names its protected resource metadata (RFC 9728), or fails the test
// naming what is missing. It returns the metadata URL.
func requireLatchkeyMCP(t *testing.T, env *testkit.Env) string {
	t.Helper()
	status, challenge := mcpChallenge(t, env.URL+"/mcp")
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		lacking(t, "Latchkey's /mcp endpoint (internal/mcp) is not served: POST /mcp answered %d", status)
	}
	if status != http.StatusUnauthorized {
		t.Fatalf("POST /mcp without a token: %d, want 401", status)
	}
	want := env.URL + "/.well-known/oauth-protected-resource/mcp"
	if !strings.Contains(challenge, `resource_metadata="`+want+`"`) {
		lacking(t, "/mcp's 401 challenge %q does not name resource_metadata=%q (RFC 9728)", challenge, want)
	}
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if s := getJSON(t, want, &prm); s != http.StatusOK {
		lacking(t, "%s answered %d (RFC 9728 metadata)", want, s)
	}
	if prm.Resource != env.URL+"/mcp" || !slices.Contains(prm.AuthorizationServers, env.URL) {
		t.Fatalf("protected resource metadata of /mcp: %+v, want resource %s/mcp and authorization server %s", prm, env.URL, env.URL)
	}
	return want
}

// asMetadata is the part of Latchkey's RFC 8414 document these tests read.
type asMetadata struct {
	Issuer                        string `json:"issuer"`
	RegistrationEndpoint          string `json:"registration_endpoint"`
	ClientIDMetadataDocSupported  bool   `json:"client_id_metadata_document_supported"`
	JWKSURI                       string `json:"jwks_uri"`
	AuthorizationResponseIssParam bool   `json:"authorization_response_iss_parameter_supported"`
}

func authServerMetadata(t *testing.T, env *testkit.Env) asMetadata {
	t.Helper()
	var m asMetadata
	if s := getJSON(t, env.URL+"/.well-known/oauth-authorization-server", &m); s != http.StatusOK {
		t.Fatalf("RFC 8414 metadata: %d", s)
	}
	return m
}

// TestMCPTypeScriptSDKAtLatchkey runs the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk, pinned in testdata/mcp-client) as the client
// of Latchkey's /mcp, with its own OAuth client provider: the 401's
// resource_metadata leads it to the protected resource metadata (RFC
// 9728), then to Latchkey's RFC 8414 metadata; it registers (a client ID
// metadata document the test serves over HTTPS, or RFC 7591 dynamic
// registration; or uses a client an administrator registered), sends the
// person to the authorization URL (PKCE S256 and resource), which the test
// opens in headless Chromium to sign in and consent, finishes the authorization at its loopback callback, and calls
// list_repositories. Then the access token expires and the SDK refreshes;
// then the person's grant is revoked and the SDK is told to authorize
// again.
func TestMCPTypeScriptSDKAtLatchkey(t *testing.T) {
	t.Run("client ID metadata document", func(t *testing.T) { runLatchkeyMCP(t, "metadata") })
	t.Run("dynamic registration", func(t *testing.T) { runLatchkeyMCP(t, "registered") })
	t.Run("administrator-registered client", func(t *testing.T) { runLatchkeyMCP(t, "admin") })
}

func runLatchkeyMCP(t *testing.T, registration string) {
	node := requireMCPClient(t)
	var docs *clientDocs
	var so server.Options
	var opts []testkit.Option
	switch registration {
	case "metadata":
		docs = newClientDocs(t)
		so, opts = docs.options()
	case "registered":
		opts = dynamicRegistrationOptions()
	}
	w := newMCPWorld(t, so, opts...)
	env := w.env
	requireLatchkeyMCP(t, env)
	meta := authServerMetadata(t, env)

	redirectURI := fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t))
	vars := []string{"MCP_SERVER_URL=" + env.URL + "/mcp", "MCP_REDIRECT_URI=" + redirectURI, "MCP_TOOL=" + mcpListTool}
	var docURL, adminID string
	switch registration {
	case "admin":
		adminID, _ = env.Client(admin.NewClient{Name: "MCP SDK e2e", RedirectURIs: []string{redirectURI}, Public: true,
			Scopes: "read:repository"})
		vars = append(vars, "MCP_CLIENT_ID="+adminID)
	case "metadata":
		if !meta.ClientIDMetadataDocSupported {
			lacking(t, "the authorization server metadata lacks client_id_metadata_document_supported: true (internal/clientmeta)")
		}
		docURL = docs.publish("mcp-sdk", redirectURI)
		vars = append(vars, "MCP_CLIENT_ID_URL="+docURL)
	case "registered":
		if meta.RegistrationEndpoint == "" {
			lacking(t, "the authorization server metadata has no registration_endpoint (internal/register, with the policy open)")
		}
	}

	person := newChromiumUser(t, "alice", "alice-password")
	s := startMCPScript(t, node, vars...)
	start := time.Now()

	// Discovery, registration, sign-in and consent, then the first call.
	conn := s.connect(person, redirectURI)
	if conn.Error != "" {
		t.Fatalf("the SDK could not connect to Latchkey's /mcp: %s", conn.Error)
	}
	if conn.Rounds != 1 || len(person.Consents) != 1 {
		t.Fatalf("authorization rounds %d, consent pages %d; want 1 and 1", conn.Rounds, len(person.Consents))
	}
	t.Logf("the consent page: %s", person.Consents[0])
	if !strings.Contains(person.Consents[0], env.URL+"/mcp") {
		t.Errorf("the consent page does not name the resource %s/mcp:\n%s", env.URL, person.Consents[0])
	}
	// A client no administrator registered is marked as such.
	if unverified := strings.Contains(strings.ToLower(person.Consents[0]), "not verified by the administrator"); unverified != (registration != "admin") {
		t.Errorf("the consent page for a %s client says \"not verified by the administrator\": %v, want %v", registration, unverified, registration != "admin")
	}
	if !slices.Contains(conn.Tools, mcpListTool) {
		t.Fatalf("tools %q lack %s", conn.Tools, mcpListTool)
	}
	first := s.call()
	checkListed(t, "the first call", first)
	st := s.state()
	switch registration {
	case "metadata":
		if st.ClientID != docURL || len(st.Wire.Register) != 0 {
			t.Errorf("client_id %q after %d registrations, want the document URL %s and no registration", st.ClientID, len(st.Wire.Register), docURL)
		}
		if docs.fetches() == 0 {
			t.Error("Latchkey never fetched the client ID metadata document")
		}
		// A client no administrator registered: the consent page names
		// where the code goes.
		if !strings.Contains(person.Consents[0], "127.0.0.1") {
			t.Errorf("the consent page for a metadata document client does not name the redirect host 127.0.0.1:\n%s", person.Consents[0])
		}
	case "admin":
		if st.ClientID != adminID || len(st.Wire.Register) != 0 {
			t.Errorf("client_id %q after %d registrations, want %s and no registration", st.ClientID, len(st.Wire.Register), adminID)
		}
	case "registered":
		if len(st.Wire.Register) != 1 || st.ClientID == "" || strings.HasPrefix(st.ClientID, "https://") {
			t.Errorf("registrations %d, client_id %q; want one RFC 7591 registration", len(st.Wire.Register), st.ClientID)
		}
	}
	wantOrigin := map[string]store.ClientOrigin{"metadata": store.OriginMetadata, "registered": store.OriginRegistered, "admin": store.OriginAdmin}[registration]
	if c, err := env.Store.GetClient(context.Background(), st.ClientID); err != nil || c.Origin != wantOrigin {
		t.Errorf("the client %q in the store: origin %q (%v), want %q", st.ClientID, c.Origin, err, wantOrigin)
	}
	checkDiscovery(t, st, env.URL, env.URL+"/mcp")
	first1 := st.AccessToken

	// The token is bound to /mcp (RFC 8707): the REST API of the same
	// node refuses it.
	if status, e := bearerStatus(t, http.MethodGet, env.URL+"/rest/api/latest/projects/PRIV/repos/"+mcpVisibleRepo, first1); status != http.StatusUnauthorized || e != "invalid_token" {
		t.Errorf("the /mcp token at the REST API: %d %q, want 401 invalid_token", status, e)
	}

	// The access token expires: the SDK's next call meets a 401 and
	// refreshes, with the same resource.
	env.Clock.Advance(env.Config.AccessTokenTTL + time.Minute)
	second := s.call()
	checkListed(t, "the call after the access token expired", second)
	st2 := s.state()
	if st2.TokenSaves != st.TokenSaves+1 || st2.AccessToken == first1 || st2.RefreshToken == st.RefreshToken {
		t.Errorf("token saves %d then %d, access token changed %v, refresh token rotated %v; want one refresh",
			st.TokenSaves, st2.TokenSaves, st2.AccessToken != first1, st2.RefreshToken != st.RefreshToken)
	}
	if n := len(st2.Wire.Token); n == 0 || st2.Wire.Token[n-1].GrantType != "refresh_token" || st2.Wire.Token[n-1].Resource != env.URL+"/mcp" {
		t.Errorf("token requests: %s; want the last a refresh_token grant with resource %s/mcp", describe(st2.Wire.Token), env.URL)
	}

	// The grant is revoked: the next call fails and the SDK wants the
	// person again.
	if _, err := env.Store.RevokeUserClient(context.Background(), w.alice, st2.ClientID, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	third := s.call()
	if !third.Unauthorized || third.Reauthorize == "" || third.Result != nil {
		t.Errorf("the call after revocation: %s; want UnauthorizedError and a new authorization URL", describe(third))
	} else if u, err := url.Parse(third.Reauthorize); err != nil || !strings.HasPrefix(third.Reauthorize, env.URL+"/") ||
		u.Query().Get("resource") != env.URL+"/mcp" || u.Query().Get("code_challenge_method") != "S256" {
		t.Errorf("the new authorization URL %s: want Latchkey's, with resource %s/mcp and PKCE S256", third.Reauthorize, env.URL)
	}
	if status, e := bearerStatus(t, http.MethodPost, env.URL+"/mcp", st2.AccessToken); status != http.StatusUnauthorized || e != "invalid_token" {
		t.Errorf("the revoked access token at /mcp: %d %q, want 401 invalid_token", status, e)
	}
	t.Logf("%s: %d token requests, %d 401 challenges, in %v", registration, len(st2.Wire.Token), len(st2.Wire.Challenges), time.Since(start).Round(time.Millisecond))
}

// checkListed fails unless the call succeeded, listing alice's private
// repository and not bob's.
func checkListed(t *testing.T, what string, c mcpCall) {
	t.Helper()
	if c.Result == nil || c.Result.IsError {
		t.Fatalf("%s: %s", what, describe(c))
	}
	text := c.text()
	if !strings.Contains(text, `"PRIV/`+mcpVisibleRepo+`"`) {
		t.Errorf("%s does not list %s, which alice may read:\n%s", what, mcpVisibleRepo, text)
	}
	if strings.Contains(text, mcpHiddenRepo) {
		t.Errorf("%s lists bob's private %s:\n%s", what, mcpHiddenRepo, text)
	}
}

// checkDiscovery fails unless the SDK was led by a 401 naming
// resource_metadata, and sent resource in the authorization request and
// the code exchange.
func checkDiscovery(t *testing.T, st mcpState, issuer, resource string) {
	t.Helper()
	if len(st.Wire.Challenges) == 0 || !strings.Contains(st.Wire.Challenges[0].WWWAuthenticate, "resource_metadata=") {
		t.Errorf("401 challenges the SDK saw: %s; want resource_metadata in the first", describe(st.Wire.Challenges))
	}
	if !slices.Contains(st.Wire.Metadata, issuer+"/.well-known/oauth-authorization-server") {
		t.Errorf("metadata the SDK fetched: %q; want RFC 8414's", st.Wire.Metadata)
	}
	if len(st.Wire.Authorize) != 1 || st.Wire.Authorize[0] != resource {
		t.Errorf("resource of the authorization requests: %q, want %q", st.Wire.Authorize, resource)
	}
	if len(st.Wire.Token) == 0 || st.Wire.Token[0].GrantType != "authorization_code" || st.Wire.Token[0].Resource != resource {
		t.Errorf("token requests: %s; want an authorization_code grant with resource %s", describe(st.Wire.Token), resource)
	}
}

// TestMCPTypeScriptSDKAtExternalServer runs the same TypeScript client
// against an MCP server written with the official Go SDK in the test,
// registered in Latchkey as an external resource server. The server's
// protected resource metadata names Latchkey; it verifies Latchkey's RFC
// 9068 JWT access tokens offline with the JWKS. The client discovers,
// signs in, calls a tool, refreshes after expiry; a token for the
// external server is refused at Latchkey's /mcp and the other way round.
func TestMCPTypeScriptSDKAtExternalServer(t *testing.T) {
	node := requireMCPClient(t)
	w := newMCPWorld(t, server.Options{})
	env := w.env
	meta := authServerMetadata(t, env)
	ext := startExternalMCP(t, env, meta.JWKSURI)
	registerResourceServer(t, env, ext.resource, "External MCP", ext.scopes)

	redirectURI := fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t))
	clientID, _ := env.Client(admin.NewClient{Name: "MCP SDK e2e", RedirectURIs: []string{redirectURI}, Public: true,
		Scopes: strings.Join(ext.scopes, " ")})
	person := newChromiumUser(t, "alice", "alice-password")
	s := startMCPScript(t, node, "MCP_SERVER_URL="+ext.resource, "MCP_REDIRECT_URI="+redirectURI,
		"MCP_CLIENT_ID="+clientID, "MCP_TOOL=whoami")

	conn := s.connect(person, redirectURI)
	if conn.Error != "" {
		if tok := s.state().AccessToken; tok != "" && strings.Count(tok, ".") != 2 {
			lacking(t, "Latchkey issued an opaque access token for the external resource server, not an RFC 9068 JWT; the SDK: %s", conn.Error)
		}
		t.Fatalf("the SDK could not connect to the external server: %s", conn.Error)
	}
	if len(person.Consents) != 1 || !strings.Contains(person.Consents[0], "External MCP") {
		t.Errorf("consent pages %q; want one naming the resource server External MCP", person.Consents)
	}
	if !slices.Contains(conn.Tools, "whoami") {
		t.Fatalf("tools %q lack whoami", conn.Tools)
	}
	first := s.call()
	checkWhoami(t, "the first call", first, clientID, ext.resource)
	st := s.state()
	checkDiscovery(t, st, env.URL, ext.resource)

	env.Clock.Advance(env.Config.AccessTokenTTL + time.Minute)
	second := s.call()
	checkWhoami(t, "the call after the access token expired", second, clientID, ext.resource)
	st2 := s.state()
	if st2.TokenSaves != st.TokenSaves+1 || st2.AccessToken == st.AccessToken {
		t.Errorf("token saves %d then %d; want one refresh", st.TokenSaves, st2.TokenSaves)
	}
	if n := len(st2.Wire.Token); n == 0 || st2.Wire.Token[n-1].GrantType != "refresh_token" || st2.Wire.Token[n-1].Resource != ext.resource {
		t.Errorf("token requests: %s; want the last a refresh_token grant with resource %s", describe(st2.Wire.Token), ext.resource)
	}
	if got := ext.verified(); got < 2 {
		t.Errorf("the external server verified %d tokens offline, want at least 2", got)
	}

	// The external server's JWT is refused by Latchkey's own resources.
	if status, e := bearerStatus(t, http.MethodGet, env.URL+"/rest/api/latest/projects/PRIV/repos/"+mcpVisibleRepo, st2.AccessToken); status != http.StatusUnauthorized || e != "invalid_token" {
		t.Errorf("the external server's token at Latchkey's REST API: %d %q, want 401 invalid_token", status, e)
	}
	if status, e := bearerStatus(t, http.MethodPost, env.URL+"/mcp", st2.AccessToken); status != http.StatusUnauthorized || e != "invalid_token" {
		t.Errorf("the external server's token at Latchkey's /mcp: %d %q, want 401 invalid_token", status, e)
	}
	// And a token for Latchkey's /mcp is refused by the external server.
	s.quit()
	mcpToken := latchkeyMCPToken(t, node, env.URL+"/mcp", person, clientID, redirectURI)
	if status, _ := bearerStatus(t, http.MethodPost, ext.resource, mcpToken); status != http.StatusUnauthorized {
		t.Errorf("a token for Latchkey's /mcp at the external server: %d, want 401", status)
	}
}

// latchkeyMCPToken has the TypeScript client sign in to Latchkey's /mcp
// with the same pre-registered client and redirect URI (the first script
// has quit) and returns its access token.
func latchkeyMCPToken(t *testing.T, node, mcpURL string, person *chromiumUser, clientID, redirectURI string) string {
	t.Helper()
	s := startMCPScript(t, node, "MCP_SERVER_URL="+mcpURL, "MCP_REDIRECT_URI="+redirectURI,
		"MCP_CLIENT_ID="+clientID, "MCP_TOOL="+mcpListTool)
	s.connect(person, redirectURI)
	checkListed(t, "the call to Latchkey's /mcp", s.call())
	token := s.state().AccessToken
	s.quit()
	return token
}

// checkWhoami fails unless the external server's tool saw a verified
// token of alice for the client and this audience.
func checkWhoami(t *testing.T, what string, c mcpCall, clientID, audience string) {
	t.Helper()
	if c.Result == nil || c.Result.IsError {
		t.Fatalf("%s: %s", what, describe(c))
	}
	var claims jwtClaims
	if err := json.Unmarshal([]byte(c.Result.Content[0].Text), &claims); err != nil {
		t.Fatalf("%s: whoami answered %q: %v", what, c.Result.Content[0].Text, err)
	}
	if claims.ClientID != clientID || !slices.Contains(claims.Audience, audience) || claims.Subject == "" {
		t.Errorf("%s: claims %+v; want client_id %s and aud %s", what, claims, clientID, audience)
	}
}
