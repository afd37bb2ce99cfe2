package rp

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// gitChallenges is what a git client without credentials is told: the
// WWW-Authenticate values of the 401 on the repository's info/refs, which
// git 2.41 and later hand to credential helpers as wwwauth[] lines.
func gitChallenges(t *testing.T, env *testkit.Env, repoURL string) []string {
	t.Helper()
	resp, err := http.Get(repoURL + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous info/refs of a private repository: %s, want 401", resp.Status)
	}
	return resp.Header.Values("WWW-Authenticate")
}

// helperGet runs `git credential-oauth get` as git 2.41 and later run it
// (protocol, host, path and the server's challenges as wwwauth[]), with
// extra flags, and returns the credential it printed. onStderr sees each
// line the helper writes on its standard error while it runs (the device
// flow's instructions).
func (g *credentialGit) helperGet(repoURL string, challenges []string, flags []string, onStderr func(line string)) map[string]string {
	g.t.Helper()
	u, err := url.Parse(repoURL)
	if err != nil {
		g.t.Fatal(err)
	}
	in := "protocol=" + u.Scheme + "\nhost=" + u.Host + "\npath=" + strings.TrimPrefix(u.Path, "/") + "\n"
	for _, c := range challenges {
		in += "wwwauth[]=" + c + "\n"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := g.command(ctx, "", append(append([]string{"credential-oauth"}, flags...), "get")...)
	cmd.Stdin = strings.NewReader(in + "\n")
	var out testkit.SyncBuffer
	said := &lineWriter{each: onStderr}
	cmd.Stdout, cmd.Stderr = &out, said
	if err := g.runWithBrowser(cmd, cancel); err != nil {
		g.t.Fatalf("git credential-oauth get: %v\nthe helper said:\n%s", err, said.String())
	}
	cred := map[string]string{}
	for sc := bufio.NewScanner(strings.NewReader(out.String())); sc.Scan(); {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			cred[k] = v
		}
	}
	if cred["password"] == "" && cred["credential"] == "" {
		g.t.Fatalf("git credential-oauth printed no credential: %q\nit said:\n%s", out.String(), said.String())
	}
	return cred
}

// lineWriter keeps what is written and hands each complete line to each
// (when set) as it arrives.
type lineWriter struct {
	testkit.SyncBuffer
	mu      sync.Mutex
	partial string
	each    func(line string)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.SyncBuffer.Write(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial += string(p)
	for {
		line, rest, ok := strings.Cut(l.partial, "\n")
		if !ok {
			return len(p), nil
		}
		l.partial = rest
		if l.each != nil {
			l.each(line)
		}
	}
}

// zeroConfig sets up a private repository with one commit that alice may
// push to, and git with git-credential-oauth as its helper and nothing
// else configured: no client ID, no endpoint URLs.
func zeroConfig(t *testing.T) (*testkit.Env, *credentialGit, string, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		missing(t, "git is not installed")
	}
	if _, err := exec.LookPath("git-credential-oauth"); err != nil {
		missing(t, "git-credential-oauth is not installed (apt-get install -t bookworm-backports git-credential-oauth)")
	}
	env := testkit.New(t)
	env.User("alice", "alice-password")
	env.Project("PRJ", false)
	repo := env.Repo("PRJ", "app", false)
	env.Grant("alice", admin.Target{Repo: "PRJ/app"}, "REPO_WRITE")
	g := newCredentialGitWith(t, env, env.Browser("alice", "alice-password"), nil)
	bare := env.Repos().Path(repo)
	seed := filepath.Join(t.TempDir(), "seed")
	g.must("", "init", "-q", seed)
	g.must(seed, "commit", "-q", "--allow-empty", "-m", "first commit")
	g.must(seed, "push", "-q", bare, "HEAD:refs/heads/main")
	return env, g, env.URL + "/scm/prj/app.git", bare
}

// cloneAndPush clones repoURL with the token as git's password, then
// pushes a commit, and checks that the push arrived in bare.
func (g *credentialGit) cloneAndPush(repoURL, bare, password string) {
	g.t.Helper()
	u, _ := url.Parse(repoURL)
	u.User = url.UserPassword("oauth2", password)
	clone := filepath.Join(g.t.TempDir(), "app")
	g.must("", "-c", "credential.helper=", "clone", "-q", u.String(), clone)
	if err := os.WriteFile(filepath.Join(clone, "CHANGE"), []byte("change\n"), 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.must(clone, "add", "CHANGE")
	g.must(clone, "commit", "-q", "-m", "pushed with the token")
	g.must(clone, "-c", "credential.helper=", "push", "-q", "origin", "HEAD:main")
	if got := strings.TrimSpace(g.must("", "--git-dir", bare, "log", "-1", "--format=%s", "main")); got != "pushed with the token" {
		g.t.Fatalf("the server repository's main is %q, want the pushed commit", got)
	}
}

// TestGitCredentialOAuthWithoutConfiguration: a stock git-credential-oauth
// (0.10 or later), with no setting of its own, configures itself from the
// challenge Latchkey's git URLs send: `Basic realm="Gitea"` makes it use
// Gitea's endpoints (/login/oauth/authorize, /login/oauth/access_token)
// and Gitea's pre-registered client ID, which Latchkey serves as Gitea
// does. Git 2.41 and later pass the challenge to helpers (wwwauth[]);
// Debian 12's git 2.39 does not, so the test hands the helper the
// challenge the server really sent, as a newer git would, and then clones
// and pushes with the token it got.
func TestGitCredentialOAuthWithoutConfiguration(t *testing.T) {
	_, g, repoURL, bare := zeroConfig(t)
	challenges := gitChallenges(t, nil, repoURL)
	if !strings.Contains(strings.Join(challenges, "\n"), `Basic realm="Gitea"`) {
		t.Fatalf("the git challenges %q do not name the Gitea realm", challenges)
	}
	cred := g.helperGet(repoURL, challenges, nil, nil)
	if len(g.Authorizations) != 1 {
		t.Fatalf("the helper opened the browser %d times, want once", len(g.Authorizations))
	}
	a := g.Authorizations[0]
	if a.Path != "/login/oauth/authorize" || a.Query().Get("client_id") != gitCredentialOAuthClientID ||
		a.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("the helper's authorization request: %s", a)
	}
	g.cloneAndPush(repoURL, bare, cred["password"])
}

// TestGitCredentialOAuthDeviceMode: `git credential-oauth -device` with
// the one setting Gitea-dialect servers need for it
// (credential.<url>.oauthDeviceAuthURL, which docs/clients.md gives): the
// helper prints a user code and the verification URI, the person approves
// on another device, and the helper gets a token that clones and pushes.
func TestGitCredentialOAuthDeviceMode(t *testing.T) {
	env, g, repoURL, bare := zeroConfig(t)
	g.must("", "config", "--global", "credential."+env.URL+".oauthDeviceAuthURL", "/login/device/code")
	challenges := gitChallenges(t, env, repoURL)
	prompt := regexp.MustCompile(`Please enter code (\S+) at (\S+)`)
	approved := make(chan error, 1)
	cred := g.helperGet(repoURL, challenges, []string{"-device"}, func(line string) {
		m := prompt.FindStringSubmatch(line)
		if m == nil {
			return
		}
		b := env.Browser("alice", "alice-password")
		b.UserCode = m[1]
		go func() {
			_, err := b.Device(m[2])
			approved <- err
		}()
	})
	select {
	case err := <-approved:
		if err != nil {
			t.Fatalf("approving the device code: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the helper got a token, but the approval never finished (did it print a user code?)")
	}
	if len(g.Authorizations) != 0 {
		t.Fatalf("device mode opened a browser: %v", g.Authorizations)
	}
	g.cloneAndPush(repoURL, bare, cred["password"])
}
