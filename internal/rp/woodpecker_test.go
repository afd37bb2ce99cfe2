package rp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// woodpeckerEnv names the woodpecker-server binary for TestWoodpeckerGiteaForge.
const woodpeckerEnv = "LATCHKEY_TEST_WOODPECKER_SERVER"

// TestWoodpeckerGiteaForge runs a real Woodpecker CI server (v3, built
// from its source: the Go module proxy does not serve it, so CI cannot
// install it and the test runs only when LATCHKEY_TEST_WOODPECKER_SERVER
// names the binary; docs/gitea.md says how it was built) with its Gitea
// forge pointed at Latchkey, configured as docs/gitea.md says. A person
// signs in to Woodpecker through Latchkey; Woodpecker lists the user's
// repositories and activates one (which creates its webhook in Latchkey);
// a git push to Latchkey fires the webhook; Woodpecker fetches the
// pipeline file, creates the pipeline and reports its status on the
// commit in Latchkey. That is the CI loop up to the agent's clone.
func TestWoodpeckerGiteaForge(t *testing.T) {
	woodpeckerLoop(t, "/login/oauth/authorize", func(env *testkit.Env, clientID, secret string) []string {
		return []string{"WOODPECKER_GITEA=true", "WOODPECKER_GITEA_URL=" + env.URL,
			"WOODPECKER_GITEA_CLIENT=" + clientID, "WOODPECKER_GITEA_SECRET=" + secret}
	})
}

// TestWoodpeckerBitbucketDataCenterForge is TestWoodpeckerGiteaForge with
// Woodpecker's Bitbucket Data Center forge, which speaks OAuth 2.0 at
// /rest/oauth2/latest and the REST API at /rest/api/1.0, as
// docs/bitbucket.md sets it up.
func TestWoodpeckerBitbucketDataCenterForge(t *testing.T) {
	woodpeckerLoop(t, "/rest/oauth2/latest/authorize", func(env *testkit.Env, clientID, secret string) []string {
		return []string{"WOODPECKER_BITBUCKET_DC=true", "WOODPECKER_BITBUCKET_DC_URL=" + env.URL,
			"WOODPECKER_BITBUCKET_DC_CLIENT_ID=" + clientID, "WOODPECKER_BITBUCKET_DC_CLIENT_SECRET=" + secret,
			"WOODPECKER_BITBUCKET_DC_GIT_USERNAME=ci", "WOODPECKER_BITBUCKET_DC_GIT_PASSWORD=unused-here"}
	})
}

// woodpeckerLoop runs the loop of the Woodpecker tests with the forge
// settings forge gives; authorizePath is where the forge sends the person.
func woodpeckerLoop(t *testing.T, authorizePath string, forge func(env *testkit.Env, clientID, secret string) []string) {
	bin := os.Getenv(woodpeckerEnv)
	if bin == "" {
		t.Skipf("skipping: %s does not name a woodpecker-server binary (a manual check; see docs/gitea.md)", woodpeckerEnv)
	}
	if _, err := exec.LookPath("git"); err != nil {
		missing(t, "git is not installed")
	}
	env := testkit.New(t, func(c *config.Config) { c.Webhook.AllowedHosts = "127.0.0.1" })
	stopHooks := env.Server.StartWebhooks(context.Background())
	t.Cleanup(stopHooks)
	env.User("alice", "alice-password")
	env.Project("PRJ", false)
	repo := env.Repo("PRJ", "app", false)
	env.Grant("alice", admin.Target{Repo: "PRJ/app"}, "REPO_ADMIN")

	port, grpcPort := freePort(t), freePort(t)
	wp := fmt.Sprintf("http://127.0.0.1:%d", port)
	// The set-up of docs/gitea.md: a confidential client whose redirect
	// URI is WOODPECKER_HOST/authorize, whose tokens may administer
	// repositories (Woodpecker asks for no scope; it creates hooks and
	// posts statuses).
	clientID, secret := env.Client(admin.NewClient{Name: "Woodpecker", RedirectURIs: []string{wp + "/authorize"},
		Scopes: "REPO_READ REPO_WRITE REPO_ADMIN PROJECT_ADMIN", DefaultScopes: "REPO_ADMIN"})
	agentSecret := make([]byte, 16)
	rand.Read(agentSecret)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"WOODPECKER_HOST="+wp, "WOODPECKER_SERVER_ADDR="+fmt.Sprintf("127.0.0.1:%d", port),
		"WOODPECKER_GRPC_ADDR="+fmt.Sprintf("127.0.0.1:%d", grpcPort),
		"WOODPECKER_AGENT_SECRET="+hex.EncodeToString(agentSecret), "WOODPECKER_OPEN=true",
		"WOODPECKER_DATABASE_DATASOURCE="+filepath.Join(t.TempDir(), "woodpecker.sqlite"),
		"WOODPECKER_LOG_LEVEL=debug")
	cmd.Env = append(cmd.Env, forge(env, clientID, secret)...)
	var out testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("woodpecker-server said:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("woodpecker-server does not listen:\n%s", out.String())
		}
	}

	// Sign in to Woodpecker through Latchkey.
	jar, _ := cookiejar.New(nil)
	onWP := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host != fmt.Sprintf("127.0.0.1:%d", port) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := onWP.Get(wp + "/authorize")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authorize := resp.Header.Get("Location")
	if !strings.HasPrefix(authorize, env.URL+authorizePath) {
		t.Fatalf("Woodpecker's sign-in: %s to %q", resp.Status, authorize)
	}
	callback, err := env.Browser("alice", "alice-password").Authorize(authorize)
	if err != nil {
		t.Fatalf("sign-in at Latchkey: %v", err)
	}
	if status, body := wpDo(t, onWP, http.MethodGet, callback.String(), "", ""); status >= 400 {
		t.Fatalf("Woodpecker's callback: %d %s", status, body)
	}
	_, cfgJS := wpDo(t, onWP, http.MethodGet, wp+"/web-config.js", "", "")
	m := regexp.MustCompile(`WOODPECKER_CSRF = "([^"]+)"`).FindStringSubmatch(cfgJS)
	if m == nil {
		t.Fatalf("not signed in to Woodpecker (no CSRF token in web-config.js):\n%s", cfgJS)
	}
	status, apiToken := wpDo(t, onWP, http.MethodPost, wp+"/api/user/token", "", m[1])
	if status != http.StatusOK || apiToken == "" {
		t.Fatalf("Woodpecker API token: %d %s", status, apiToken)
	}
	api := &http.Client{Timeout: 30 * time.Second}
	status, body := wpDo(t, api, http.MethodGet, wp+"/api/user", apiToken, "")
	var user struct{ Login string }
	if json.Unmarshal([]byte(body), &user); status != http.StatusOK || user.Login != "alice" {
		t.Fatalf("Woodpecker's user: %d %s", status, body)
	}

	// The repository has a first commit (a CI server is pointed at code
	// that exists: Woodpecker's Bitbucket forge refuses to activate a
	// repository without a default branch, as on Bitbucket).
	work := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		c := exec.Command("git", append([]string{"-c", "user.name=Alice", "-c", "user.email=alice@example.com",
			"-c", "init.defaultBranch=main", "-c", "credential.helper="}, args...)...)
		c.Dir = work
		c.Env = append(os.Environ(), "HOME="+work, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
		b, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
		return strings.TrimSpace(string(b))
	}
	git("init", "-q", ".")
	git("commit", "-q", "--allow-empty", "-m", "first commit")
	git("push", "-q", env.Repos().Path(repo), "HEAD:refs/heads/main")

	// Woodpecker lists the user's repositories from Latchkey and
	// activates PRJ/app, which creates its webhook there.
	status, body = wpDo(t, api, http.MethodGet, wp+"/api/user/repos?all=true", apiToken, "")
	var repos []struct {
		ForgeRemoteID string `json:"forge_remote_id"`
		FullName      string `json:"full_name"`
	}
	if err := json.Unmarshal([]byte(body), &repos); status != http.StatusOK || err != nil {
		t.Fatalf("Woodpecker's repository list: %d %s", status, body)
	}
	remoteID := ""
	for _, r := range repos {
		if r.FullName == "PRJ/app" {
			remoteID = r.ForgeRemoteID
		}
	}
	if remoteID != fmt.Sprint(repo.ID) {
		t.Fatalf("Woodpecker's repository list has no PRJ/app with ID %d: %s", repo.ID, body)
	}
	status, body = wpDo(t, api, http.MethodPost, wp+"/api/repos?forge_remote_id="+remoteID, apiToken, "")
	var activated struct{ ID int64 }
	if err := json.Unmarshal([]byte(body), &activated); status != http.StatusOK || err != nil || activated.ID == 0 {
		t.Fatalf("activating PRJ/app in Woodpecker: %d %s", status, body)
	}
	hooks, err := env.Store.ActiveWebhooks(t.Context(), repo.ID)
	if err != nil || len(hooks) != 1 || !strings.HasPrefix(hooks[0].URL, wp+"/api/hook") {
		t.Fatalf("Woodpecker's webhook in Latchkey: %+v %v", hooks, err)
	}

	// A push with a pipeline file, over HTTP with a token of alice's.
	gitToken := aliceToken(t, env)
	if err := os.WriteFile(filepath.Join(work, ".woodpecker.yml"), []byte(
		"steps:\n  - name: test\n    image: alpine\n    commands:\n      - echo hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", ".woodpecker.yml")
	git("commit", "-q", "-m", "the pipeline")
	sha := git("rev-parse", "HEAD")
	u, _ := url.Parse(env.URL + "/scm/prj/app.git")
	u.User = url.UserPassword("oauth2", gitToken)
	git("push", "-q", u.String(), "HEAD:refs/heads/main")

	// Woodpecker receives the push, reads the pipeline file from
	// Latchkey, creates the pipeline and reports it on the commit.
	var statuses []store.CommitStatus
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		statuses, _, err = env.Store.ListCommitStatuses(t.Context(), repo.ID, sha, store.Page{})
		if err == nil && len(statuses) > 0 {
			break
		}
		if time.Now().After(deadline) {
			ds, _, _ := env.Store.ListDeliveries(t.Context(), hooks[0].ID, store.Page{})
			t.Fatalf("no commit status from Woodpecker within a minute (%v); deliveries: %+v", err, ds)
		}
	}
	s := statuses[0]
	t.Logf("Woodpecker reported on %s: state %s, context %q, target %s, %q", sha[:8], s.State, s.Context, s.TargetURL, s.Description)
	if !strings.HasPrefix(s.Context, "ci/woodpecker") || !strings.HasPrefix(s.TargetURL, wp) || s.State != store.StatusPending {
		t.Fatalf("Woodpecker's status on %s: %+v", sha, s)
	}
	status, body = wpDo(t, api, http.MethodGet, fmt.Sprintf("%s/api/repos/%d/pipelines", wp, activated.ID), apiToken, "")
	if status != http.StatusOK || !strings.Contains(body, sha) {
		t.Fatalf("Woodpecker's pipelines: %d %s", status, body)
	}
}

// wpDo sends a request to Woodpecker with its API token or CSRF token.
func wpDo(t *testing.T, c *http.Client, method, u, token, csrf string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-TOKEN", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// aliceToken is an access token of alice's with REPO_WRITE, through the
// authorization code flow of a public client.
func aliceToken(t *testing.T, env *testkit.Env) string {
	t.Helper()
	id, _ := env.Client(admin.NewClient{Name: "git", RedirectURIs: []string{"http://127.0.0.1/cb"}, Public: true,
		Scopes: "REPO_WRITE", DefaultScopes: "REPO_WRITE"})
	conf := &oauth2.Config{ClientID: id, RedirectURL: "http://127.0.0.1:1234/cb",
		Endpoint: oauth2.Endpoint{AuthURL: env.URL + "/login/oauth/authorize", TokenURL: env.URL + "/login/oauth/access_token"}}
	verifier := oauth2.GenerateVerifier()
	cb, err := env.Browser("alice", "alice-password").Authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}
