package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// TestNoEndpointAnswers500ToJunk sends every route, under every method,
// bodies that are not what it expects — broken JSON, a form of nonsense,
// huge numbers — without a token and with a valid one. Whatever is wrong
// with a request is the client's fault: nothing may answer 5xx.
func TestNoEndpointAnswers500ToJunk(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { sendJunk(t, newFixture(t)) })
	t.Run("postgres", func(t *testing.T) { sendJunk(t, newFixture(t, testkit.OnFreshPostgres(t))) })
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
	paths := []string{
		"/login", "/logout", "/", "/login/device", "/login/device/confirm?user_code=%FF",
		"/plugins/servlet/oauth2/consent?client_id=" + f.confID,
		"/rest/oauth2/latest/authorize", "/rest/oauth2/latest/token", "/rest/oauth2/latest/revoke", "/rest/oauth2/latest/introspect",
		"/login/oauth/authorize", "/login/oauth/access_token", "/login/oauth/revoke", "/login/oauth/introspect",
		"/login/oauth/userinfo", "/login/oauth/keys", "/login/device/code", "/.well-known/openid-configuration",
		"/rest/api/latest/projects", "/rest/api/latest/projects/PRIV", "/rest/api/latest/projects/PRIV/repos",
		"/rest/api/latest/projects/PRIV/repos/secret-repo", "/rest/api/latest/projects/PRIV/permissions/users?name=%00&permission=x",
		"/rest/api/latest/projects/PRIV/repos/secret-repo/permissions/users?name=alice&permission=REPO_READ",
		"/rest/api/latest/repos?start=99999999999999999999", "/rest/api/latest/users", "/rest/api/latest/users/alice",
		"/rest/api/latest/admin/users?limit=-1", "/rest/api/latest/admin/permissions/users?name=alice&permission=NOPE",
		"/rest/api/latest/admin/signing-keys", "/rest/api/latest/admin/signing-keys/rotate",
		"/rest/api/latest/application-properties", "/api/v1/user", "/api/v1/user/repos?page=-3&limit=x",
		"/api/v1/repos/PRIV/secret-repo", "/api/v1/orgs/PRIV/repos?page=9223372036854775807",
		"/scm/priv/secret-repo.git/info/refs?service=git-upload-pack", "/scm/priv/secret-repo.git/git-receive-pack",
		"/user/settings/applications", "/user/settings/applications/nope", "/user/settings/account",
		"/admin/users/99999999999999999999", "/admin/audit?page=x", "/healthz", "/readyz", "/metrics",
	}
	bodies := []struct{ contentType, body string }{
		{"application/json", `{"name":`},
		{"application/json", `{"name":["x"],"public":"yes","key":123,"project":{"key":7}}`},
		{"application/x-www-form-urlencoded", "a=%zz&&=&grant_type=%00&scope=%FF"},
		{"text/plain", strings.Repeat("x", 70000)},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range paths {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
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
