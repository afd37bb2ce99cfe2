package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
)

// emails maps the user names of a Bitbucket user list to the email address
// each shows ("" when it shows none).
func emails(values []map[string]any, path ...string) map[string]string {
	out := map[string]string{}
	for _, v := range values {
		for _, p := range path {
			v = v[p].(map[string]any)
		}
		addr, _ := v["emailAddress"].(string)
		out[v["name"].(string)] = addr
	}
	return out
}

// serviceToken returns an access token of a new client's service identity
// (client_credentials) with the given scopes.
func (f *apiFixture) serviceToken(t *testing.T, scopes string) string {
	t.Helper()
	id, secret := f.env.Client(admin.NewClient{Name: "Robot", RedirectURIs: []string{redirectURI}, Scopes: scopes, GrantTypes: oauth.GrantClientCredentials})
	status, body := postForm(t, f.env.URL+"/rest/oauth2/latest/token", url.Values{
		"grant_type": {oauth.GrantClientCredentials}, "client_id": {id}, "client_secret": {secret}, "scope": {scopes}})
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	return body["access_token"].(string)
}

func TestUserListsShowEmailOnlyToTheUserAndAdministrators(t *testing.T) {
	f := newAPIFixture(t)
	f.env.Grant("bob", admin.Target{Repo: "PRJ/code"}, "REPO_READ")
	for _, c := range []struct {
		who, token string
		visible    []string // the users whose address the caller sees
	}{
		{"bob with PUBLIC_REPOS", f.as(t, "bob", "PUBLIC_REPOS"), []string{"bob"}},
		{"bob with REPO_READ", f.as(t, "bob", "REPO_READ"), []string{"bob"}},
		{"a service identity", f.serviceToken(t, "PUBLIC_REPOS REPO_READ"), nil},
		{"a global ADMIN without an admin scope", f.as(t, "root", "PROJECT_ADMIN"), []string{"root"}},
		{"a plain user with an admin scope", f.as(t, "bob", "ADMIN_WRITE"), []string{"bob"}},
		{"a global ADMIN with ADMIN_WRITE", f.as(t, "root", "ADMIN_WRITE"), []string{"alice", "bob", "creator", "root", "sys"}},
		{"a SYS_ADMIN with read:admin", f.as(t, "sys", "read:admin"), []string{"alice", "bob", "creator", "root", "sys"}},
	} {
		t.Run(c.who, func(t *testing.T) {
			list := emails(f.call(t, "GET", "/rest/api/latest/users", c.token, nil).want(t, "list users", 200).values(t))
			for _, name := range []string{"alice", "bob", "creator", "root", "sys"} {
				want := ""
				if slices.Contains(c.visible, name) {
					want = name + "@example.com"
				}
				if list[name] != want {
					t.Errorf("the user list shows %s's address as %q, want %q", name, list[name], want)
				}
				one := f.call(t, "GET", "/rest/api/latest/users/"+name, c.token, nil).want(t, "get user", 200).json(t)
				if got, _ := one["emailAddress"].(string); got != want {
					t.Errorf("GET /users/%s shows the address %q, want %q", name, got, want)
				}
			}
			found := f.call(t, "GET", "/rest/api/latest/users?filter=alice%40example", c.token, nil).want(t, "filter by address", 200).values(t)
			if matched := len(found) == 1; matched != slices.Contains(c.visible, "alice") {
				t.Errorf("filtering by alice's address matched %d users; the filter must match only addresses the caller sees", len(found))
			}
		})
	}
	// A repository administrator lists who holds permissions: their own
	// address, nobody else's.
	holders := f.call(t, "GET", "/rest/api/latest/projects/PRJ/repos/code/permissions/users", f.as(t, "alice", "REPO_ADMIN"), nil).
		want(t, "list repository permissions", 200).values(t)
	if got := emails(holders, "user"); got["alice"] != "alice@example.com" || got["bob"] != "" || len(got) != 2 {
		t.Errorf("repository permission holders show addresses %v, want alice's only", got)
	}
	if strings.Contains(string(f.call(t, "GET", "/rest/api/latest/users", f.as(t, "bob", "PUBLIC_REPOS"), nil).body), "alice@example.com") {
		t.Error("a PUBLIC_REPOS token of another user sees alice's address")
	}
}
