package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/secret"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

const redirectURI = "http://127.0.0.1:9999/cb"

// signedIn returns a scripted browser signed in as username.
func signedIn(t *testing.T, env *testkit.Env, username, password string) *testkit.Browser {
	t.Helper()
	b := env.Browser(username, password)
	if err := b.SignIn(); err != nil {
		t.Fatal(err)
	}
	return b
}

// submit posts a form and fails the test on a transport error.
func submit(t *testing.T, b *testkit.Browser, path string, form url.Values) (int, string, string) {
	t.Helper()
	status, loc, body, err := b.Submit(path, form)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return status, loc, body
}

// get loads a page and fails the test on a transport error.
func get(t *testing.T, b *testkit.Browser, path string) (int, string) {
	t.Helper()
	status, body, err := b.Get(path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return status, body
}

// wantPage fails unless the answer has the status and says every one of want.
func wantPage(t *testing.T, what string, status int, body string, wantStatus int, want ...string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d", what, status, wantStatus)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: the page does not say %q", what, w)
		}
	}
	for _, leak := range []string{"sqlstore", "sql:", ".go:"} {
		if strings.Contains(body, leak) {
			t.Errorf("%s: the page leaks %q", what, leak)
		}
	}
}

// register is the registration form with the given changes.
func register(name string, changes url.Values) url.Values {
	form := url.Values{"name": {name}, "redirect_uris": {redirectURI}, "scope": {"REPO_READ", "read:user"},
		"client_type": {"confidential"}}
	for k, v := range changes {
		form[k] = v
	}
	return form
}

func TestRegistrationRefusesBadInputInPlainWords(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	b := signedIn(t, env, "alice", "alice-password")
	for _, c := range []struct {
		name    string
		changes url.Values
		want    string
	}{
		{"no scope", url.Values{"scope": nil}, "Choose at least one scope"},
		{"no redirect URI", url.Values{"redirect_uris": {"  "}}, "Enter at least one redirect URI"},
		{"plain http to another host", url.Values{"redirect_uris": {"http://app.example.com/cb"}}, "https"},
		{"a fragment", url.Values{"redirect_uris": {"https://app.example.com/cb#x"}}, "fragment"},
		{"no name", url.Values{"name": {" "}}, "name"},
		{"an unknown scope", url.Values{"scope": {"REPO_READ", "read:everything"}}, "read:everything"},
		{"an unknown client type", url.Values{"client_type": {"trusted"}}, "confidential or public"},
	} {
		status, _, body := submit(t, b, "/user/settings/applications", register("App", c.changes))
		wantPage(t, c.name, status, body, http.StatusBadRequest, `role="alert"`, c.want)
	}
	cs, err := store.All(t.Context(), store.Bind(env.Store.ListClientsByOwner, alice.ID))
	if err != nil || len(cs) != 0 {
		t.Fatalf("refused registrations stored %d clients (%v)", len(cs), err)
	}
}

func TestPublicApplicationHasNoSecretAndNeedsPKCE(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	b := signedIn(t, env, "alice", "alice-password")
	status, _, body := submit(t, b, "/user/settings/applications", register("CLI", url.Values{"client_type": {"public"}}))
	wantPage(t, "public registration", status, body, http.StatusOK, "CLI</strong> is registered", "has no secret")
	if strings.Contains(body, "lks_") {
		t.Error("a public application was shown a secret")
	}
	cs, _ := store.All(t.Context(), store.Bind(env.Store.ListClientsByOwner, alice.ID))
	if len(cs) != 1 || !cs[0].Public || !cs[0].PKCERequired || cs[0].SecretHash != "" {
		t.Fatalf("stored %+v, want one public client with PKCE required and no secret", cs)
	}
	status, body = get(t, b, "/user/settings/applications/"+cs[0].ID)
	if status != http.StatusOK || strings.Contains(body, "Regenerate secret") {
		t.Errorf("a public application's page (status %d) offers to regenerate a secret", status)
	}
}

func TestEditAndDeleteOnlyYourOwnApplication(t *testing.T) {
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	env.User("bob", "bob-password")
	id, plain := env.Client(admin.NewClient{Name: "Alice App", RedirectURIs: []string{redirectURI}, OwnerUserID: alice.ID})
	a, bob := signedIn(t, env, "alice", "alice-password"), signedIn(t, env, "bob", "bob-password")
	path := "/user/settings/applications/" + id

	for _, try := range []struct {
		method, path string
	}{{"GET", path}, {"POST", path}, {"POST", path + "/secret"}, {"POST", path + "/delete"}} {
		var status int
		var body string
		if try.method == "GET" {
			status, body = get(t, bob, try.path)
		} else {
			status, _, body = submit(t, bob, try.path, url.Values{"confirm": {"yes"}, "name": {"Bob's now"},
				"redirect_uris": {redirectURI}, "scope": {"REPO_READ"}})
		}
		wantPage(t, "bob: "+try.method+" "+try.path, status, body, http.StatusNotFound, "no such application")
	}
	c, err := env.Store.GetClient(t.Context(), id)
	if err != nil || c.Name != "Alice App" || c.SecretHash != secret.Hash(plain) {
		t.Fatalf("after bob's tries: %+v, %v", c, err)
	}

	status, loc, _ := submit(t, a, path, url.Values{"name": {"Renamed"},
		"redirect_uris": {"https://app.example.com/cb\r\nhttp://127.0.0.1/other"}, "scope": {"REPO_WRITE", "openid"},
		"pkce_required": {"on"}})
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "?done=updated") {
		t.Fatalf("save: %d to %q", status, loc)
	}
	c, _ = env.Store.GetClient(t.Context(), id)
	if c.Name != "Renamed" || len(c.RedirectURIs) != 2 || strings.Join(c.Scopes, " ") != "REPO_WRITE openid" || !c.PKCERequired {
		t.Errorf("after saving: %+v", c)
	}
	_, body := get(t, a, loc)
	wantPage(t, "after saving", http.StatusOK, body, http.StatusOK, "The application was saved.")

	status, _, body = submit(t, a, path+"/delete", nil)
	wantPage(t, "delete without confirming", status, body, http.StatusOK, "Delete Renamed?", "cannot be undone")
	if _, err := env.Store.GetClient(t.Context(), id); err != nil {
		t.Fatalf("the application is gone before the deletion was confirmed: %v", err)
	}
	status, loc, _ = submit(t, a, path+"/delete", url.Values{"confirm": {"yes"}})
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "?done=deleted") {
		t.Fatalf("confirmed delete: %d to %q", status, loc)
	}
	if _, err := env.Store.GetClient(t.Context(), id); err == nil {
		t.Error("the application still exists after a confirmed deletion")
	}
}

func TestSettingsNeedASignIn(t *testing.T) {
	env := testkit.New(t)
	b := env.Browser("", "")
	for _, path := range []string{"/user/settings/applications", "/user/settings/account", "/admin/applications", "/admin/audit"} {
		resp, err := b.Client.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "/login?" + url.Values{"next": {path}}.Encode()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Errorf("GET %s signed out: %d to %q, want 302 to %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	status, _, body := submit(t, b, "/user/settings/applications", register("App", nil))
	wantPage(t, "POST signed out", status, body, http.StatusUnauthorized, "sign-in has expired")
}

// TestLastUseIsRecordedAtMostOncePerMinute: the bearer check writes the
// family's last use on the first request, not again within a minute, and
// again after it.
func TestLastUseIsRecordedAtMostOncePerMinute(t *testing.T) {
	env := testkit.New(t)
	env.User("alice", "alice-password")
	id, plain := env.Client(admin.NewClient{Name: "App", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ read:user"})
	tok := token(t, env, id, plain, "alice")
	lastUsed := func() time.Time {
		_, fam, err := env.Store.GetToken(t.Context(), secret.TokenKey(tok.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		return fam.LastUsedAt
	}
	if !lastUsed().IsZero() {
		t.Fatal("a new grant was already used")
	}
	callAPI(t, env, tok.AccessToken)
	first := lastUsed()
	if first.IsZero() {
		t.Fatal("the first API call recorded no use")
	}
	env.Clock.Advance(30 * time.Second)
	callAPI(t, env, tok.AccessToken)
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("a call 30 s later moved last use from %v to %v; want one write a minute", first, got)
	}
	env.Clock.Advance(31 * time.Second)
	callAPI(t, env, tok.AccessToken)
	if got := lastUsed(); !got.After(first.Add(time.Minute)) {
		t.Errorf("a call 61 s later left last use at %v (first %v)", got, first)
	}
}

// token runs the code flow for username with the scripted browser.
func token(t *testing.T, env *testkit.Env, clientID, clientSecret, username string) *oauth2.Token {
	t.Helper()
	conf := oauthConfig(env, clientID, clientSecret)
	tok, err := conf.Exchange(context.WithoutCancel(t.Context()), code(t, env, conf, username))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// oauthConfig is an x/oauth2 client of the node's Gitea endpoints.
func oauthConfig(env *testkit.Env, clientID, clientSecret string) *oauth2.Config {
	return &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURI,
		Scopes: []string{"REPO_READ", "read:user"},
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize", TokenURL: env.URL + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInHeader}}
}

// code gets an authorization code for username with the scripted browser.
func code(t *testing.T, env *testkit.Env, conf *oauth2.Config, username string) string {
	t.Helper()
	cb, err := env.Browser(username, username+"-password").Authorize(conf.AuthCodeURL("st"))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	return cb.Query().Get("code")
}

// callAPI makes a protected request and returns its status.
func callAPI(t *testing.T, env *testkit.Env, access string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/api/v1/user", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// events returns the names of the audit events, oldest first.
func events(t *testing.T, st store.Store) []store.AuditEvent {
	t.Helper()
	es, err := store.All(t.Context(), st.ListAudit)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}
