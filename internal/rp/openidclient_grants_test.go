package rp

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// grantsScript is a run of testdata/openid-client/grants.mjs: it prints one
// JSON object per line, which next reads in order.
type grantsScript struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stderr *testkit.SyncBuffer
}

// startGrantsScript runs grants.mjs in mode with the given environment
// (NAME=value) added to the test's, and gives it two minutes.
func startGrantsScript(t *testing.T, mode string, vars ...string) *grantsScript {
	t.Helper()
	node := requireOpenIDClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, "grants.mjs", mode)
	cmd.Dir = openIDClientDir
	cmd.Env = append(os.Environ(), vars...)
	s := &grantsScript{t: t, cmd: cmd, stderr: &testkit.SyncBuffer{}}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })
	s.lines = bufio.NewScanner(stdout)
	return s
}

// next decodes the script's next line into v, or fails the test with what
// the script said on stderr.
func (s *grantsScript) next(v any) {
	s.t.Helper()
	if !s.lines.Scan() {
		err := s.cmd.Wait()
		s.t.Fatalf("openid-client stopped early (%v):\n%s", err, s.stderr.String())
	}
	if err := json.Unmarshal(s.lines.Bytes(), v); err != nil {
		s.t.Fatalf("openid-client printed %q: %v\nstderr:\n%s", s.lines.Text(), err, s.stderr.String())
	}
}

// apiAnswer is the status of one API call the script made, and the error of
// the Bearer challenge that came with a refusal.
type apiAnswer struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
}

// apiChecks are the script's calls to a path its token may read and to a
// private repository it may not.
type apiChecks struct {
	Allowed apiAnswer `json:"allowed"`
	Denied  apiAnswer `json:"denied"`
}

// check fails the test unless the token read the allowed repository and
// was told the other one does not exist.
func (c apiChecks) check(t *testing.T, what string) {
	t.Helper()
	if c.Allowed.Status != 200 {
		t.Errorf("%s on its repository: %+v, want 200", what, c.Allowed)
	}
	if c.Denied.Status != 404 {
		t.Errorf("%s on a private repository it may not read: %+v, want 404", what, c.Denied)
	}
}

// rpRepos creates PRIV/app, which the test grants to its subject, and
// OTHER/hidden, which nobody is granted; both private. It returns the API
// paths of the two.
func rpRepos(env *testkit.Env) (allowed, denied string) {
	env.Project("PRIV", false)
	env.Repo("PRIV", "app", false)
	env.Project("OTHER", false)
	env.Repo("OTHER", "hidden", false)
	return "/rest/api/latest/projects/PRIV/repos/app", "/rest/api/latest/projects/OTHER/repos/hidden"
}

// TestOpenIDClientDeviceGrant runs the device authorization grant (RFC
// 8628) with panva's openid-client as the command-line tool: it asks for a
// device code, polls while the person, in the scripted browser, opens
// verification_uri_complete, signs in and approves, and checks the ID token
// it gets. Then it calls the API, refreshes (rotation: the replaced access
// token stops working), and presents the rotated refresh token again, which
// revokes the family (RFC 9700).
func TestOpenIDClientDeviceGrant(t *testing.T) {
	requireOpenIDClient(t)
	env := testkit.New(t)
	env.User("alice", "alice-password")
	allowed, denied := rpRepos(env)
	env.Grant("alice", admin.Target{Repo: "PRIV/app"}, "REPO_READ")
	id, _ := env.Client(admin.NewClient{Name: "Terminal Tool", RedirectURIs: []string{"http://127.0.0.1/cb"}, Public: true,
		GrantTypes: "urn:ietf:params:oauth:grant-type:device_code refresh_token", Scopes: "REPO_READ openid profile"})

	s := startGrantsScript(t, "device",
		"LATCHKEY_ISSUER="+env.URL, "LATCHKEY_CLIENT_ID="+id, "LATCHKEY_SCOPE=REPO_READ openid profile",
		"LATCHKEY_ALLOWED_PATH="+allowed, "LATCHKEY_DENIED_PATH="+denied)
	var start struct {
		Device struct {
			UserCode                string `json:"user_code"`
			VerificationURI         string `json:"verification_uri"`
			VerificationURIComplete string `json:"verification_uri_complete"`
			Interval                int    `json:"interval"`
		} `json:"device"`
	}
	s.next(&start)
	da := start.Device
	if da.VerificationURI != env.URL+"/login/device" || !strings.HasPrefix(da.VerificationURIComplete, da.VerificationURI+"?") ||
		da.UserCode == "" || da.Interval <= 0 {
		t.Fatalf("device authorization response as openid-client saw it: %+v", da)
	}
	// The person approves only after the tool's first poll, which must be
	// told to keep waiting.
	var first struct {
		Answer string `json:"first_poll"`
	}
	s.next(&first)
	if first.Answer != "authorization_pending" {
		t.Fatalf("first poll answered %q, want authorization_pending", first.Answer)
	}

	page, err := env.Browser("alice", "alice-password").Device(da.VerificationURIComplete)
	if err != nil {
		t.Fatalf("the person could not approve at %s: %v", da.VerificationURIComplete, err)
	}
	if !strings.Contains(page, "Device connected") {
		t.Fatalf("final page of the device flow: %s", page)
	}

	var report struct {
		Result struct {
			Polls   []string `json:"polls"`
			Scope   string   `json:"scope"`
			IDToken struct {
				Sub               string `json:"sub"`
				PreferredUsername string `json:"preferred_username"`
				Aud               any    `json:"aud"`
			} `json:"id_token"`
			RefreshedIDToken struct {
				Sub string `json:"sub"`
			} `json:"refreshed_id_token"`
			API                 apiChecks `json:"api"`
			APIRefreshed        apiChecks `json:"api_refreshed"`
			ReplacedAccessToken apiAnswer `json:"replaced_access_token"`
			RotatedRefreshReuse string    `json:"rotated_refresh_reuse"`
			FamilyAfterReuse    apiAnswer `json:"family_after_reuse"`
		} `json:"result"`
	}
	s.next(&report)
	t.Logf("openid-client saw: %s", s.lines.Text())
	got := report.Result
	if !slices.Equal(got.Polls, []string{"authorization_pending", "tokens"}) {
		t.Errorf("polls answered %q, want authorization_pending then tokens", got.Polls)
	}
	if !slices.Contains(strings.Fields(got.Scope), "REPO_READ") {
		t.Errorf("granted scope %q lacks REPO_READ", got.Scope)
	}
	if got.IDToken.Sub == "" || got.IDToken.PreferredUsername != "alice" || got.IDToken.Aud != id {
		t.Errorf("ID token from the device grant: %+v", got.IDToken)
	}
	if got.RefreshedIDToken.Sub != got.IDToken.Sub {
		t.Errorf("refreshed ID token sub %q, want %q", got.RefreshedIDToken.Sub, got.IDToken.Sub)
	}
	got.API.check(t, "the device token")
	got.APIRefreshed.check(t, "the refreshed token")
	if a := got.ReplacedAccessToken; a.Status != 401 || a.Error != "invalid_token" {
		t.Errorf("access token replaced by the refresh: %+v, want 401 invalid_token", a)
	}
	if got.RotatedRefreshReuse != "invalid_grant" {
		t.Errorf("reuse of the rotated refresh token: %q, want invalid_grant", got.RotatedRefreshReuse)
	}
	if a := got.FamilyAfterReuse; a.Status != 401 || a.Error != "invalid_token" {
		t.Errorf("newest access token after the rotated refresh token was reused: %+v, want 401 invalid_token", a)
	}
}

// TestOpenIDClientClientCredentials runs the client credentials grant with
// openid-client for a confidential client registered for it, with the
// secret in HTTP Basic and in the body. The token acts as the client's
// service identity: it reads the repository that identity was granted, is
// told another private repository does not exist, and the API names it
// client:<id>. No refresh token is issued; a wrong secret is invalid_client.
func TestOpenIDClientClientCredentials(t *testing.T) {
	requireOpenIDClient(t)
	env := testkit.New(t)
	allowed, denied := rpRepos(env)
	// A user's permission on the other repository never reaches the client.
	env.User("alice", "alice-password")
	env.Grant("alice", admin.Target{Repo: "OTHER/hidden"}, "REPO_READ")
	id, secret := env.Client(admin.NewClient{Name: "Nightly build", RedirectURIs: []string{"https://ci.example.com/unused"},
		GrantTypes: "client_credentials", Scopes: "REPO_READ", DefaultScopes: "REPO_READ"})
	env.GrantClient(id, admin.Target{Repo: "PRIV/app"}, "REPO_READ")

	s := startGrantsScript(t, "client_credentials",
		"LATCHKEY_ISSUER="+env.URL, "LATCHKEY_CLIENT_ID="+id, "LATCHKEY_CLIENT_SECRET="+secret, "LATCHKEY_SCOPE=REPO_READ",
		"LATCHKEY_ALLOWED_PATH="+allowed, "LATCHKEY_DENIED_PATH="+denied)
	var report struct {
		Result struct {
			Scope         string    `json:"scope"`
			RefreshToken  bool      `json:"refresh_token"`
			DefaultScope  string    `json:"default_scope"`
			API           apiChecks `json:"api"`
			XAUsername    string    `json:"x_ausername"`
			Introspection struct {
				Active   bool   `json:"active"`
				ClientID string `json:"client_id"`
				Username string `json:"username"`
			} `json:"introspection"`
			WrongSecret struct {
				Status    int    `json:"status"`
				Challenge string `json:"challenge"`
				Error     string `json:"error"`
			} `json:"wrong_secret"`
		} `json:"result"`
	}
	s.next(&report)
	t.Logf("openid-client saw: %s", s.lines.Text())
	got := report.Result
	if got.Scope != "REPO_READ" || got.DefaultScope != "REPO_READ" {
		t.Errorf("granted scopes %q (asked) and %q (default), want REPO_READ", got.Scope, got.DefaultScope)
	}
	if got.RefreshToken {
		t.Error("the client credentials grant issued a refresh token (RFC 6749 §4.4.3)")
	}
	got.API.check(t, "the service identity's token")
	if got.XAUsername != "client:"+id {
		t.Errorf("X-AUSERNAME %q, want client:%s", got.XAUsername, id)
	}
	if in := got.Introspection; !in.Active || in.ClientID != id {
		t.Errorf("introspection of the service token: %+v", in)
	}
	if w := got.WrongSecret; w.Status != 401 || w.Challenge != "basic" || w.Error != "invalid_client" {
		t.Errorf("client credentials with a wrong secret in HTTP Basic: %+v, want 401, a Basic challenge, invalid_client", w)
	}
}
