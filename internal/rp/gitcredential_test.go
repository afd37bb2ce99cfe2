package rp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// gitCredentialOAuthClientID is the published client ID of
// git-credential-oauth, which Latchkey pre-registers.
const gitCredentialOAuthClientID = "a4792ccc-144e-407e-86c9-5e7d8d9c3269"

// browserStandIn replaces the web browser that git-credential-oauth opens:
// it records the URL for the test and returns at once, as `open` does.
// Debian's git-credential-oauth 0.4.2 runs `open URL`; later releases run
// `xdg-open URL` on Linux, so the script answers to both names.
const browserStandIn = `#!/bin/sh
printf '%s\n' "$*" >> "$LATCHKEY_TEST_OPENED"
`

// credentialGit runs the real git with git-credential-oauth as its
// credential helper, in a home of its own, and plays the person in front of
// the browser whenever the helper opens one.
type credentialGit struct {
	t       *testing.T
	env     []string
	opened  string // the file the browser stand-in appends URLs to
	read    int    // how many of its lines were already served
	browser *testkit.Browser
	// Authorizations lists the authorization URLs the helper opened.
	Authorizations []*url.URL
}

// newCredentialGit sets up HOME, the global git configuration and PATH for
// git and git-credential-oauth, configured for the node's base URL the way
// docs/clients.md tells users to, with the browser step played by browser.
func newCredentialGit(t *testing.T, env *testkit.Env, browser *testkit.Browser) *credentialGit {
	t.Helper()
	prefix := "credential." + env.URL + "."
	return newCredentialGitWith(t, env, browser, [][]string{
		{prefix + "oauthClientId", gitCredentialOAuthClientID},
		{prefix + "oauthAuthURL", "/login/oauth/authorize"},
		{prefix + "oauthTokenURL", "/login/oauth/access_token"},
	})
}

// newCredentialGitWith is newCredentialGit with the helper's own settings
// given (global git config key and value pairs): none for the
// zero-configuration set-up.
func newCredentialGitWith(t *testing.T, env *testkit.Env, browser *testkit.Browser, settings [][]string) *credentialGit {
	t.Helper()
	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"open", "xdg-open"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(browserStandIn), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// git credential-cache's socket, in a short directory: socket paths are
	// limited to about 100 bytes and t.TempDir's can be longer.
	sockDir, err := os.MkdirTemp("", "lk-gco")
	if err != nil {
		t.Fatal(err)
	}
	g := &credentialGit{t: t, opened: filepath.Join(home, "opened-urls"), browser: browser}
	g.env = []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_GLOBAL=" + filepath.Join(home, ".gitconfig"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"LATCHKEY_TEST_OPENED=" + g.opened,
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "GIT_"), name == "SSH_ASKPASS", name == "HOME", name == "XDG_CONFIG_HOME",
			name == "PATH", strings.EqualFold(name, "NO_PROXY"):
		default:
			g.env = append(g.env, kv)
		}
	}
	socket := filepath.Join(sockDir, "socket")
	t.Cleanup(func() {
		// Stop the cache daemon that git started, then remove its directory.
		_, _ = g.run("", "credential-cache", "--socket", socket, "exit")
		_ = os.RemoveAll(sockDir)
	})

	// The set-up of docs/clients.md, with the test node's base URL.
	for _, kv := range append([][]string{
		{"--add", "credential.helper", "cache --timeout 600 --socket " + socket},
		{"--add", "credential.helper", "oauth -verbose"},
		{"user.name", "Alice"},
		{"user.email", "alice@example.com"},
		{"init.defaultBranch", "main"},
	}, settings...) {
		g.must("", append([]string{"config", "--global"}, kv...)...)
	}
	return g
}

// command prepares git in dir, in its own process group so that a test
// that gives up also stops the credential helper waiting for a browser.
func (g *credentialGit) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = g.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs git to the end without a browser and returns its output.
func (g *credentialGit) run(dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := g.command(ctx, dir, args...).CombinedOutput()
	return string(out), err
}

// must runs git and fails the test if it fails.
func (g *credentialGit) must(dir string, args ...string) string {
	g.t.Helper()
	out, err := g.run(dir, args...)
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mustWithBrowser runs git and, while it runs, answers every browser the
// credential helper opens: the scripted browser signs in and approves, and
// then makes the request to the loopback redirect URI it was sent to, which
// hands the code to the helper. It fails the test if git fails.
func (g *credentialGit) mustWithBrowser(dir string, args ...string) string {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := g.command(ctx, dir, args...)
	var out testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := g.runWithBrowser(cmd, cancel); err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// runWithBrowser starts cmd and, while it runs, plays the person in front
// of every browser the credential helper opens (playUser). It returns
// cmd's error, or the browser step's after stopping cmd (cancel).
func (g *credentialGit) runWithBrowser(cmd *exec.Cmd, cancel context.CancelFunc) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			for _, u := range g.newURLs() {
				if err := g.playUser(u); err != nil {
					cancel()
					<-done
					return fmt.Errorf("the browser step failed: %w", err)
				}
			}
		}
	}
}

// newURLs returns the complete lines the browser stand-in wrote since the
// last call.
func (g *credentialGit) newURLs() []string {
	raw, err := os.ReadFile(g.opened)
	if err != nil {
		return nil
	}
	text := string(raw)
	text = text[:strings.LastIndexByte(text, '\n')+1] // a line being written waits for the next tick
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" || len(lines) <= g.read {
		return nil
	}
	fresh := lines[g.read:]
	g.read = len(lines)
	return fresh
}

// playUser opens an authorization URL as the person would: sign in,
// approve, and follow the redirect to the helper's loopback listener.
func (g *credentialGit) playUser(raw string) error {
	start, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("the helper opened %q: %w", raw, err)
	}
	g.Authorizations = append(g.Authorizations, start)
	callback, err := g.browser.Authorize(raw)
	if err != nil {
		return fmt.Errorf("authorize %s: %w", raw, err)
	}
	if callback.Hostname() != "127.0.0.1" || callback.Query().Get("code") == "" {
		return fmt.Errorf("the server sent the browser to %s, want the helper's loopback listener with a code", callback)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(callback.String())
	if err != nil {
		return fmt.Errorf("the helper's listener at %s: %w", callback, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the helper's listener answered %s: %s", resp.Status, body)
	}
	return nil
}

// TestGitCredentialOAuthCloneAndPush uses Debian's git-credential-oauth, a
// credential helper nobody on this team wrote, exactly as docs/clients.md
// sets it up: git clone of a private repository makes the helper open a
// browser on the authorization endpoint (public client, PKCE, loopback
// redirect on a port of its choosing); the scripted browser signs in as
// alice and approves; the helper exchanges the code and hands git the
// token. git push then reuses the token from git's credential cache.
func TestGitCredentialOAuthCloneAndPush(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		missing(t, "git is not installed")
	}
	if _, err := exec.LookPath("git-credential-oauth"); err != nil {
		missing(t, "git-credential-oauth is not installed (apt-get install git-credential-oauth)")
	}
	env := testkit.New(t)
	env.User("alice", "alice-password")
	env.Project("PRJ", false)
	repo := env.Repo("PRJ", "app", false)
	env.Grant("alice", admin.Target{Repo: "PRJ/app"}, "REPO_WRITE")
	g := newCredentialGit(t, env, env.Browser("alice", "alice-password"))

	// One commit straight into the repository on disk.
	bare := env.Repos().Path(repo)
	seed := filepath.Join(t.TempDir(), "seed")
	g.must("", "init", "-q", seed)
	g.must(seed, "commit", "-q", "--allow-empty", "-m", "first commit")
	g.must(seed, "push", "-q", bare, "HEAD:refs/heads/main")

	work := t.TempDir()
	clone := filepath.Join(work, "app")
	g.mustWithBrowser(work, "clone", env.URL+"/scm/prj/app.git", clone)
	if got := strings.TrimSpace(g.must(clone, "log", "-1", "--format=%s")); got != "first commit" {
		t.Fatalf("cloned HEAD is %q, want the seeded commit", got)
	}
	if len(g.Authorizations) != 1 {
		t.Fatalf("the helper opened the browser %d times for the clone, want once", len(g.Authorizations))
	}
	q := g.Authorizations[0].Query()
	if q.Get("client_id") != gitCredentialOAuthClientID || q.Get("code_challenge_method") != "S256" ||
		!strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") {
		t.Errorf("the helper's authorization request: %s", g.Authorizations[0])
	}

	if err := os.WriteFile(filepath.Join(clone, "CHANGE"), []byte("change\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.must(clone, "add", "CHANGE")
	g.must(clone, "commit", "-q", "-m", "second commit")
	g.mustWithBrowser(clone, "push", "origin", "HEAD:main")
	if got := strings.TrimSpace(g.must("", "--git-dir", bare, "log", "-1", "--format=%s", "main")); got != "second commit" {
		t.Fatalf("the server repository's main is %q, want the pushed commit", got)
	}
	if len(g.Authorizations) != 1 {
		t.Errorf("the push opened the browser again (%d in all): the cached token should have served", len(g.Authorizations))
	}

	// What git holds is a Latchkey access token of alice.
	host := strings.TrimPrefix(env.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := g.command(ctx, "", "credential", "fill")
	cmd.Stdin = strings.NewReader("protocol=http\nhost=" + host + "\n\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git credential fill: %v", err)
	}
	cred := map[string]string{}
	for sc := bufio.NewScanner(strings.NewReader(string(out))); sc.Scan(); {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			cred[k] = v
		}
	}
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/rest/api/latest/application-properties", nil)
	req.Header.Set("Authorization", "Bearer "+cred["password"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if who := resp.Header.Get("X-AUSERNAME"); resp.StatusCode != http.StatusOK || who != "alice" {
		t.Fatalf("the cached credential (user %q) on the API: %s, X-AUSERNAME %q", cred["username"], resp.Status, who)
	}
}
