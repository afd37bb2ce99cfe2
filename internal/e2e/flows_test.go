// Package e2e tests whole flows against a real node over HTTP, with
// golang.org/x/oauth2 as the client and a scripted browser as the person.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

const redirectURI = "http://127.0.0.1:9999/callback"

type dialect struct {
	name      string
	authorize string
	token     string
}

var dialects = []dialect{
	{"bitbucket", "/rest/oauth2/latest/authorize", "/rest/oauth2/latest/token"},
	{"gitea", "/login/oauth/authorize", "/login/oauth/access_token"},
}

// fixture is a node with a user alice who may read project PRIV, a public
// project PUB, and one confidential and one public client.
type fixture struct {
	env                *testkit.Env
	confID, confSecret string
	publicID           string
}

func newFixture(t *testing.T, opts ...testkit.Option) *fixture {
	env := testkit.New(t, opts...)
	env.User("alice", "alice-password")
	env.Project("PRIV", false)
	env.Repo("PRIV", "secret-repo", false)
	env.Project("PUB", true)
	env.Repo("PUB", "open-repo", false)
	env.Grant("alice", admin.Target{Project: "PRIV"}, "PROJECT_READ")
	scopes := "PUBLIC_REPOS REPO_READ REPO_WRITE ACCOUNT_WRITE"
	confID, confSecret := env.Client(admin.NewClient{Name: "CI Server", RedirectURIs: []string{redirectURI}, Scopes: scopes})
	publicID, _ := env.Client(admin.NewClient{Name: "CLI", RedirectURIs: []string{redirectURI}, Scopes: scopes, Public: true})
	return &fixture{env: env, confID: confID, confSecret: confSecret, publicID: publicID}
}

func (f *fixture) config(d dialect, clientID, secret string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: f.env.URL + d.authorize, TokenURL: f.env.URL + d.token, AuthStyle: style},
	}
}

// authorize runs the browser part of the code flow and returns the code.
func (f *fixture) authorize(t *testing.T, b *testkit.Browser, conf *oauth2.Config, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	state := "st-" + oauth2.GenerateVerifier()[:10]
	cb, err := b.Authorize(conf.AuthCodeURL(state, opts...))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	q := cb.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorize: error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != f.env.URL {
		t.Fatalf("iss = %q, want %q", q.Get("iss"), f.env.URL)
	}
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != redirectURI {
		t.Fatalf("redirected to %q, want %q", got, redirectURI)
	}
	return q.Get("code")
}

// apiGet calls a protected endpoint with an access token.
func apiGet(t *testing.T, base, path, token string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, resp.Header, body
}

func repoSlugs(body map[string]any) []string {
	var out []string
	values, _ := body["values"].([]any)
	for _, v := range values {
		m, _ := v.(map[string]any)
		s, _ := m["slug"].(string)
		out = append(out, s)
	}
	return out
}

func TestCodeFlowWithPKCEOnEachDialect(t *testing.T) {
	for _, d := range dialects {
		for _, public := range []bool{false, true} {
			name := d.name + "/confidential"
			if public {
				name = d.name + "/public"
			}
			t.Run(name, func(t *testing.T) {
				f := newFixture(t)
				conf := f.config(d, f.confID, f.confSecret, "REPO_READ")
				if public {
					conf = f.config(d, f.publicID, "", "REPO_READ")
				}
				b := f.env.Browser("alice", "alice-password")
				verifier := oauth2.GenerateVerifier()
				code := f.authorize(t, b, conf, oauth2.S256ChallengeOption(verifier))
				tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				if tok.RefreshToken == "" || tok.Expiry.IsZero() || !strings.EqualFold(tok.TokenType, "bearer") {
					t.Fatalf("token response incomplete: %+v", tok)
				}
				if got := tok.Extra("scope"); got != "REPO_READ" {
					t.Fatalf("scope = %v, want REPO_READ", got)
				}
				_, hasCreatedAt := tok.Extra("created_at").(float64)
				if hasCreatedAt != (d.name == "bitbucket") {
					t.Fatalf("created_at present = %v on %s", hasCreatedAt, d.name)
				}
				status, _, body := apiGet(t, f.env.URL, "/rest/api/latest/projects/PRIV/repos", tok.AccessToken)
				if status != http.StatusOK || strings.Join(repoSlugs(body), ",") != "secret-repo" {
					t.Fatalf("private repos: status %d body %v", status, body)
				}
				status, hdr, _ := apiGet(t, f.env.URL, "/rest/api/latest/application-properties", tok.AccessToken)
				if status != http.StatusOK || hdr.Get("X-AUSERNAME") != "alice" {
					t.Fatalf("application-properties: status %d X-AUSERNAME %q", status, hdr.Get("X-AUSERNAME"))
				}
				status, _, user := apiGet(t, f.env.URL, "/api/v1/user", tok.AccessToken)
				if status != http.StatusOK || user["login"] != "alice" || user["email"] != "alice@example.com" {
					t.Fatalf("/api/v1/user: status %d body %v", status, user)
				}
			})
		}
	}
}

func TestConsentIsRememberedAndPromptRules(t *testing.T) {
	f := newFixture(t)
	conf := f.config(dialects[0], f.confID, f.confSecret, "REPO_READ")
	b := f.env.Browser("alice", "alice-password")
	f.authorize(t, b, conf)
	pagesAfterFirst := len(b.Pages)

	// Same scopes again: no login, no consent page.
	f.authorize(t, b, conf)
	if len(b.Pages) != pagesAfterFirst {
		t.Fatalf("a remembered consent showed %d more pages", len(b.Pages)-pagesAfterFirst)
	}
	// Narrower scope: covered by the remembered consent.
	f.authorize(t, b, f.config(dialects[0], f.confID, f.confSecret, "PUBLIC_REPOS"))
	if len(b.Pages) != pagesAfterFirst {
		t.Fatal("a narrower request showed the consent page")
	}
	// prompt=consent forces the page.
	f.authorize(t, b, conf, oauth2.SetAuthURLParam("prompt", "consent"))
	if len(b.Pages) != pagesAfterFirst+1 || !strings.Contains(b.Pages[len(b.Pages)-1], `value="approve"`) {
		t.Fatal("prompt=consent did not show the consent page")
	}
	// Wider scope with prompt=none: consent_required.
	wide := f.config(dialects[0], f.confID, f.confSecret, "REPO_WRITE")
	cb, err := b.Authorize(wide.AuthCodeURL("s1", oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil || cb.Query().Get("error") != "consent_required" || cb.Query().Get("state") != "s1" {
		t.Fatalf("prompt=none without consent: %v %v", cb, err)
	}
	// Not logged in with prompt=none: login_required.
	fresh := f.env.Browser("alice", "alice-password")
	cb, err = fresh.Authorize(conf.AuthCodeURL("s2", oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil || cb.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none without session: %v %v", cb, err)
	}
	// prompt=login shows the login form even with a session.
	before := len(b.Pages)
	f.authorize(t, b, conf, oauth2.SetAuthURLParam("prompt", "login"))
	if len(b.Pages) != before+1 || !strings.Contains(b.Pages[before], `name="password"`) {
		t.Fatal("prompt=login did not show the login page")
	}
}

func TestDeniedConsentRedirectsAccessDenied(t *testing.T) {
	f := newFixture(t)
	b := f.env.Browser("alice", "alice-password")
	b.Decision = "deny"
	conf := f.config(dialects[1], f.confID, f.confSecret, "REPO_READ")
	cb, err := b.Authorize(conf.AuthCodeURL("xyz"))
	if err != nil {
		t.Fatal(err)
	}
	if q := cb.Query(); q.Get("error") != "access_denied" || q.Get("state") != "xyz" || q.Get("iss") != f.env.URL {
		t.Fatalf("deny: %v", cb)
	}
}

func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conf := f.config(dialects[0], f.confID, f.confSecret, "REPO_READ")
	b := f.env.Browser("alice", "alice-password")
	first, err := conf.Exchange(ctx, f.authorize(t, b, conf))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) (*oauth2.Token, error) {
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	// A refresh token works after its access token expired.
	f.env.Clock.Advance(2 * time.Hour)
	second, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken {
		t.Fatal("refresh did not rotate both tokens")
	}
	if status, _, _ := apiGet(t, f.env.URL, "/api/v1/user", second.AccessToken); status != http.StatusOK {
		t.Fatalf("new access token: status %d", status)
	}
	// The old refresh token is dead: its reuse fails and revokes the family.
	if _, err := refresh(first.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reused refresh token: %v", err)
	}
	for _, tok := range []string{second.AccessToken} {
		status, hdr, _ := apiGet(t, f.env.URL, "/api/v1/user", tok)
		if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("newest access token after reuse: status %d %q", status, hdr.Get("WWW-Authenticate"))
		}
	}
	if _, err := refresh(second.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("newest refresh token after reuse: %v", err)
	}
}

func TestRefreshKillsOldAccessTokenAndNarrowsScope(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conf := f.config(dialects[1], f.confID, f.confSecret, "REPO_WRITE")
	first, err := conf.Exchange(ctx, f.authorize(t, f.env.Browser("alice", "alice-password"), conf))
	if err != nil {
		t.Fatal(err)
	}
	tokenURL := f.env.URL + dialects[1].token
	status, body := postForm(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
		"scope": {"REPO_READ"}, "client_id": {f.confID}, "client_secret": {f.confSecret}})
	if status != http.StatusOK || body["scope"] != "REPO_READ" {
		t.Fatalf("narrowing refresh: %d %v", status, body)
	}
	if status, _, _ := apiGet(t, f.env.URL, "/api/v1/user", first.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("old access token after refresh: status %d", status)
	}
	status, body = postForm(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)},
		"scope": {"REPO_WRITE"}, "client_id": {f.confID}, "client_secret": {f.confSecret}})
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Fatalf("widening refresh: %d %v", status, body)
	}
}

// postForm posts a form to the token endpoint and decodes the JSON answer.
func postForm(t *testing.T, tokenURL string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(tokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint answered non-JSON: %v", err)
	}
	return resp.StatusCode, body
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// loopback redirect: any port on 127.0.0.1 matches a registered loopback URI.
func TestLoopbackRedirectPortMayDiffer(t *testing.T) {
	f := newFixture(t)
	conf := f.config(dialects[1], f.publicID, "", "REPO_READ")
	conf.RedirectURL = "http://127.0.0.1:54321/callback"
	verifier := oauth2.GenerateVerifier()
	b := f.env.Browser("alice", "alice-password")
	cb, err := b.Authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil || cb.Host != "127.0.0.1:54321" || cb.Query().Get("code") == "" {
		t.Fatalf("loopback port: %v %v", cb, err)
	}
	if _, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange with loopback redirect: %v", err)
	}
	other := *conf
	other.RedirectURL = "http://127.0.0.1:54321/other"
	if _, err := b.Authorize(other.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))); !errors.Is(err, testkit.ErrStuck) {
		t.Fatalf("loopback with another path was not refused on a page: %v", err)
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	env := testkit.New(t)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		resp, err := http.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	resp, err := http.Get(env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `latchkey_http_requests_total{code="200",method="GET",route="GET /healthz"}`) {
		t.Fatalf("metrics lack the request counter by route:\n%.2000s", body)
	}
}

func TestBrowserAppsMayCallTheTokenEndpointCrossOrigin(t *testing.T) {
	env := testkit.New(t)
	req, _ := http.NewRequest(http.MethodOptions, env.URL+"/login/oauth/access_token", nil)
	req.Header.Set("Origin", "https://spa.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight of the token endpoint: %d %v", resp.StatusCode, resp.Header)
	}
	// Pages are not opened to other origins.
	req, _ = http.NewRequest(http.MethodGet, env.URL+"/login", nil)
	req.Header.Set("Origin", "https://spa.example.com")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("a page allows cross-origin reads")
	}
}
