package e2e

// Bad requests: a table of the ways a client (or an attacker) can get the
// authorization and token endpoints wrong, each with the exact error code
// and status RFC 6749, RFC 7636 and RFC 9700 ask for, run against a real
// node on SQLite in both dialects.
//
// Authorization requests have two ways to fail. Until the client and its
// redirect URI are validated, the answer is an HTML page (400, no Location):
// redirecting anywhere would be an open redirect. After that, the error goes
// back to the registered URI with error, error_description, state and iss.
// Every Location header the tests see is checked against the registered
// URIs, so no case may redirect somewhere unregistered.
//
// Token requests always fail with RFC 6749 §5.2 JSON, no-store, and
// invalid_client is 401 with a WWW-Authenticate challenge.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

const (
	brAppURI      = "https://app.example.com/cb"
	brOtherURI    = "https://other.example.com/cb"
	brLoopbackURI = "http://127.0.0.1:9999/callback"
	brTenantURI   = "https://app.example.com/cb?tenant=7"
	brPortURI     = "https://app.example.com:8443/cb"
	brNativeURI   = "com.example.app:/oauth"
	brScopes      = "PUBLIC_REPOS REPO_READ REPO_WRITE"
)

// brAuthorizePaths are the paths that validate an authorization request:
// both dialects' authorization endpoints and the consent page.
var brAuthorizePaths = []string{
	"/rest/oauth2/latest/authorize",
	"/login/oauth/authorize",
	"/plugins/servlet/oauth2/consent",
}

// brTokenDialects pairs each token endpoint with its dialect's
// authorization endpoint, which the preparations use to obtain codes.
var brTokenDialects = []struct{ name, authorize, token string }{
	{"bitbucket", "/rest/oauth2/latest/authorize", "/rest/oauth2/latest/token"},
	{"gitea", "/login/oauth/authorize", "/login/oauth/access_token"},
}

// brLeaks are strings no error page or error body may contain: they would
// reveal SQL errors, source locations or stack traces.
var brLeaks = []string{"sql", ".go:", "goroutine"}

// brFixture is one node with the user alice, who approves whatever she is
// asked, and the clients the cases need. vars maps the placeholders used in
// the tables ({conf}, {conf.secret}, {challenge}, ...) to their values.
type brFixture struct {
	env        *testkit.Env
	vars       map[string]string
	registered []string
	browser    *testkit.Browser
	plain      *http.Client // anonymous, follows no redirects
}

func newBRFixture(t *testing.T) *brFixture {
	t.Helper()
	env := testkit.New(t)
	env.User("alice", "alice-password")
	f := &brFixture{
		env:     env,
		vars:    map[string]string{},
		browser: env.Browser("alice", "alice-password"),
		plain: &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
	client := func(key string, nc admin.NewClient) string {
		nc.Name = "App " + key
		id, secret := env.Client(nc)
		f.vars["{"+key+"}"] = id
		f.vars["{"+key+".secret}"] = secret
		f.registered = append(f.registered, nc.RedirectURIs...)
		return id
	}
	client("conf", admin.NewClient{RedirectURIs: []string{brAppURI}, Scopes: brScopes})
	client("other", admin.NewClient{RedirectURIs: []string{brOtherURI}, Scopes: brScopes})
	client("pub", admin.NewClient{RedirectURIs: []string{brLoopbackURI}, Scopes: "PUBLIC_REPOS REPO_READ", Public: true})
	client("multi", admin.NewClient{RedirectURIs: []string{brPortURI, brTenantURI, brNativeURI}, Scopes: brScopes})
	client("codeonly", admin.NewClient{RedirectURIs: []string{brAppURI}, Scopes: brScopes, GrantTypes: "authorization_code"})
	client("refreshonly", admin.NewClient{RedirectURIs: []string{brAppURI}, Scopes: brScopes, GrantTypes: "refresh_token"})
	susp := client("susp", admin.NewClient{RedirectURIs: []string{brAppURI}, Scopes: brScopes})
	_, err := env.Store.UpdateClient(context.Background(), susp, func(c store.Client) (store.Client, error) {
		c.Suspended = true
		return c, nil
	})
	if err != nil {
		t.Fatalf("suspend client: %v", err)
	}

	verifier := oauth2.GenerateVerifier()
	f.vars["{verifier}"] = verifier
	f.vars["{verifier.other}"] = oauth2.GenerateVerifier()
	f.vars["{challenge}"] = oauth2.S256ChallengeFromVerifier(verifier)
	// Verifiers that break RFC 7636 §4.1 (43*128 of [A-Za-z0-9-._~]). Codes
	// can be bound to their S256 hashes, so only their syntax is wrong.
	f.vars["{verifier42}"] = strings.Repeat("a", 42)
	f.vars["{verifier129}"] = strings.Repeat("b", 129)
	f.vars["{verifier.badchar}"] = strings.Repeat("c", 40) + "/x*"
	f.vars["{state2049}"] = strings.Repeat("s", 2049)
	return f
}

// expand replaces the placeholders in s.
func (f *brFixture) expand(s string, extra map[string]string) string {
	pairs := make([]string, 0, 2*(len(f.vars)+len(extra)))
	for _, m := range []map[string]string{extra, f.vars} {
		for k, v := range m {
			pairs = append(pairs, k, v)
		}
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// login gives the browser a session of alice and her consent for conf.
// Other clients get her consent the first time a preparation needs it.
func (f *brFixture) login(t *testing.T, authorizePath string) {
	t.Helper()
	f.code(t, authorizePath, "conf", brAppURI, "")
}

// code runs the browser part of the code flow for a client and returns the
// code. challengeVar names the verifier whose S256 hash is sent as
// code_challenge; empty sends no challenge.
func (f *brFixture) code(t *testing.T, authorizePath, clientKey, redirectURI, challengeVar string) string {
	t.Helper()
	q := url.Values{
		"response_type": {"code"}, "client_id": {f.vars["{"+clientKey+"}"]},
		"redirect_uri": {redirectURI}, "scope": {"REPO_READ"}, "state": {"prep-state"},
	}
	if challengeVar != "" {
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(f.vars[challengeVar]))
		q.Set("code_challenge_method", "S256")
	}
	cb, err := f.browser.Authorize(f.env.URL + authorizePath + "?" + q.Encode())
	if err != nil {
		t.Fatalf("prepare code for %s: %v", clientKey, err)
	}
	got := cb.Query()
	if base := cb.Scheme + "://" + cb.Host + cb.Path; base != redirectURI || got.Get("code") == "" || got.Get("state") != "prep-state" {
		t.Fatalf("prepare code for %s: unexpected redirect %s", clientKey, cb)
	}
	return got.Get("code")
}

// exchange redeems a code of a confidential client and returns the access
// and refresh token.
func (f *brFixture) exchange(t *testing.T, tokenPath, clientKey, code, redirectURI string) (string, string) {
	t.Helper()
	return f.tokens(t, tokenPath, clientKey, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
	})
}

// tokens posts a successful token request with Basic client authentication.
func (f *brFixture) tokens(t *testing.T, tokenPath, clientKey string, form url.Values) (string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.env.URL+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.vars["{"+clientKey+"}"], f.vars["{"+clientKey+".secret}"])
	resp, body := f.send(t, req)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &tok); resp.StatusCode != http.StatusOK || err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("prepare tokens for %s: status %d: %s", clientKey, resp.StatusCode, body)
	}
	return tok.AccessToken, tok.RefreshToken
}

func (f *brFixture) send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := f.plain.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp, body
}

// brCheckNoLeak fails when a page or body reveals internal detail.
func brCheckNoLeak(t *testing.T, what string, body []byte) {
	t.Helper()
	lower := strings.ToLower(string(body))
	for _, leak := range brLeaks {
		if strings.Contains(lower, leak) {
			t.Errorf("%s reveals internal detail (%q): %s", what, leak, body)
		}
	}
}

// brResponseParams are the parameters an authorization response adds to
// the redirect URI.
var brResponseParams = []string{"error", "error_description", "state", "iss", "code"}

// brRedirectBase is a redirect target without the response parameters, in a
// canonical form, to compare with a registered URI.
func brRedirectBase(u *url.URL) string {
	q := u.Query()
	for _, k := range brResponseParams {
		q.Del(k)
	}
	v := *u
	v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = q.Encode(), false, "", ""
	return v.String()
}

// checkTarget fails when a Location header leads off the server to a URI
// that is not registered for any client (a loopback URI may differ in
// port only, RFC 8252 §7.3).
func (f *brFixture) checkTarget(t *testing.T, loc string) {
	t.Helper()
	if loc == "" || (strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, "/\\")) {
		return
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Errorf("Location %q does not parse: %v", loc, err)
		return
	}
	if base, _ := url.Parse(f.env.URL); u.Scheme == base.Scheme && u.Host == base.Host {
		return
	}
	got := brRedirectBase(u)
	for _, r := range f.registered {
		ru, _ := url.Parse(r)
		if brRedirectBase(ru) == got {
			return
		}
		if ip := net.ParseIP(ru.Hostname()); ru.Scheme == "http" && ip != nil && ip.IsLoopback() && u.Hostname() == ru.Hostname() {
			v := *u
			v.Host = ru.Host
			if brRedirectBase(&v) == brRedirectBase(ru) {
				return
			}
		}
	}
	t.Errorf("redirect to an unregistered URI: %s", loc)
}

// brAuthzCase is one bad authorization request. Exactly one of page and to
// is set: page expects an HTML error page (400, no Location); to is the
// registered URI the error must be redirected to, carrying code.
type brAuthzCase struct {
	name    string
	query   string // raw query; placeholders are expanded
	page    bool
	to      string
	code    string
	noState bool // the request's state is refused, so it is not echoed
}

var brAuthzCases = []brAuthzCase{
	// Before the client and redirect URI are trusted: a page, never a redirect.
	{name: "unknown client_id shows a page", query: "response_type=code&client_id=no-such-client&redirect_uri=" + brAppURI + "&state=s1", page: true},
	{name: "missing client_id shows a page", query: "response_type=code&redirect_uri=" + brAppURI + "&state=s1", page: true},
	{name: "suspended client shows a page", query: "response_type=code&client_id={susp}&redirect_uri=" + brAppURI + "&state=s1", page: true},
	{name: "redirect_uri with a different path shows a page", query: "response_type=code&client_id={conf}&redirect_uri=https://app.example.com/other&state=s1", page: true},
	{name: "redirect_uri on a different host shows a page", query: "response_type=code&client_id={conf}&redirect_uri=https://evil.example.net/cb&state=s1", page: true},
	{name: "redirect_uri with an extra query shows a page", query: "response_type=code&client_id={conf}&redirect_uri=https://app.example.com/cb%3Fnext%3Dhttps://evil.example.net&state=s1", page: true},
	{name: "redirect_uri with http instead of https shows a page", query: "response_type=code&client_id={conf}&redirect_uri=http://app.example.com/cb&state=s1", page: true},
	{name: "non-loopback redirect_uri with another port shows a page", query: "response_type=code&client_id={multi}&redirect_uri=https://app.example.com:9443/cb&state=s1", page: true},
	{name: "redirect_uri with a trailing slash shows a page", query: "response_type=code&client_id={conf}&redirect_uri=https://app.example.com/cb/&state=s1", page: true},
	{name: "redirect_uri with upper-case host shows a page", query: "response_type=code&client_id={conf}&redirect_uri=https://APP.example.com/cb&state=s1", page: true},
	{name: "redirect_uri with a fragment shows a page", query: "response_type=code&client_id={conf}&redirect_uri=https://app.example.com/cb%23frag&state=s1", page: true},
	{name: "redirect_uri with user info shows a page", query: "response_type=code&client_id={conf}&redirect_uri=https://app.example.com@evil.example.net/cb&state=s1", page: true},
	{name: "redirect_uri of another client shows a page", query: "response_type=code&client_id={conf}&redirect_uri=" + brOtherURI + "&state=s1", page: true},
	{name: "missing redirect_uri with several registered shows a page", query: "response_type=code&client_id={multi}&state=s1", page: true},
	{name: "loopback redirect_uri with another path shows a page", query: "response_type=code&client_id={pub}&redirect_uri=http://127.0.0.1:5000/other&code_challenge={challenge}&code_challenge_method=S256&state=s1", page: true},
	{name: "loopback redirect_uri with user info shows a page", query: "response_type=code&client_id={pub}&redirect_uri=http://evil.example.net@127.0.0.1:9999/callback&code_challenge={challenge}&code_challenge_method=S256&state=s1", page: true},
	{name: "localhost in place of a registered 127.0.0.1 shows a page", query: "response_type=code&client_id={pub}&redirect_uri=http://localhost:9999/callback&code_challenge={challenge}&code_challenge_method=S256&state=s1", page: true},
	{name: "loopback redirect_uri with a percent-encoded path shows a page", query: "response_type=code&client_id={pub}&redirect_uri=http://127.0.0.1:9999/%2563allback&code_challenge={challenge}&code_challenge_method=S256&state=s1", page: true},
	{name: "loopback redirect_uri with an upper-case scheme shows a page", query: "response_type=code&client_id={pub}&redirect_uri=HTTP://127.0.0.1:5000/callback&code_challenge={challenge}&code_challenge_method=S256&state=s1", page: true},
	{name: "loopback redirect_uri with an empty query shows a page", query: "response_type=code&client_id={pub}&redirect_uri=http://127.0.0.1:5000/callback%3F&code_challenge={challenge}&code_challenge_method=S256&state=s1", page: true},
	{name: "duplicated client_id shows a page", query: "response_type=code&client_id={conf}&client_id={other}&redirect_uri=" + brAppURI + "&state=s1", page: true},
	{name: "duplicated redirect_uri shows a page", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&redirect_uri=https://evil.example.net/cb&state=s1", page: true},
	{name: "duplicated state shows a page", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&state=s1&state=s2", page: true},
	{name: "malformed percent-encoding shows a page", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&state=%zz", page: true},

	// After that: an error redirect to the registered URI.
	{name: "response_type=token redirects unsupported_response_type", query: "response_type=token&client_id={conf}&redirect_uri=" + brAppURI + "&state=s2", to: brAppURI, code: "unsupported_response_type"},
	{name: "response_type=code token redirects unsupported_response_type", query: "response_type=code%20token&client_id={conf}&redirect_uri=" + brAppURI + "&state=s2", to: brAppURI, code: "unsupported_response_type"},
	{name: "missing response_type redirects invalid_request", query: "client_id={conf}&redirect_uri=" + brAppURI + "&state=s2", to: brAppURI, code: "invalid_request"},
	{name: "unknown scope redirects invalid_scope", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&scope=REPO_READ%20NO_SUCH_SCOPE&state=s2", to: brAppURI, code: "invalid_scope"},
	{name: "scope outside the scope-token charset redirects invalid_scope", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&scope=REPO_READ%22&state=s2", to: brAppURI, code: "invalid_scope"},
	{name: "scope beyond the client's registered scopes redirects invalid_scope", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&scope=REPO_ADMIN&state=s2", to: brAppURI, code: "invalid_scope"},
	{name: "public client without code_challenge redirects invalid_request", query: "response_type=code&client_id={pub}&redirect_uri=" + brLoopbackURI + "&state=s2", to: brLoopbackURI, code: "invalid_request"},
	{name: "unsupported code_challenge_method redirects invalid_request", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&code_challenge={challenge}&code_challenge_method=S512&state=s2", to: brAppURI, code: "invalid_request"},
	{name: "code_challenge_method without code_challenge redirects invalid_request", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&code_challenge_method=S256&state=s2", to: brAppURI, code: "invalid_request"},
	{name: "S256 challenge of 42 characters redirects invalid_request", query: "response_type=code&client_id={pub}&redirect_uri=" + brLoopbackURI + "&code_challenge=" + strings.Repeat("A", 42) + "&code_challenge_method=S256&state=s2", to: brLoopbackURI, code: "invalid_request"},
	{name: "S256 challenge in standard base64 redirects invalid_request", query: "response_type=code&client_id={pub}&redirect_uri=" + brLoopbackURI + "&code_challenge=" + strings.Repeat("A", 41) + "%2B%2F&code_challenge_method=S256&state=s2", to: brLoopbackURI, code: "invalid_request"},
	{name: "S256 challenge that is hex, not base64url, redirects invalid_request", query: "response_type=code&client_id={pub}&redirect_uri=" + brLoopbackURI + "&code_challenge=" + strings.Repeat("ab", 32) + "&code_challenge_method=S256&state=s2", to: brLoopbackURI, code: "invalid_request"},
	{name: "plain challenge of 42 characters redirects invalid_request", query: "response_type=code&client_id={pub}&redirect_uri=" + brLoopbackURI + "&code_challenge={verifier42}&code_challenge_method=plain&state=s2", to: brLoopbackURI, code: "invalid_request"},
	{name: "client not registered for the code grant redirects unauthorized_client", query: "response_type=code&client_id={refreshonly}&redirect_uri=" + brAppURI + "&state=s2", to: brAppURI, code: "unauthorized_client"},
	{name: "unknown prompt value redirects invalid_request", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&prompt=sometimes&state=s2", to: brAppURI, code: "invalid_request"},
	{name: "prompt=none with login redirects invalid_request", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&prompt=none%20login&state=s2", to: brAppURI, code: "invalid_request"},
	{name: "negative max_age redirects invalid_request", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&max_age=-1&state=s2", to: brAppURI, code: "invalid_request"},
	{name: "non-numeric max_age redirects invalid_request", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&max_age=soon&state=s2", to: brAppURI, code: "invalid_request"},
	{name: "state over 2048 characters redirects invalid_request without it", query: "response_type=code&client_id={conf}&redirect_uri=" + brAppURI + "&state={state2049}", to: brAppURI, code: "invalid_request", noState: true},
	{name: "omitted redirect_uri with one registered redirects there", query: "response_type=token&client_id={conf}&state=s2", to: brAppURI, code: "unsupported_response_type"},
	{name: "error redirect keeps the registered query", query: "response_type=token&client_id={multi}&redirect_uri=https://app.example.com/cb%3Ftenant%3D7&state=s2", to: brTenantURI, code: "unsupported_response_type"},
	{name: "error redirect to a registered non-default port", query: "response_type=token&client_id={multi}&redirect_uri=" + brPortURI + "&state=s2", to: brPortURI, code: "unsupported_response_type"},
	{name: "error redirect to a registered private-use scheme", query: "client_id={multi}&redirect_uri=" + brNativeURI + "&state=s2", to: brNativeURI, code: "invalid_request"},
	{name: "loopback error redirect goes to the requested port", query: "response_type=code&client_id={pub}&redirect_uri=http://127.0.0.1:5123/callback&state=s2", to: "http://127.0.0.1:5123/callback", code: "invalid_request"},
}

// TestBadAuthorizationRequests runs every case on both dialects'
// authorization endpoints and on the consent page, once without a session
// and once as a signed-in user who approved the clients before: the
// answers must be the same.
func TestBadAuthorizationRequests(t *testing.T) {
	f := newBRFixture(t)
	f.login(t, brAuthorizePaths[0])
	type agent struct {
		name   string
		client *http.Client
	}
	agents := []agent{{"anonymous", f.plain}, {"signed-in", f.browser.Client}}
	for _, c := range brAuthzCases {
		if c.page == (c.to != "") || (c.to != "") != (c.code != "") {
			t.Fatalf("case %q: set either page or to and code", c.name)
		}
		t.Run(c.name, func(t *testing.T) {
			query := f.expand(c.query, nil)
			for _, path := range brAuthorizePaths {
				for _, a := range agents {
					req, _ := http.NewRequest(http.MethodGet, f.env.URL+path+"?"+query, nil)
					resp, err := a.client.Do(req)
					if err != nil {
						t.Fatalf("GET %s: %v", path, err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					where := path + " (" + a.name + ")"
					loc := resp.Header.Get("Location")
					f.checkTarget(t, loc)
					if c.page {
						f.checkErrorPage(t, where, resp, body, http.StatusBadRequest)
						continue
					}
					f.checkErrorRedirect(t, where, resp, c, query)
				}
			}
		})
	}
}

// checkErrorPage asserts an HTML error page with the status and no redirect.
func (f *brFixture) checkErrorPage(t *testing.T, where string, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want an error page with %d; Location %q", where, resp.StatusCode, status, resp.Header.Get("Location"))
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("%s: an error page must not redirect, Location %q", where, loc)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: error page Content-Type %q", where, ct)
	}
	if !strings.Contains(string(body), `role="alert"`) {
		t.Errorf("%s: not the error page: %s", where, body)
	}
	brCheckNoLeak(t, where+" error page", body)
}

// checkErrorRedirect asserts a 302 to c.to carrying c.code, the request's
// state and the issuer, and nothing else.
func (f *brFixture) checkErrorRedirect(t *testing.T, where string, resp *http.Response, c brAuthzCase, query string) {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Errorf("%s: status %d Location %q, want a 302 redirect with error %s", where, resp.StatusCode, loc, c.code)
		return
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Errorf("%s: Location %q: %v", where, loc, err)
		return
	}
	want, _ := url.Parse(c.to)
	if brRedirectBase(u) != brRedirectBase(want) {
		t.Errorf("%s: redirected to %s, want %s", where, loc, c.to)
	}
	got := u.Query()
	sent, _ := url.ParseQuery(query)
	wantState := sent.Get("state")
	if c.noState {
		wantState = ""
	}
	switch {
	case got.Get("error") != c.code:
		t.Errorf("%s: error = %q (%s), want %q", where, got.Get("error"), got.Get("error_description"), c.code)
	case got.Get("error_description") == "":
		t.Errorf("%s: no error_description", where)
	case got.Get("state") != wantState || len(got["state"]) > 1:
		t.Errorf("%s: state = %q, want %q", where, got["state"], wantState)
	case got.Get("iss") != f.env.URL:
		t.Errorf("%s: iss = %q, want %q", where, got.Get("iss"), f.env.URL)
	case got.Has("code") || u.Fragment != "":
		t.Errorf("%s: an error redirect carries a code or fragment: %s", where, loc)
	}
	brCheckNoLeak(t, where+" error redirect", []byte(got.Get("error_description")))
}

// brConsentCase tampers with the consent form before submitting it.
type brConsentCase struct {
	name   string
	set    map[string]string // fields to replace (placeholders expanded)
	drop   []string          // fields to remove
	dup    string            // a field to send twice
	status int               // page status; 0 means an error redirect
	to     string
	code   string
}

var brConsentCases = []brConsentCase{
	{name: "no CSRF token shows a 403 page", drop: []string{"csrf_token"}, status: http.StatusForbidden},
	{name: "forged CSRF token shows a 403 page", set: map[string]string{"csrf_token": "forged"}, status: http.StatusForbidden},
	{name: "unregistered redirect_uri shows a page", set: map[string]string{"redirect_uri": "https://evil.example.net/cb"}, status: http.StatusBadRequest},
	{name: "unknown client_id shows a page", set: map[string]string{"client_id": "no-such-client"}, status: http.StatusBadRequest},
	{name: "suspended client shows a page", set: map[string]string{"client_id": "{susp}"}, status: http.StatusBadRequest},
	{name: "duplicated parameter shows a page", dup: "redirect_uri", status: http.StatusBadRequest},
	{name: "decision neither approve nor deny shows a page", set: map[string]string{"decision": "maybe"}, status: http.StatusBadRequest},
	{name: "scope widened past the registration redirects invalid_scope", set: map[string]string{"scope": "SYSTEM_ADMIN"}, to: brAppURI, code: "invalid_scope"},
	{name: "response_type changed to token redirects unsupported_response_type", set: map[string]string{"response_type": "token"}, to: brAppURI, code: "unsupported_response_type"},
	{name: "challenge method changed to an unknown one redirects invalid_request", set: map[string]string{"code_challenge_method": "MD5"}, to: brAppURI, code: "invalid_request"},
}

var (
	brFormPattern   = regexp.MustCompile(`(?s)<form method="post" action="/plugins/servlet/oauth2/consent">(.*?)</form>`)
	brHiddenPattern = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// TestBadConsentSubmissions submits the consent form after tampering with
// it: the request is validated again, and nothing redirects elsewhere.
func TestBadConsentSubmissions(t *testing.T) {
	f := newBRFixture(t)
	f.login(t, brAuthorizePaths[0])
	start := url.Values{
		"response_type": {"code"}, "client_id": {f.vars["{conf}"]}, "redirect_uri": {brAppURI},
		"scope": {"REPO_READ"}, "state": {"consent-state"},
		"code_challenge": {f.vars["{challenge}"]}, "code_challenge_method": {"S256"},
	}
	for _, c := range brConsentCases {
		t.Run(c.name, func(t *testing.T) {
			status, page, err := f.browser.Get("/plugins/servlet/oauth2/consent?" + start.Encode())
			m := brFormPattern.FindStringSubmatch(page)
			if err != nil || status != http.StatusOK || m == nil {
				t.Fatalf("consent page: status %d err %v: %s", status, err, page)
			}
			form := url.Values{}
			for _, h := range brHiddenPattern.FindAllStringSubmatch(m[1], -1) {
				form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
			}
			if form.Get("csrf_token") == "" || form.Get("client_id") != f.vars["{conf}"] {
				t.Fatalf("consent form lacks its fields: %v", form)
			}
			form.Set("decision", "approve")
			for k, v := range c.set {
				form.Set(k, f.expand(v, nil))
			}
			for _, k := range c.drop {
				form.Del(k)
			}
			if c.dup != "" {
				form.Add(c.dup, form.Get(c.dup))
			}
			resp, body, err := f.browser.Post("/plugins/servlet/oauth2/consent", form)
			if err != nil {
				t.Fatal(err)
			}
			f.checkTarget(t, resp.Header.Get("Location"))
			if c.status != 0 {
				f.checkErrorPage(t, "consent POST", resp, []byte(body), c.status)
				return
			}
			query := url.Values{"state": {"consent-state"}}.Encode()
			f.checkErrorRedirect(t, "consent POST", resp, brAuthzCase{name: c.name, to: c.to, code: c.code}, query)
		})
	}
}

// brTokenCase is one bad token request. The request is data: method (POST
// unless set), query, body and Authorization header are templates whose
// placeholders are expanded after the preparation named by needs has run:
//
//	code      {code}: a fresh code of conf, sent to brAppURI, no PKCE
//	pkce      {code}: a fresh code of pub, challenge S256 of the verifier
//	          named by verifier (default {verifier})
//	tokens    {access} {refresh}: a fresh grant of conf, scope REPO_READ
//	redeemed  {code} {access} {refresh}: a code of conf already redeemed
//	rotated   {refresh}: a refresh token of conf already rotated into
//	          {access.new} {refresh.new}
//	expired   {code}: a code of conf, then the clock moves 11 minutes on
//
// basic is "id:secret" for HTTP Basic; authz is a raw Authorization
// header. padTo pads a form body to exactly that many bytes. After the
// request, the access tokens in deadAccess must be refused by the API and
// the refresh tokens in deadRefresh by the token endpoint.
type brTokenCase struct {
	name        string
	needs       string
	verifier    string
	method      string
	query       string
	contentType string // default form when there is a body; "none" sends no header
	body        string
	padTo       int
	basic       string
	authz       string
	status      int
	code        string
	deadAccess  []string
	deadRefresh []string
}

const (
	brConfBasic = "{conf}:{conf.secret}"
	brCodeBody  = "grant_type=authorization_code&code={code}&redirect_uri=" + brAppURI
	brPKCEBody  = "grant_type=authorization_code&client_id={pub}&code={code}&redirect_uri=" + brLoopbackURI
)

var brTokenCases = []brTokenCase{
	// Client authentication (RFC 6749 §2.3, §5.2).
	{name: "unknown client_id in the body is invalid_client", body: "grant_type=refresh_token&refresh_token=x&client_id=no-such-client&client_secret=x", status: 401, code: "invalid_client"},
	{name: "unknown client in Basic is invalid_client", body: "grant_type=refresh_token&refresh_token=x", basic: "no-such-client:x", status: 401, code: "invalid_client"},
	{name: "suspended client with its right secret is invalid_client", needs: "code", body: brCodeBody, basic: "{susp}:{susp.secret}", status: 401, code: "invalid_client"},
	{name: "wrong secret in Basic is invalid_client", needs: "code", body: brCodeBody, basic: "{conf}:{other.secret}", status: 401, code: "invalid_client"},
	{name: "wrong secret in the body is invalid_client", needs: "code", body: brCodeBody + "&client_id={conf}&client_secret=lks_wrong", status: 401, code: "invalid_client"},
	{name: "Basic and body client_id that disagree are invalid_request", needs: "code", body: brCodeBody + "&client_id={other}", basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "Basic and body client_secret that disagree are invalid_request", needs: "code", body: brCodeBody + "&client_secret={other.secret}", basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "public client sending a client_secret is invalid_client", needs: "pkce", body: brPKCEBody + "&code_verifier={verifier}&client_secret=guess", status: 401, code: "invalid_client"},
	{name: "public client sending a Basic password is invalid_client", needs: "pkce", body: brPKCEBody + "&code_verifier={verifier}", basic: "{pub}:guess", status: 401, code: "invalid_client"},
	{name: "no client authentication at all is invalid_client", needs: "code", body: brCodeBody, status: 401, code: "invalid_client"},
	{name: "confidential client with client_id but no secret is invalid_client", needs: "code", body: brCodeBody + "&client_id={conf}", status: 401, code: "invalid_client"},
	{name: "malformed Basic header (not base64) is invalid_client", needs: "code", body: brCodeBody, authz: "Basic %%%not-base64%%%", status: 401, code: "invalid_client"},
	{name: "Basic credentials without a colon are invalid_client", needs: "code", body: brCodeBody, authz: "Basic " + base64.StdEncoding.EncodeToString([]byte("no-colon-here")), status: 401, code: "invalid_client"},
	{name: "Basic with an empty client id is invalid_client", needs: "code", body: brCodeBody, basic: ":{conf.secret}", status: 401, code: "invalid_client"},
	{name: "Bearer scheme on the token endpoint is invalid_client", needs: "code", body: brCodeBody, authz: "Bearer {conf.secret}", status: 401, code: "invalid_client"},

	// Request syntax.
	{name: "GET on the token endpoint is 405 invalid_request", method: http.MethodGet, query: "grant_type=authorization_code", basic: brConfBasic, status: 405, code: "invalid_request"},
	{name: "PUT on the token endpoint is 405 invalid_request", method: http.MethodPut, body: "grant_type=authorization_code", basic: brConfBasic, status: 405, code: "invalid_request"},
	{name: "missing grant_type is invalid_request", needs: "code", body: "code={code}&redirect_uri=" + brAppURI, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "duplicated parameter in the form is invalid_request", needs: "code", body: brCodeBody + "&code={code}", basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "duplicated grant_type in the form is invalid_request", needs: "code", body: brCodeBody + "&grant_type=refresh_token", basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "parameter in both query and body is invalid_request", needs: "code", query: "code={code}", body: brCodeBody, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "malformed form encoding is invalid_request", needs: "code", body: brCodeBody + "&state=%zz", basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "malformed JSON body is invalid_request", needs: "code", contentType: "application/json", body: `{"grant_type":"authorization_code","code":"{code}"`, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "JSON body with a non-string value is invalid_request", needs: "code", contentType: "application/json", body: `{"grant_type":"authorization_code","code":"{code}","redirect_uri":["` + brAppURI + `"]}`, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "JSON body with a number is invalid_request", needs: "code", contentType: "application/json", body: `{"grant_type":"authorization_code","code":"{code}","redirect_uri":"` + brAppURI + `","expires":3600}`, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "JSON body with trailing data is invalid_request", needs: "code", contentType: "application/json", body: `{"grant_type":"authorization_code","code":"{code}","redirect_uri":"` + brAppURI + `"} {"scope":"SYSTEM_ADMIN"}`, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "JSON array body is invalid_request", needs: "code", contentType: "application/json", body: `["grant_type","authorization_code"]`, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "JSON body with a duplicated member is invalid_request", needs: "code", contentType: "application/json", body: `{"grant_type":"authorization_code","code":"{code}","code":"{code}","redirect_uri":"` + brAppURI + `"}`, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "unsupported Content-Type is invalid_request", needs: "code", contentType: "text/plain", body: brCodeBody, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "multipart body is invalid_request", needs: "code", contentType: "multipart/form-data; boundary=x", body: "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nauthorization_code\r\n--x--\r\n", basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "body without Content-Type is invalid_request", needs: "code", contentType: "none", body: brCodeBody, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "body over 64 KiB is invalid_request", needs: "code", body: brCodeBody, padTo: 64<<10 + 1, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "body of exactly 64 KiB is read (then unsupported_grant_type)", body: "grant_type=password&username=alice&password=alice-password", padTo: 64 << 10, basic: brConfBasic, status: 400, code: "unsupported_grant_type"},

	// Grant types.
	{name: "unknown grant_type is unsupported_grant_type", body: "grant_type=magic", basic: brConfBasic, status: 400, code: "unsupported_grant_type"},
	{name: "password grant is unsupported_grant_type", body: "grant_type=password&username=alice&password=alice-password", basic: brConfBasic, status: 400, code: "unsupported_grant_type"},
	{name: "implicit as a grant_type is unsupported_grant_type", body: "grant_type=implicit", basic: brConfBasic, status: 400, code: "unsupported_grant_type"},
	{name: "token as a grant_type is unsupported_grant_type", body: "grant_type=token", basic: brConfBasic, status: 400, code: "unsupported_grant_type"},
	{name: "client_credentials by a client not registered for it is unauthorized_client", body: "grant_type=client_credentials&scope=REPO_READ", basic: brConfBasic, status: 400, code: "unauthorized_client"},
	{name: "client_credentials by a public client is unauthorized_client", body: "grant_type=client_credentials&client_id={pub}", status: 400, code: "unauthorized_client"},
	{name: "device_code by a client not registered for it is unauthorized_client", body: "grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=whatever", basic: brConfBasic, status: 400, code: "unauthorized_client"},
	{name: "refresh by a client not registered for it is unauthorized_client", body: "grant_type=refresh_token&refresh_token=lkr_whatever", basic: "{codeonly}:{codeonly.secret}", status: 400, code: "unauthorized_client"},

	// Authorization code (RFC 6749 §4.1.3, RFC 9700 §4.2.4).
	{name: "missing code is invalid_request", body: "grant_type=authorization_code&redirect_uri=" + brAppURI, basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "unknown code is invalid_grant", body: "grant_type=authorization_code&code=lkc_no-such-code&redirect_uri=" + brAppURI, basic: brConfBasic, status: 400, code: "invalid_grant"},
	{name: "reused code is invalid_grant and kills the first redemption's tokens", needs: "redeemed", body: brCodeBody, basic: brConfBasic, status: 400, code: "invalid_grant",
		deadAccess: []string{"{access}"}, deadRefresh: []string{"{refresh}"}},
	{name: "expired code (11 minutes) is invalid_grant", needs: "expired", body: brCodeBody, basic: brConfBasic, status: 400, code: "invalid_grant"},
	{name: "code of another client is invalid_grant", needs: "code", body: "grant_type=authorization_code&code={code}&redirect_uri=" + brOtherURI, basic: "{other}:{other.secret}", status: 400, code: "invalid_grant"},
	{name: "code of a confidential client redeemed by a public client is invalid_grant", needs: "code", body: "grant_type=authorization_code&client_id={pub}&code={code}&redirect_uri=" + brAppURI, status: 400, code: "invalid_grant"},
	{name: "redirect_uri differing from the authorization request is invalid_grant", needs: "code", body: "grant_type=authorization_code&code={code}&redirect_uri=https://app.example.com/other", basic: brConfBasic, status: 400, code: "invalid_grant"},
	{name: "redirect_uri omitted though the authorization request sent it is invalid_grant", needs: "code", body: "grant_type=authorization_code&code={code}", basic: brConfBasic, status: 400, code: "invalid_grant"},
	{name: "refresh token presented as a code is invalid_grant", needs: "tokens", body: "grant_type=authorization_code&code={refresh}&redirect_uri=" + brAppURI, basic: brConfBasic, status: 400, code: "invalid_grant"},

	// PKCE (RFC 7636 §4.6, RFC 9700 §2.1.1).
	{name: "missing code_verifier is invalid_grant", needs: "pkce", body: brPKCEBody, status: 400, code: "invalid_grant"},
	{name: "wrong code_verifier is invalid_grant", needs: "pkce", body: brPKCEBody + "&code_verifier={verifier.other}", status: 400, code: "invalid_grant"},
	{name: "code_verifier equal to the challenge is invalid_grant", needs: "pkce", body: brPKCEBody + "&code_verifier={challenge}", status: 400, code: "invalid_grant"},
	{name: "code_verifier of 42 characters is invalid_grant even if it hashes right", needs: "pkce", verifier: "{verifier42}", body: brPKCEBody + "&code_verifier={verifier42}", status: 400, code: "invalid_grant"},
	{name: "code_verifier of 129 characters is invalid_grant even if it hashes right", needs: "pkce", verifier: "{verifier129}", body: brPKCEBody + "&code_verifier={verifier129}", status: 400, code: "invalid_grant"},
	{name: "code_verifier outside the unreserved charset is invalid_grant even if it hashes right", needs: "pkce", verifier: "{verifier.badchar}", body: brPKCEBody + "&code_verifier={verifier.badchar}", status: 400, code: "invalid_grant"},
	{name: "code_verifier for a code without challenge (downgrade) is invalid_grant", needs: "code", body: brCodeBody + "&code_verifier={verifier}", basic: brConfBasic, status: 400, code: "invalid_grant"},

	// Refresh (RFC 6749 §6, RFC 9700 §4.14).
	{name: "missing refresh_token is invalid_request", body: "grant_type=refresh_token", basic: brConfBasic, status: 400, code: "invalid_request"},
	{name: "reused refresh token is invalid_grant and revokes the family", needs: "rotated", body: "grant_type=refresh_token&refresh_token={refresh}", basic: brConfBasic, status: 400, code: "invalid_grant",
		deadAccess: []string{"{access.new}"}, deadRefresh: []string{"{refresh.new}"}},
	{name: "refresh token of another client is invalid_grant", needs: "tokens", body: "grant_type=refresh_token&refresh_token={refresh}", basic: "{other}:{other.secret}", status: 400, code: "invalid_grant"},
	{name: "scope widening on refresh is invalid_scope", needs: "tokens", body: "grant_type=refresh_token&refresh_token={refresh}&scope=REPO_WRITE", basic: brConfBasic, status: 400, code: "invalid_scope"},
	{name: "unknown scope on refresh is invalid_scope", needs: "tokens", body: "grant_type=refresh_token&refresh_token={refresh}&scope=REPO_READ%20NO_SUCH_SCOPE", basic: brConfBasic, status: 400, code: "invalid_scope"},
	{name: "access token used as a refresh token is invalid_grant", needs: "tokens", body: "grant_type=refresh_token&refresh_token={access}", basic: brConfBasic, status: 400, code: "invalid_grant"},
	{name: "unknown refresh token is invalid_grant", body: "grant_type=refresh_token&refresh_token=lkr_no-such-token", basic: brConfBasic, status: 400, code: "invalid_grant"},
}

// TestBadTokenRequests runs every case on both token endpoints.
func TestBadTokenRequests(t *testing.T) {
	for _, d := range brTokenDialects {
		t.Run(d.name, func(t *testing.T) {
			f := newBRFixture(t)
			f.login(t, d.authorize)
			for _, c := range brTokenCases {
				t.Run(c.name, func(t *testing.T) {
					vars := f.prepare(t, d.authorize, d.token, c)
					resp, body := f.send(t, f.tokenRequest(t, d.token, c, vars))
					brCheckTokenError(t, resp, body, c.status, c.code)
					for _, tok := range c.deadAccess {
						f.checkDeadAccess(t, vars[tok])
					}
					for _, tok := range c.deadRefresh {
						f.checkDeadRefresh(t, d.token, vars[tok])
					}
				})
			}
		})
	}
}

// prepare obtains what a case needs and returns the placeholders it fills.
func (f *brFixture) prepare(t *testing.T, authorizePath, tokenPath string, c brTokenCase) map[string]string {
	t.Helper()
	vars := map[string]string{}
	switch c.needs {
	case "":
	case "code":
		vars["{code}"] = f.code(t, authorizePath, "conf", brAppURI, "")
	case "pkce":
		vars["{code}"] = f.code(t, authorizePath, "pub", brLoopbackURI, brOr(c.verifier, "{verifier}"))
	case "tokens":
		vars["{access}"], vars["{refresh}"] = f.exchange(t, tokenPath, "conf", f.code(t, authorizePath, "conf", brAppURI, ""), brAppURI)
	case "redeemed":
		vars["{code}"] = f.code(t, authorizePath, "conf", brAppURI, "")
		vars["{access}"], vars["{refresh}"] = f.exchange(t, tokenPath, "conf", vars["{code}"], brAppURI)
		if status := f.apiStatus(t, vars["{access}"]); status != http.StatusOK {
			t.Fatalf("prepare: fresh access token refused with %d", status)
		}
	case "rotated":
		_, vars["{refresh}"] = f.exchange(t, tokenPath, "conf", f.code(t, authorizePath, "conf", brAppURI, ""), brAppURI)
		vars["{access.new}"], vars["{refresh.new}"] = f.tokens(t, tokenPath, "conf", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {vars["{refresh}"]},
		})
	case "expired":
		vars["{code}"] = f.code(t, authorizePath, "conf", brAppURI, "")
		f.env.Clock.Advance(11 * time.Minute)
	default:
		t.Fatalf("case %q: unknown preparation %q", c.name, c.needs)
	}
	return vars
}

func brOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// tokenRequest builds the HTTP request a case describes.
func (f *brFixture) tokenRequest(t *testing.T, tokenPath string, c brTokenCase, vars map[string]string) *http.Request {
	t.Helper()
	target := f.env.URL + tokenPath
	if c.query != "" {
		target += "?" + f.expand(c.query, vars)
	}
	body := f.expand(c.body, vars)
	if c.padTo > 0 {
		pad := c.padTo - len(body) - len("&pad=")
		if pad < 0 {
			t.Fatalf("case %q: body is already longer than %d bytes", c.name, c.padTo)
		}
		body += "&pad=" + strings.Repeat("p", pad)
	}
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(brOr(c.method, http.MethodPost), target, reader)
	if err != nil {
		t.Fatalf("case %q: %v", c.name, err)
	}
	switch ct := brOr(c.contentType, "application/x-www-form-urlencoded"); {
	case body == "" || ct == "none":
	default:
		req.Header.Set("Content-Type", ct)
	}
	switch {
	case c.authz != "":
		req.Header.Set("Authorization", f.expand(c.authz, vars))
	case c.basic != "":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.expand(c.basic, vars))))
	}
	return req
}

// brCheckTokenError asserts an RFC 6749 §5.2 error answer.
func brCheckTokenError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description any    `json:"error_description"`
		AccessToken string `json:"access_token"`
	}
	err := json.Unmarshal(body, &e)
	if resp.StatusCode != status || err != nil || e.Error != code {
		t.Errorf("status %d body %s, want %d with error %q", resp.StatusCode, body, status, code)
	}
	if _, ok := e.Description.(string); e.Description != nil && !ok {
		t.Errorf("error_description is not a string: %s", body)
	}
	if e.AccessToken != "" {
		t.Errorf("an error answer carries an access token: %s", body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if e.Error == "invalid_client" && (resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "") {
		t.Errorf("invalid_client with status %d and WWW-Authenticate %q, want 401 with a challenge",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("405 with Allow %q, want POST", resp.Header.Get("Allow"))
	}
	brCheckNoLeak(t, "token error body", body)
}

// apiStatus calls GET /api/v1/user with an access token.
func (f *brFixture) apiStatus(t *testing.T, access string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.env.URL+"/api/v1/user", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, body := f.send(t, req)
	brCheckNoLeak(t, "API answer", body)
	return resp.StatusCode
}

func (f *brFixture) checkDeadAccess(t *testing.T, access string) {
	t.Helper()
	if access == "" {
		t.Fatal("no access token to check")
	}
	if status := f.apiStatus(t, access); status != http.StatusUnauthorized {
		t.Errorf("access token should be dead: GET /api/v1/user answered %d, want 401", status)
	}
}

func (f *brFixture) checkDeadRefresh(t *testing.T, tokenPath, refresh string) {
	t.Helper()
	if refresh == "" {
		t.Fatal("no refresh token to check")
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	req, _ := http.NewRequest(http.MethodPost, f.env.URL+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.vars["{conf}"], f.vars["{conf.secret}"])
	resp, body := f.send(t, req)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_grant"`) {
		t.Errorf("refresh token should be dead: status %d body %s", resp.StatusCode, body)
	}
}
