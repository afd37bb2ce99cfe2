package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/scope"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// rsNode is a node for the tests of the protected resources (REST and
// git): a confidential client that may ask for every scope of both
// vocabularies (registered without the restriction public-only, which
// would restrict every token of the client, and may still ask for it),
// and helpers to mint tokens, call the API and run git.
type rsNode struct {
	env              *testkit.Env
	clientID, secret string
}

func newRSNode(t *testing.T, opts ...testkit.Option) *rsNode {
	t.Helper()
	env := testkit.New(t, opts...)
	id, secret := env.Client(admin.NewClient{
		Name: "Everything", RedirectURIs: []string{redirectURI},
		Scopes: strings.Join(slices.DeleteFunc(scope.Known(), func(s string) bool { return s == scope.GiteaPublicOnly }), " "),
	})
	return &rsNode{env: env, clientID: id, secret: secret}
}

// token mints an access token for user with the given scopes through the
// authorization-code flow without the browser: the request is validated
// and the code issued as the consent page does, then the code is exchanged
// at the token endpoint over HTTP with x/oauth2. Many tokens stay quick.
func (n *rsNode) token(t *testing.T, user store.User, scopes string) string {
	t.Helper()
	ctx := context.Background()
	p := n.env.Server.Provider
	req, err := p.ValidateAuthorize(ctx, oauth.Params{
		"response_type": "code", "client_id": n.clientID, "redirect_uri": redirectURI, "scope": scopes, "state": "s",
	})
	if err != nil {
		t.Fatalf("authorize %s for %q: %v", user.Username, scopes, err)
	}
	target, err := p.IssueCode(ctx, req, user.ID, n.env.Clock.Now(), store.SignIn{})
	if err != nil {
		t.Fatalf("issue code: %v", err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("code redirect %q: %v", target, err)
	}
	conf := &oauth2.Config{ClientID: n.clientID, ClientSecret: n.secret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{TokenURL: n.env.URL + "/rest/oauth2/latest/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := conf.Exchange(ctx, u.Query().Get("code"))
	if err != nil {
		t.Fatalf("exchange code for %s %q: %v", user.Username, scopes, err)
	}
	return tok.AccessToken
}

// rsResponse is an API answer.
type rsResponse struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r rsResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("status %d, body is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return v
}

// call sends a request with a bearer token (empty: none) and a JSON body
// (nil: none) and returns the answer.
func (n *rsNode) call(t *testing.T, method, path, token string, body any) rsResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, n.env.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return rsResponse{status: resp.StatusCode, header: resp.Header, body: raw}
}

// rsGit runs the real git command in an isolated environment: a fresh
// HOME, no system configuration, no terminal prompts, no credential
// helper, protocol version 2.
type rsGit struct {
	t    *testing.T
	home string
}

// newGit returns the git runner, skipping the test when git is missing
// (failing it in CI).
func newGit(t *testing.T) *rsGit {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed; the git tests need it")
		}
		t.Skip("git is not installed; skipping the tests that run it")
	}
	return &rsGit{t: t, home: t.TempDir()}
}

// run runs git in dir and returns its combined output.
func (g *rsGit) run(dir string, args ...string) (string, error) {
	base := []string{"-c", "protocol.version=2", "-c", "credential.helper=", "-c", "user.name=Latchkey Test",
		"-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"}
	cmd := exec.Command("git", append(base, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+g.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs git and fails the test if it fails.
func (g *rsGit) must(dir string, args ...string) string {
	g.t.Helper()
	out, err := g.run(dir, args...)
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// workTree creates a working repository with one commit and returns its path.
func (g *rsGit) workTree(message string) string {
	g.t.Helper()
	dir := filepath.Join(g.t.TempDir(), "work")
	g.must("", "init", "-q", dir)
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte(message+"\n"), 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.must(dir, "add", "README")
	g.must(dir, "commit", "-q", "-m", message)
	return dir
}

// gitURL is the clone URL of a repository with the token as the password
// of HTTP Basic (any user name works); an empty token gives no credentials.
func (n *rsNode) gitURL(token, projectKey, slug string) string {
	u, _ := url.Parse(n.env.URL + "/scm/" + strings.ToLower(projectKey) + "/" + slug + ".git")
	if token != "" {
		u.User = url.UserPassword("x-token", token)
	}
	return u.String()
}
