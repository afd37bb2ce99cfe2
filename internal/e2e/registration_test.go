package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/cleanup"
	"latchkey/internal/config"
	"latchkey/internal/register"
	"latchkey/internal/resource"
	"latchkey/internal/server"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// Dynamic client registration (RFC 7591, RFC 7592; issue 14 point 4):
// clients register themselves, then run the ordinary flows with
// golang.org/x/oauth2 against a real node.

func registrationPolicy(p string) testkit.Option {
	return func(c *config.Config) { c.Registration = p }
}

// registerClient posts metadata to /register with an optional initial
// access token and returns the status and the decoded answer.
func registerClient(t *testing.T, env *testkit.Env, token string, metadata map[string]any) (int, map[string]any) {
	t.Helper()
	return jsonCall(t, http.MethodPost, env.URL+"/register", token, metadata)
}

func jsonCall(t *testing.T, method, url, token string, v any) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if v != nil {
		raw, _ := json.Marshal(v)
		body = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// newRegistrationFixture is a node with the given policy and alice, who
// may read project PRIV.
func newRegistrationFixture(t *testing.T, opts ...testkit.Option) *testkit.Env {
	env := testkit.New(t, opts...)
	env.User("alice", "alice-password")
	env.Project("PRIV", false)
	env.Repo("PRIV", "secret-repo", false)
	env.Grant("alice", admin.Target{Project: "PRIV"}, "PROJECT_READ")
	return env
}

// registeredFlow runs authorize (sign-in and consent), token and refresh
// with PKCE for a registered client and returns the tokens.
func registeredFlow(t *testing.T, env *testkit.Env, conf *oauth2.Config) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	b := env.Browser("alice", "alice-password")
	verifier := oauth2.GenerateVerifier()
	cb, err := b.Authorize(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if q := cb.Query(); q.Get("error") != "" || q.Get("state") != "st" || q.Get("iss") != env.URL {
		t.Fatalf("authorization response %s", cb)
	}
	if !slices.ContainsFunc(b.Pages, func(p string) bool { return strings.Contains(p, `name="decision"`) }) {
		t.Fatal("the person was never asked to consent")
	}
	// Without the verifier the code is refused: PKCE is required.
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	status, _, body := apiGet(t, env.URL, "/rest/api/latest/projects/PRIV/repos", tok.AccessToken)
	if status != http.StatusOK || !slices.Equal(repoSlugs(body), []string{"secret-repo"}) {
		t.Fatalf("private repos with the registered client's token: %d %v", status, body)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	env.Clock.Advance(2 * time.Hour)
	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v", err)
	}
	if status, _, _ := apiGet(t, env.URL, "/api/v1/user", fresh.AccessToken); status != http.StatusOK {
		t.Fatalf("refreshed token: %d", status)
	}
	return fresh
}

func TestRegisteredClientsRunTheCodeFlow(t *testing.T) {
	env := newRegistrationFixture(t, registrationPolicy("open"))
	ctx := context.Background()

	t.Run("native public client on a loopback redirect", func(t *testing.T) {
		status, reg := registerClient(t, env, "", map[string]any{
			"client_name": "An agent", "application_type": "native", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"http://127.0.0.1/callback"}, "grant_types": []string{"authorization_code", "refresh_token"},
			"scope": "read:repository offline_access REPO_WRITE",
		})
		if status != http.StatusCreated || reg["scope"] != "offline_access read:repository" {
			t.Fatalf("register: %d %v", status, reg)
		}
		id := reg["client_id"].(string)
		conf := &oauth2.Config{ClientID: id, RedirectURL: "http://127.0.0.1:43123/callback", // any port (RFC 8252 §7.3)
			Scopes:   []string{"read:repository", "offline_access"},
			Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize", TokenURL: env.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}}
		tok := registeredFlow(t, env, conf)

		// A scope the registration dropped is refused at authorization.
		b := env.Browser("alice", "alice-password")
		wide := *conf
		wide.Scopes = []string{"REPO_WRITE"}
		cb, err := b.Authorize(wide.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil || cb.Query().Get("error") != "invalid_scope" {
			t.Fatalf("REPO_WRITE: %v %v", cb, err)
		}
		// Without PKCE the request is refused.
		cb, err = b.Authorize(conf.AuthCodeURL("s"))
		if err != nil || cb.Query().Get("error") != "invalid_request" {
			t.Fatalf("no PKCE: %v %v", cb, err)
		}

		// RFC 7592 delete removes the client and kills its tokens.
		uri, rat := reg["registration_client_uri"].(string), reg["registration_access_token"].(string)
		if status, _ := jsonCall(t, http.MethodDelete, uri, "lkm_wrong", nil); status != http.StatusUnauthorized {
			t.Fatalf("delete with a wrong token: %d", status)
		}
		if status, _ := jsonCall(t, http.MethodDelete, uri, rat, nil); status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		if status, _, _ := apiGet(t, env.URL, "/api/v1/user", tok.AccessToken); status != http.StatusUnauthorized {
			t.Fatalf("access token after the client deleted itself: %d", status)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Fatal("refresh token works after the client deleted itself")
		}
	})

	t.Run("confidential web client with a secret", func(t *testing.T) {
		status, reg := registerClient(t, env, "", map[string]any{
			"client_name": "A web app", "redirect_uris": []string{redirectURIWeb}, "token_endpoint_auth_method": "client_secret_basic",
			"grant_types": []string{"authorization_code", "refresh_token"}, "scope": "REPO_READ",
		})
		if status != http.StatusCreated {
			t.Fatalf("register: %d %v", status, reg)
		}
		conf := &oauth2.Config{ClientID: reg["client_id"].(string), ClientSecret: reg["client_secret"].(string), RedirectURL: redirectURIWeb,
			Scopes:   []string{"REPO_READ"},
			Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/rest/oauth2/latest/authorize", TokenURL: env.URL + "/rest/oauth2/latest/token", AuthStyle: oauth2.AuthStyleInHeader}}
		registeredFlow(t, env, conf)
		// RFC 7592 read and update with the registration access token.
		uri, rat := reg["registration_client_uri"].(string), reg["registration_access_token"].(string)
		status, got := jsonCall(t, http.MethodGet, uri, rat, nil)
		if status != http.StatusOK || got["client_name"] != "A web app" {
			t.Fatalf("read: %d %v", status, got)
		}
		got["client_name"] = "Renamed"
		delete(got, "registration_access_token")
		if status, got = jsonCall(t, http.MethodPut, uri, rat, got); status != http.StatusOK || got["client_name"] != "Renamed" {
			t.Fatalf("update: %d %v", status, got)
		}
		if c, _ := env.Store.GetClient(ctx, conf.ClientID); c.Name != "Renamed" {
			t.Fatalf("stored name %q", c.Name)
		}
	})
}

const redirectURIWeb = "https://app.example.com/oauth/callback"

func TestRegistrationPolicies(t *testing.T) {
	native := map[string]any{"application_type": "native", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"http://127.0.0.1/cb"}}
	t.Run("off", func(t *testing.T) {
		env := testkit.New(t)
		if status, _ := registerClient(t, env, "", native); status != http.StatusNotFound {
			t.Fatalf("registration while off: %d", status)
		}
	})
	t.Run("token", func(t *testing.T) {
		env := testkit.New(t, registrationPolicy("token"))
		iat, _, err := register.CreateInitialAccessToken(context.Background(), env.Store, "e2e", time.Hour, env.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"without a token": "", "with a wrong token": "lki_" + strings.Repeat("A", 43)} {
			if status, body := registerClient(t, env, tok, native); status != http.StatusUnauthorized {
				t.Fatalf("%s: %d %v", name, status, body)
			}
		}
		if status, body := registerClient(t, env, iat, native); status != http.StatusCreated {
			t.Fatalf("with the right token: %d %v", status, body)
		}
	})
	t.Run("native and web redirect rules", func(t *testing.T) {
		env := testkit.New(t, registrationPolicy("open"))
		for _, tc := range []struct {
			appType, uri string
			ok           bool
		}{
			{"native", "http://127.0.0.1/cb", true},
			{"native", "http://[::1]:8080/cb", true},
			{"native", "com.example.agent:/oauth", true},
			{"native", "https://agent.example.com/cb", true},
			{"native", "http://agent.example.com/cb", false},
			{"native", "agent:/cb", false},
			{"web", "https://app.example.com/cb", true},
			{"web", "http://127.0.0.1/cb", false},
			{"web", "https://127.0.0.1/cb", false},
			{"web", "com.example.agent:/oauth", false},
			{"web", "http://app.example.com/cb", false},
		} {
			status, body := registerClient(t, env, "", map[string]any{"application_type": tc.appType,
				"token_endpoint_auth_method": "none", "redirect_uris": []string{tc.uri}})
			if tc.ok != (status == http.StatusCreated) || (!tc.ok && body["error"] != "invalid_redirect_uri") {
				t.Errorf("%s %s: %d %v", tc.appType, tc.uri, status, body)
			}
		}
	})
}

// TestCleanupDeletesUnusedRegisteredClients: the periodic cleanup deletes
// a self-registered client that nobody used within the period, and keeps
// one whose tokens were used, and every administrator's client.
func TestCleanupDeletesUnusedRegisteredClients(t *testing.T) {
	run := func(t *testing.T, opts ...testkit.Option) {
		env := newRegistrationFixture(t, append(opts, registrationPolicy("open"))...)
		ctx := context.Background()
		metadata := map[string]any{"application_type": "native", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"http://127.0.0.1/callback"}, "grant_types": []string{"authorization_code", "refresh_token"}}
		_, unused := registerClient(t, env, "", metadata)
		_, used := registerClient(t, env, "", metadata)
		adminID, _ := env.Client(admin.NewClient{Name: "Admin's, never used", RedirectURIs: []string{redirectURI}})
		conf := &oauth2.Config{ClientID: used["client_id"].(string), RedirectURL: "http://127.0.0.1:5000/callback",
			Scopes:   []string{"read:repository", "offline_access"},
			Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize", TokenURL: env.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}}
		tok := registeredFlow(t, env, conf)

		sweep := func() {
			cleanup.Sweep(ctx, cleanup.Config{Store: env.Store, Now: env.Clock.Now, UnusedClientsAfter: 30 * 24 * time.Hour})
		}
		// 20 days on the used client's token is refreshed and used.
		env.Clock.Advance(20 * 24 * time.Hour)
		sweep()
		for _, id := range []string{unused["client_id"].(string), used["client_id"].(string), adminID} {
			if _, err := env.Store.GetClient(ctx, id); err != nil {
				t.Fatalf("client %s deleted before its time: %v", id, err)
			}
		}
		fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if status, _, _ := apiGet(t, env.URL, "/api/v1/user", fresh.AccessToken); status != http.StatusOK {
			t.Fatalf("token of the used client: %d", status)
		}
		// 35 days after registration, the unused one goes.
		env.Clock.Advance(15 * 24 * time.Hour)
		sweep()
		if _, err := env.Store.GetClient(ctx, unused["client_id"].(string)); err == nil {
			t.Fatal("the unused registered client is still there")
		} else if !strings.Contains(err.Error(), store.ErrNotFound.Error()) {
			t.Fatal(err)
		}
		for _, id := range []string{used["client_id"].(string), adminID} {
			if _, err := env.Store.GetClient(ctx, id); err != nil {
				t.Fatalf("client %s was deleted: %v", id, err)
			}
		}
		if status, _ := jsonCall(t, http.MethodGet, unused["registration_client_uri"].(string), unused["registration_access_token"].(string), nil); status != http.StatusUnauthorized {
			t.Fatalf("management of the deleted client: %d", status)
		}
	}
	t.Run("sqlite", func(t *testing.T) { run(t) })
	t.Run("postgres", func(t *testing.T) { run(t, testkit.OnFreshPostgres(t)) })
}

// TestRegistrationEndpointsAnswerJunkWithoutA500 walks the junk of
// TestNoEndpointAnswers500ToJunk over a node whose registration is open,
// so that /register and /register/{client_id} are among its routes.
func TestRegistrationEndpointsAnswerJunkWithoutA500(t *testing.T) {
	if raceDetector {
		t.Skip("the junk walk checks statuses, not concurrency: it runs in the pass without the race detector")
	}
	f := newFixture(t, registrationPolicy("open"))
	if !slices.ContainsFunc(f.env.Server.Routes(), func(r server.Route) bool { return r.Path == "/register/{client_id}" }) {
		t.Fatal("the registration routes are not served")
	}
	sendJunk(t, f)
}

// TestRegisteredAgentReachesTheMCPEndpoint: a client that registered
// itself as an MCP client does (native, public, loopback redirect) asks
// for a token bound to {issuer}/mcp (RFC 8707) and lists the projects
// alice may see through the MCP Go SDK.
func TestRegisteredAgentReachesTheMCPEndpoint(t *testing.T) {
	env := newRegistrationFixture(t, registrationPolicy("open"))
	status, reg := registerClient(t, env, "", map[string]any{
		"client_name": "MCP agent", "application_type": "native", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"http://127.0.0.1/callback"}, "grant_types": []string{"authorization_code", "refresh_token"},
	})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, reg)
	}
	conf := &oauth2.Config{ClientID: reg["client_id"].(string), RedirectURL: "http://127.0.0.1:38000/callback",
		Scopes:   []string{"read:repository"},
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize", TokenURL: env.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	mcpResource := oauth2.SetAuthURLParam("resource", resource.MCP(env.Server.Provider.Issuer()))
	cb, err := env.Browser("alice", "alice-password").Authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), mcpResource))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("authorize: %v %v", cb, err)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier), mcpResource)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	bt := &bearerTransport{}
	bt.token.Store(tok.AccessToken)
	session, err := sdk.NewClient(&sdk.Implementation{Name: "registered-agent", Version: "1"}, nil).Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: env.URL + "/mcp", HTTPClient: &http.Client{Transport: bt}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer session.Close()
	res, err := session.CallTool(context.Background(), &sdk.CallToolParams{Name: "list_projects", Arguments: map[string]any{}})
	if err != nil || res.IsError || !strings.Contains(text(res), "PRIV") {
		t.Fatalf("list_projects: %v %+v", err, res)
	}
	// The token is for /mcp only (RFC 8707): the REST API refuses it.
	if status, _, _ := apiGet(t, env.URL, "/api/v1/user", tok.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("REST API with the MCP token: %d", status)
	}
}

// TestRegisteredDeviceClient: a client that registers for the device
// grant only (a command-line tool without a browser) needs no redirect
// URI and completes RFC 8628 with golang.org/x/oauth2.
func TestRegisteredDeviceClient(t *testing.T) {
	env := newRegistrationFixture(t, registrationPolicy("open"))
	status, reg := registerClient(t, env, "", map[string]any{
		"client_name": "A CLI", "application_type": "native", "token_endpoint_auth_method": "none",
		"grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}, "scope": "REPO_READ",
	})
	if status != http.StatusCreated || len(reg["response_types"].([]any)) != 0 {
		t.Fatalf("register: %d %v", status, reg)
	}
	conf := &oauth2.Config{ClientID: reg["client_id"].(string), Scopes: []string{"REPO_READ"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: env.URL + "/login/device/code", TokenURL: env.URL + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := env.Browser("alice", "alice-password").Device(da.VerificationURIComplete)
		done <- err
	}()
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("device access token: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("user side: %v", err)
	}
	if status, _, body := apiGet(t, env.URL, "/rest/api/latest/projects/PRIV/repos", tok.AccessToken); status != http.StatusOK || len(repoSlugs(body)) != 1 {
		t.Fatalf("API with the device token: %d %v", status, body)
	}
}
