package access_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"latchkey/internal/access"
	"latchkey/internal/admin"
	"latchkey/internal/dialect"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// fixture is a node on a real SQLite database with projects PRJ (private,
// repository code), OPEN (public, repository docs) and MIX (private,
// repository closed), and a client whose service identity may write
// PRJ/code and read MIX/closed. Its tokens come from the real token
// endpoint (client_credentials).
type fixture struct {
	env   *testkit.Env
	guard *access.Guard
	conf  clientcredentials.Config
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := testkit.New(t)
	id, secret := env.Client(admin.NewClient{GrantTypes: oauth.GrantClientCredentials, RedirectURIs: []string{"https://app.example/cb"},
		Scopes: "PUBLIC_REPOS REPO_READ REPO_WRITE PROJECT_ADMIN ACCOUNT_WRITE openid", DefaultScopes: "REPO_READ"})
	env.Project("PRJ", false)
	env.Repo("PRJ", "code", false)
	env.Project("OPEN", true)
	env.Repo("OPEN", "docs", false)
	env.Project("MIX", false)
	env.Repo("MIX", "closed", false)
	env.GrantClient(id, admin.Target{Repo: "PRJ/code"}, "REPO_WRITE")
	env.GrantClient(id, admin.Target{Repo: "MIX/closed"}, "REPO_READ")
	return &fixture{
		env:   env,
		guard: access.New(access.Config{Tokens: env.Server.Provider, Store: env.Store, Schemes: []access.Scheme{access.Basic(), access.Bearer()}}),
		conf: clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: env.URL + dialect.Bitbucket().TokenPath,
			AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// token is an access token of the service identity with scopes.
func (f *fixture) token(t *testing.T, scopes string) string {
	t.Helper()
	conf := f.conf
	conf.Scopes = strings.Fields(scopes)
	tok, err := conf.Token(t.Context())
	if err != nil {
		t.Fatalf("token for %q: %v", scopes, err)
	}
	return tok.AccessToken
}

// caller authenticates a request with the header (empty: none).
func (f *fixture) caller(t *testing.T, authorization string) *oauth.Caller {
	t.Helper()
	r, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	c, err := f.guard.AuthenticateOrAnonymous(r)
	if err != nil {
		t.Fatalf("authenticate %q: %v", authorization, err)
	}
	return c
}

func TestAuthenticateAsksTheCoreAboutTheToken(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, "REPO_READ")
	r, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	r.SetBasicAuth("anyone", tok)
	c, err := f.guard.Authenticate(r)
	if err != nil || !strings.HasPrefix(c.User.Username, "client:") || !c.Principal.Scopes.Has(scope.RepoRead) {
		t.Fatalf("token in Basic: caller %+v, %v", c, err)
	}
	r.Header.Set("Authorization", "Bearer lka_not-a-token")
	var e *oauth.Error
	if _, err := f.guard.Authenticate(r); !errors.As(err, &e) || e.Code != oauth.CodeInvalidToken {
		t.Fatalf("unknown token: %v, want invalid_token", err)
	}
	r.Header.Del("Authorization")
	if _, err := f.guard.Authenticate(r); !errors.Is(err, access.ErrNoCredentials) {
		t.Fatalf("no credentials: %v, want ErrNoCredentials", err)
	}
	if c := f.caller(t, ""); !c.Anonymous() || c.Principal.Scopes.Has(scope.RepoRead) {
		t.Fatalf("anonymous caller %+v", c)
	}
}

// refusal is an expected decision: nil for allowed.
func refusal(v scope.Verdict, anonymous bool, required, what string) *access.Denied {
	return &access.Denied{Verdict: v, Anonymous: anonymous, Required: required, What: what}
}

func checkDecision(t *testing.T, what string, err error, want *access.Denied) {
	t.Helper()
	var d *access.Denied
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: %v, want allowed", what, err)
	case want == nil:
	case !errors.As(err, &d):
		t.Errorf("%s: %v, want %+v", what, err, *want)
	case *d != *want:
		t.Errorf("%s: %+v, want %+v", what, *d, *want)
	}
}

func TestRepoDecisions(t *testing.T) {
	f := newFixture(t)
	read, write, public := "Bearer "+f.token(t, "REPO_READ"), "Bearer "+f.token(t, "REPO_WRITE"), "Bearer "+f.token(t, "PUBLIC_REPOS")
	for _, c := range []struct {
		name, auth, key, slug string
		need                  scope.Level
		want                  *access.Denied
	}{
		{"a token may read what its user may write", read, "PRJ", "code", scope.Read, nil},
		{"the project key in any case", read, "prj", "code", scope.Read, nil},
		{"a read token may not push: it names the scope", read, "PRJ", "code", scope.Write, refusal(scope.DenyScope, false, scope.RepoWrite, "Repository PRJ/code")},
		{"a write token may push", write, "PRJ", "code", scope.Write, nil},
		{"a repository beyond the token's scopes is hidden", public, "PRJ", "code", scope.Read, refusal(scope.DenyHidden, false, "", "Repository PRJ/code")},
		{"a private repository is hidden from anonymous callers", "", "PRJ", "code", scope.Read, refusal(scope.DenyHidden, true, "", "Repository PRJ/code")},
		{"a missing repository is hidden alike, named as asked", write, "prj", "nope", scope.Read, refusal(scope.DenyHidden, false, "", "Repository prj/nope")},
		{"a public repository is readable by anyone", "", "OPEN", "docs", scope.Read, nil},
		{"the scopes would do but the user may not", write, "OPEN", "docs", scope.Write, refusal(scope.DenyPermission, false, "", "Repository OPEN/docs")},
		{"administration names REPO_ADMIN", write, "PRJ", "code", scope.Admin, refusal(scope.DenyScope, false, scope.RepoAdmin, "Repository PRJ/code")},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, p, err := f.guard.Repo(t.Context(), f.caller(t, c.auth), c.key, c.slug, c.need)
			checkDecision(t, c.key+"/"+c.slug, err, c.want)
			if err == nil && (r.Slug != c.slug || p.ID != r.ProjectID) {
				t.Errorf("loaded %+v of %+v", r, p)
			}
			if err != nil && (r.ID != 0 || p.ID != 0) {
				t.Errorf("a refusal loaded %+v of %+v", r, p)
			}
		})
	}
}

func TestProjectDecisions(t *testing.T) {
	f := newFixture(t)
	read, admin := "Bearer "+f.token(t, "REPO_READ"), "Bearer "+f.token(t, "PROJECT_ADMIN")
	for _, c := range []struct {
		name, auth, key string
		need            scope.Level
		readsRepo       bool // what the listing says
		asked           bool // whether the listing is asked
		want            *access.Denied
	}{
		{"a public project is readable without asking the listing", "", "OPEN", scope.Read, false, false, nil},
		{"a project whose repository the caller reads may be viewed", read, "MIX", scope.Read, true, true, nil},
		{"a project whose repositories the caller may not read is hidden", read, "MIX", scope.Read, false, true,
			refusal(scope.DenyHidden, false, "", "Project MIX")},
		{"a missing project is hidden alike", read, "NOPE", scope.Read, false, false, refusal(scope.DenyHidden, false, "", "Project NOPE")},
		{"changing a project takes PROJECT_ADMIN", read, "MIX", scope.Admin, true, true,
			refusal(scope.DenyScope, false, scope.ProjectAdmin, "Project MIX")},
		{"with PROJECT_ADMIN the user's own permission decides", admin, "MIX", scope.Admin, true, true,
			refusal(scope.DenyPermission, false, "", "Project MIX")},
		{"anonymous callers are told apart", "", "MIX", scope.Read, false, true, refusal(scope.DenyHidden, true, "", "Project MIX")},
	} {
		t.Run(c.name, func(t *testing.T) {
			asked := false
			p, err := f.guard.Project(t.Context(), f.caller(t, c.auth), c.key, c.need, func(p store.Project) (bool, error) {
				asked = true
				if p.Key != c.key {
					t.Errorf("listing asked about %q", p.Key)
				}
				return c.readsRepo, nil
			})
			checkDecision(t, c.key, err, c.want)
			if asked != c.asked {
				t.Errorf("listing asked: %v, want %v", asked, c.asked)
			}
			if (err == nil) != (p.ID != 0) {
				t.Errorf("loaded %+v with %v", p, err)
			}
		})
	}
	boom := errors.New("listing failed")
	_, err := f.guard.Project(t.Context(), f.caller(t, read), "MIX", scope.Read, func(store.Project) (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Errorf("a failing listing gave %v", err)
	}
}

func TestDecisionsWithoutLoading(t *testing.T) {
	f := newFixture(t)
	read, pa, acct, openid := f.caller(t, "Bearer "+f.token(t, "REPO_READ")), f.caller(t, "Bearer "+f.token(t, "PROJECT_ADMIN")),
		f.caller(t, "Bearer "+f.token(t, "ACCOUNT_WRITE")), f.caller(t, "Bearer "+f.token(t, "openid"))
	anonymous := access.Anonymous()
	for _, c := range []struct {
		name string
		err  error
		want *access.Denied
	}{
		{"every user is a licensed user", access.Global(read, scope.LicensedUser), nil},
		{"creating projects takes PROJECT_ADMIN", access.Global(read, scope.ProjectCreator), refusal(scope.DenyScope, false, scope.ProjectAdmin, "")},
		{"and the permission to create projects", access.Global(pa, scope.ProjectCreator), refusal(scope.DenyPermission, false, "", "")},
		{"user administration takes ADMIN_WRITE", access.Global(read, scope.GlobalAdmin), refusal(scope.DenyScope, false, scope.AdminWrite, "")},
		{"system administration takes SYSTEM_ADMIN", access.Global(read, scope.SysAdmin), refusal(scope.DenyScope, false, scope.SystemAdmin, "")},
		{"reading administrative data names ADMIN_WRITE", access.AdminRead(read), refusal(scope.DenyScope, false, scope.AdminWrite, "")},
		{"changing the account takes ACCOUNT_WRITE", access.Account(read), refusal(scope.DenyScope, false, scope.AccountWrite, "")},
		{"which a service identity's token may carry", access.Account(acct), nil},
		{"an anonymous caller has no account", access.Account(anonymous), refusal(scope.DenyScope, true, scope.AccountWrite, "")},
		{"userinfo takes openid", access.RequireScope(read, scope.OpenID), refusal(scope.DenyScope, false, scope.OpenID, "")},
		{"which the token carries", access.RequireScope(openid, scope.OpenID), nil},
	} {
		checkDecision(t, c.name, c.err, c.want)
	}
}
