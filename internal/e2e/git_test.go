package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// gitFixture is a node with a private repository PRJ/code holding one
// commit, a public repository OPEN/docs, user alice who may write PRJ/code,
// and a client that may ask for REPO_READ and REPO_WRITE.
type gitFixture struct {
	*rsNode
	git  *rsGit
	repo store.Repo
}

func newGitFixture(t *testing.T, opts ...testkit.Option) *gitFixture {
	f := &gitFixture{rsNode: newRSNode(t, opts...), git: newGit(t)}
	f.env.User("alice", "alice-password")
	f.env.Project("PRJ", false)
	f.repo = f.env.Repo("PRJ", "code", false)
	f.env.Grant("alice", admin.Target{Repo: "PRJ/code"}, "REPO_WRITE")
	f.env.Project("OPEN", true)
	f.seed(f.repo, "first commit")
	f.seed(f.env.Repo("OPEN", "docs", false), "public docs")
	return f
}

// seed pushes a commit straight into the repository on disk.
func (f *gitFixture) seed(r store.Repo, message string) {
	work := f.git.workTree(message)
	f.git.must(work, "push", "-q", f.env.Repos().Path(r), "HEAD:refs/heads/main")
}

// codeFlowToken runs the authorization-code flow with PKCE as alice, in
// the scripted browser, and exchanges the code with x/oauth2.
func (f *gitFixture) codeFlowToken(t *testing.T, scopes ...string) string {
	t.Helper()
	conf := &oauth2.Config{ClientID: f.clientID, ClientSecret: f.secret, RedirectURL: redirectURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: f.env.URL + "/rest/oauth2/latest/authorize",
			TokenURL: f.env.URL + "/rest/oauth2/latest/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	cb, err := f.env.Browser("alice", "alice-password").Authorize(conf.AuthCodeURL("git-state", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok.AccessToken
}

// wantGitFailure fails the test unless err is set and out says why.
func wantGitFailure(t *testing.T, what, out string, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want it refused:\n%s", what, out)
	}
	if !strings.Contains(out, reason) {
		t.Fatalf("%s failed without saying %q:\n%s", what, reason, out)
	}
}

func TestGitCloneAndPushWithCodeFlowTokens(t *testing.T) {
	f := newGitFixture(t)
	write := f.codeFlowToken(t, "REPO_WRITE")
	read := f.codeFlowToken(t, "REPO_READ")
	dir := t.TempDir()

	out, err := f.git.run(dir, "clone", f.gitURL("", "PRJ", "code"), "anonymous")
	wantGitFailure(t, "anonymous clone of a private repository", out, err, "Authentication failed")

	clone := filepath.Join(dir, "clone")
	f.git.must(dir, "clone", "-q", f.gitURL(read, "PRJ", "code"), clone)
	if got := f.git.must(clone, "log", "-1", "--format=%s"); strings.TrimSpace(got) != "first commit" {
		t.Fatalf("cloned log = %q, want the seeded commit", got)
	}

	if err := os.WriteFile(filepath.Join(clone, "CHANGE"), []byte("change\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.git.must(clone, "add", "CHANGE")
	f.git.must(clone, "commit", "-q", "-m", "second commit")
	out, err = f.git.run(clone, "push", f.gitURL(read, "PRJ", "code"), "HEAD:main")
	wantGitFailure(t, "push with a REPO_READ token", out, err, "403")

	f.git.must(clone, "push", "-q", f.gitURL(write, "PRJ", "code"), "HEAD:main")
	onDisk := f.git.must("", "--git-dir", f.env.Repos().Path(f.repo), "log", "-1", "--format=%s", "main")
	if strings.TrimSpace(onDisk) != "second commit" {
		t.Fatalf("server repository's main is %q, want the pushed commit", onDisk)
	}

	// The token also works as a Bearer header, and the repository's
	// project key in any case.
	bearer := filepath.Join(dir, "bearer")
	f.git.must(dir, "-c", "http.extraHeader=Authorization: Bearer "+read, "clone", "-q",
		strings.Replace(f.gitURL("", "PRJ", "code"), "/scm/prj/", "/scm/PRJ/", 1), bearer)

	// Taking alice's permission stops the same token at once.
	f.env.Revoke("alice", admin.Target{Repo: "PRJ/code"}, "REPO_WRITE")
	out, err = f.git.run(dir, "clone", f.gitURL(read, "PRJ", "code"), "after-revoke")
	wantGitFailure(t, "clone after the user lost read permission", out, err, "not found")
	out, err = f.git.run(clone, "fetch", f.gitURL(read, "PRJ", "code"))
	wantGitFailure(t, "fetch after the user lost read permission", out, err, "not found")
}

func TestGitAnonymousCloneOfPublicRepositoryButNoAnonymousPush(t *testing.T) {
	f := newGitFixture(t)
	dir := t.TempDir()
	clone := filepath.Join(dir, "docs")
	f.git.must(dir, "clone", "-q", f.gitURL("", "OPEN", "docs"), clone)
	f.git.must(clone, "commit", "-q", "--allow-empty", "-m", "anonymous change")
	out, err := f.git.run(clone, "push", f.gitURL("", "OPEN", "docs"), "HEAD:main")
	wantGitFailure(t, "anonymous push to a public repository", out, err, "Authentication failed")
	// alice may read the public repository but not write it.
	token := f.token(t, f.user(t, "alice"), "REPO_WRITE")
	out, err = f.git.run(clone, "push", f.gitURL(token, "OPEN", "docs"), "HEAD:main")
	wantGitFailure(t, "push without write permission", out, err, "403")
}

func (f *gitFixture) user(t *testing.T, name string) store.User {
	t.Helper()
	u, err := f.env.Store.GetUserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestGitHTTPAnswers(t *testing.T) {
	f := newGitFixture(t)
	read := f.token(t, f.user(t, "alice"), "REPO_READ")
	refs := "/scm/prj/code.git/info/refs?service=git-upload-pack"
	for _, c := range []struct {
		name       string
		path       string
		auth       func(*http.Request)
		status     int
		challenges []string
	}{
		{"anonymous on a private repository is asked for credentials", refs, nil, 401,
			[]string{`Basic realm="Gitea"`, `Bearer realm="latchkey"`}},
		{"anonymous on a missing repository looks the same", "/scm/prj/nope.git/info/refs?service=git-upload-pack", nil, 401,
			[]string{`Basic realm="Gitea"`, `Bearer realm="latchkey"`}},
		{"an invalid token is refused with both challenges", refs, basic("anything", "lka_not-a-token"), 401,
			[]string{`Basic realm="Gitea"`, `error="invalid_token"`}},
		{"token as Basic password with any user name", refs, basic("whoever", read), 200, nil},
		{"token as Basic user name with no password", refs, basic(read, ""), 200, nil},
		{"token as Basic user name with a placeholder password", refs, basic(read, "x-oauth-basic"), 200, nil},
		{"token as Bearer", refs, bearerAuth(read), 200, nil},
		{"a REPO_READ token asking to push lacks scope", "/scm/prj/code.git/info/refs?service=git-receive-pack",
			bearerAuth(read), 403, []string{`error="insufficient_scope"`}},
		{"a PUBLIC_REPOS token asking to push to a public repository lacks scope", "/scm/open/docs.git/info/refs?service=git-receive-pack",
			bearerAuth(f.token(t, f.user(t, "alice"), "PUBLIC_REPOS")), 403, []string{`error="insufficient_scope"`}},
		{"a token whose user cannot see the repository gets 404", refs, bearerAuth(f.token(t, f.env.User("bob", "bob-password"), "REPO_WRITE")), 404, nil},
		{"a token whose user may read but not push gets 403", "/scm/open/docs.git/info/refs?service=git-receive-pack",
			bearerAuth(f.token(t, f.user(t, "alice"), "REPO_WRITE")), 403, nil},
		{"the dumb protocol is not served", "/scm/prj/code.git/info/refs", bearerAuth(read), 404, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.env.URL+c.path, nil)
			if c.auth != nil {
				c.auth(req)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			got := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n")
			for _, want := range c.challenges {
				if !strings.Contains(got, want) {
					t.Errorf("WWW-Authenticate %q lacks %q", got, want)
				}
			}
		})
	}
}

func basic(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

func bearerAuth(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func TestRepositoryCreatedAndDeletedThroughTheAPIHasItsGitRepository(t *testing.T) {
	f := newGitFixture(t)
	boss := f.env.User("boss", "boss-password")
	f.env.Grant("boss", admin.Target{Global: true}, "SYS_ADMIN")
	token := f.token(t, boss, "PROJECT_ADMIN")
	resp := f.call(t, http.MethodPost, "/rest/api/latest/projects/PRJ/repos", token, map[string]any{"name": "Fresh Repo"})
	if resp.status != http.StatusCreated {
		t.Fatalf("create repository: %d %s", resp.status, resp.body)
	}
	if slug := resp.json(t)["slug"]; slug != "fresh-repo" {
		t.Fatalf("slug %v, want fresh-repo", slug)
	}
	dir := t.TempDir()
	f.git.must(dir, "clone", "-q", f.gitURL(token, "PRJ", "fresh-repo"), "fresh")
	clone := filepath.Join(dir, "fresh")
	f.git.must(clone, "commit", "-q", "--allow-empty", "-m", "into the new repository")
	f.git.must(clone, "push", "-q", f.gitURL(token, "PRJ", "fresh-repo"), "HEAD:main")

	created, err := f.env.Store.GetRepo(context.Background(), "PRJ", "fresh-repo")
	if err != nil {
		t.Fatal(err)
	}
	if resp := f.call(t, http.MethodDelete, "/rest/api/latest/projects/PRJ/repos/fresh-repo", token, nil); resp.status != http.StatusAccepted {
		t.Fatalf("delete repository: %d %s", resp.status, resp.body)
	}
	if _, err := os.Stat(f.env.Repos().Path(created)); !os.IsNotExist(err) {
		t.Fatalf("the git repository is still on disk: %v", err)
	}
	out, err := f.git.run(dir, "clone", f.gitURL(token, "PRJ", "fresh-repo"), "gone")
	wantGitFailure(t, "clone of a deleted repository", out, err, "not found")
}

func TestGitSpeaksProtocolVersion2(t *testing.T) {
	f := newGitFixture(t)
	req, _ := http.NewRequest(http.MethodGet, f.env.URL+"/scm/open/docs.git/info/refs?service=git-upload-pack", nil)
	req.Header.Set("Git-Protocol", "version=2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "version 2") {
		t.Fatalf("info/refs with Git-Protocol: version=2: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-advertisement" {
		t.Errorf("Content-Type %q", ct)
	}
}
