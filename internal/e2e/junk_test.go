package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/routes"
	"latchkey/internal/server"
	"latchkey/internal/testkit"
	"latchkey/internal/web"
)

// TestNoEndpointAnswers500ToJunk sends every route the node serves, under
// every method, bodies that are not what it expects — broken JSON, a form
// of nonsense, huge numbers — without a token and with a valid one.
// Whatever is wrong with a request is the client's fault: nothing may
// answer 5xx. The routes come from the node itself (server.Routes), so a
// new route is walked as soon as it is registered.
func TestNoEndpointAnswers500ToJunk(t *testing.T) {
	if raceDetector {
		t.Skip("the junk walk checks statuses, not concurrency: it runs in the pass without the race detector")
	}
	t.Run("sqlite", func(t *testing.T) { sendJunk(t, newFixture(t)) })
	t.Run("postgres", func(t *testing.T) { sendJunk(t, newFixture(t, testkit.OnFreshPostgres(t))) })
}

// junkMethods are the methods every path is sent, besides its own.
var junkMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}

// junkQueries are hand-picked query strings and spellings, sent besides
// the paths made from the routes: values the handlers parse.
func junkQueries(clientID string) []string {
	return []string{
		"/login/device/confirm?user_code=%FF", "/plugins/servlet/oauth2/consent?client_id=" + clientID,
		"/rest/api/latest/projects/PRIV/permissions/users?name=%00&permission=x",
		"/rest/api/latest/projects/PRIV/repos/secret-repo/permissions/users?name=alice&permission=REPO_READ",
		"/rest/api/latest/repos?start=99999999999999999999", "/rest/api/latest/admin/users?limit=-1",
		"/rest/api/latest/admin/permissions/users?name=alice&permission=NOPE",
		"/api/v1/user/repos?page=-3&limit=x", "/api/v1/orgs/PRIV/repos?page=9223372036854775807",
		"/scm/priv/secret-repo.git/info/refs?service=git-upload-pack", "/scm/priv/secret-repo.git/git-receive-pack",
		"/admin/audit?page=x",
	}
}

// junkValues fills the path wildcards of the routes: names that exist in
// the fixture and names that do not or cannot be parsed. A wildcard not
// named here (a new route's) is still walked, with "x".
func junkValues(clientID, userID string) func(name string) []string {
	values := map[string][]string{
		"client":  {clientID, "nope"},
		"user":    {userID, "99999999999999999999"},
		"key":     {"PRIV"},
		"project": {"PRIV"},
		"owner":   {"PRIV"},
		"org":     {"PRIV"},
		"slug":    {"secret-repo", "alice"},
		"repo":    {"secret-repo"},
		"service": {"git-upload-pack"},
	}
	return func(name string) []string {
		if v, ok := values[name]; ok {
			return v
		}
		return []string{"x"}
	}
}

// junkTargets is what the junk walk sends: every path of every route the
// node serves, with the methods to send it, then the hand-picked queries.
// The paths name the application clientID and the user userID.
func junkTargets(list []server.Route, clientID, userID string) map[string][]string {
	targets := map[string][]string{}
	add := func(path, method string) {
		if targets[path] == nil {
			targets[path] = slices.Clone(junkMethods)
		}
		if method != "" && !slices.Contains(targets[path], method) {
			targets[path] = append(targets[path], method)
		}
	}
	for _, r := range list {
		for _, path := range r.Fill(junkValues(clientID, userID)) {
			add(path, r.Method)
		}
	}
	for _, path := range junkQueries(clientID) {
		add(path, "")
	}
	return targets
}

func sendJunk(t *testing.T, f *fixture) {
	f.env.Grant("alice", admin.Target{Global: true}, "SYS_ADMIN")
	id, secret := f.env.Client(admin.NewClient{Name: "Everything", RedirectURIs: []string{redirectURI}, Scopes: "SYSTEM_ADMIN ACCOUNT_WRITE openid"})
	conf := f.config(dialects[1], id, secret, "SYSTEM_ADMIN", "ACCOUNT_WRITE", "openid")
	oauthTok, err := conf.Exchange(context.Background(), f.authorize(t, f.env.Browser("alice", "alice-password"), conf))
	if err != nil {
		t.Fatal(err)
	}
	tok := oauthTok.AccessToken
	alice, err := f.env.Store.GetUserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	bodies := []struct{ contentType, body string }{
		{"application/json", `{"name":`},
		{"application/json", `{"name":["x"],"public":"yes","key":123,"project":{"key":7}}`},
		{"application/x-www-form-urlencoded", "a=%zz&&=&grant_type=%00&scope=%FF"},
		{"text/plain", strings.Repeat("x", 70000)},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, methods := range junkTargets(f.env.Server.Routes(), f.confID, strconv.FormatInt(alice.ID, 10)) {
		for _, method := range methods {
			for _, b := range bodies {
				for _, bearer := range []string{"", tok} {
					req, err := http.NewRequest(method, f.env.URL+path, strings.NewReader(b.body))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Content-Type", b.contentType)
					if bearer != "" {
						req.Header.Set("Authorization", "Bearer "+bearer)
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode >= 500 {
						t.Errorf("%s %s (%s, token %v) answered %d", method, path, b.contentType, bearer != "", resp.StatusCode)
					}
				}
			}
		}
	}
}

// TestANewFormIsProtectedAndWalked registers a new form the ordinary way
// (a POST page route on the page router) and edits no list: the form
// refuses posts without a valid CSRF token with the usual 403 page before
// its handler runs, accepts the real one, and is in the junk walk.
func TestANewFormIsProtectedAndWalked(t *testing.T) {
	var ran atomic.Int32
	env := testkit.NewWithRoutes(t, func(pages *web.Router, _ routes.Mux) {
		pages.HandleFunc("POST /e2e/new-form/{thing}", func(w http.ResponseWriter, r *http.Request) error {
			ran.Add(1)
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
	})
	b := env.Browser("", "")
	valid, err := b.CSRF("/login")
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"no token": "", "a wrong token": strings.Repeat("forged", 7)} {
		form := url.Values{"field": {"value"}}
		if token != "" {
			form.Set("csrf_token", token)
		}
		resp, body, err := b.Post("/e2e/new-form/x", form)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form has expired or did not come from this site.") {
			t.Errorf("post with %s: %d, want 403 with the form-expired page: %.300s", name, resp.StatusCode, body)
		}
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("the handler ran %d times for forged posts", n)
	}
	resp, _, err := b.Post("/e2e/new-form/x", url.Values{"csrf_token": {valid}})
	if err != nil || resp.StatusCode != http.StatusNoContent || ran.Load() != 1 {
		t.Fatalf("post with the right token: %v, %v; the handler ran %d times", err, resp, ran.Load())
	}
	methods, ok := junkTargets(env.Server.Routes(), "", "")["/e2e/new-form/x"]
	if !ok || !slices.Contains(methods, http.MethodPost) {
		t.Fatalf("the junk walk does not post to the new form: %v", methods)
	}
}
