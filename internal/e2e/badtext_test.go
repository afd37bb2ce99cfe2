package e2e

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// TestBadTextIsAClientErrorOnEveryBackend sends NUL bytes and invalid
// UTF-8, which PostgreSQL cannot store, to pages, the protocol endpoints and
// the API. Each must answer as for any other wrong input, never with a 500,
// and the same on SQLite and PostgreSQL.
func TestBadTextIsAClientErrorOnEveryBackend(t *testing.T) {
	backends := map[string]func(t *testing.T) []testkit.Option{
		"sqlite":   func(*testing.T) []testkit.Option { return nil },
		"postgres": func(t *testing.T) []testkit.Option { return []testkit.Option{testkit.OnFreshPostgres(t)} },
	}
	for name, opts := range backends {
		t.Run(name, func(t *testing.T) {
			env := testkit.New(t, opts(t)...)
			env.User("alice", "alice-password")
			env.Grant("alice", admin.Target{Global: true}, "ADMIN")
			id, secret := env.Client(admin.NewClient{Name: "App", RedirectURIs: []string{redirectURI},
				Scopes: "REPO_READ PROJECT_ADMIN ADMIN_WRITE ACCOUNT_WRITE"})
			for _, bad := range []string{"a\x00b", "a\xffb"} {
				checkBadText(t, env, id, secret, bad)
			}
		})
	}
}

func checkBadText(t *testing.T, env *testkit.Env, id, secret, bad string) {
	t.Helper()
	esc := url.QueryEscape(bad)
	status := func(req *http.Request) int {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		return status(req)
	}
	form := func(path string, v url.Values) int {
		req, _ := http.NewRequest(http.MethodPost, env.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return status(req)
	}
	cases := map[string]int{
		"authorize with such a client_id": get("/login/oauth/authorize?response_type=code&client_id=" + esc),
		"API project lookup":              get("/rest/api/latest/projects/" + esc + "/repos"),
		"token with such a client_id":     form("/login/oauth/access_token", url.Values{"grant_type": {"refresh_token"}, "client_id": {bad}, "refresh_token": {"x"}}),
		"token with such a code":          form("/login/oauth/access_token", url.Values{"grant_type": {"authorization_code"}, "client_id": {id}, "client_secret": {secret}, "code": {bad}}),
		"device page with such a code":    get("/login/device?user_code=" + esc),
		"device code request":             form("/login/device/code", url.Values{"client_id": {bad}}),
	}
	// A nonce is stored with the code: signed in, the authorization request
	// gets as far as writing it.
	b := env.Browser("alice", "alice-password")
	if _, err := b.Authorize(env.URL + "/login/oauth/authorize?" + url.Values{"client_id": {id}, "redirect_uri": {redirectURI},
		"response_type": {"code"}, "scope": {"REPO_READ"}}.Encode()); err != nil {
		t.Fatal(err)
	}
	resp, _, err := b.Post("/login", url.Values{"username": {bad}, "password": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	cases["login form with such a user name"] = resp.StatusCode
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/login/oauth/authorize?"+url.Values{"client_id": {id},
		"redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"REPO_READ"}, "nonce": {bad}}.Encode(), nil)
	resp, err = b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cases["authorization with such a nonce"] = resp.StatusCode
	tok := f2Token(t, env, b, id, secret)
	body := []byte(`{"key":"BAD","name":"` + strings.ReplaceAll(bad, "\x00", `\u0000`) + `"}`)
	req, _ = http.NewRequest(http.MethodPost, env.URL+"/rest/api/latest/projects", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	cases["API create with such a name"] = status(req)
	for what, code := range cases {
		if code >= 500 {
			t.Errorf("%q: %s answered %d", bad, what, code)
		}
	}
}

// f2Token gets an access token for the client through the browser.
func f2Token(t *testing.T, env *testkit.Env, b *testkit.Browser, id, secret string) string {
	t.Helper()
	cb, err := b.Authorize(env.URL + "/login/oauth/authorize?" + url.Values{"client_id": {id}, "redirect_uri": {redirectURI},
		"response_type": {"code"}, "scope": {"PROJECT_ADMIN"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	status, body := postForm(t, env.URL+"/login/oauth/access_token", url.Values{"grant_type": {"authorization_code"},
		"code": {cb.Query().Get("code")}, "redirect_uri": {redirectURI}, "client_id": {id}, "client_secret": {secret}})
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// TestDisplayNameWithANULByteIsRefusedOnSQLite: the account update runs
// in a transaction, whose statements pass the same text guard as every
// other write, so SQLite refuses a NUL byte as PostgreSQL does (400 in the
// dialect's error body) and the stored name does not change.
func TestDisplayNameWithANULByteIsRefusedOnSQLite(t *testing.T) {
	f := newAPIFixture(t)
	before := f.user(t, "alice").DisplayName
	f.call(t, "PUT", "/rest/api/latest/users", f.as(t, "alice", "ACCOUNT_WRITE"),
		map[string]any{"displayName": "admin\x00 (bob)"}).want(t, "display name with a NUL byte", 400).bitbucketError(t)
	got := f.call(t, "GET", "/rest/api/latest/users/alice", f.as(t, "bob", "PUBLIC_REPOS"), nil).want(t, "get user", 200).json(t)
	if got["displayName"] != before || f.user(t, "alice").DisplayName != before {
		t.Fatalf("display name after the refused update: %q", got["displayName"])
	}
}
