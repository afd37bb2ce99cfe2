package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drone/go-scm/scm"
	"github.com/drone/go-scm/scm/driver/stash"
	"github.com/drone/go-scm/scm/transport/oauth2"
	xoauth2 "golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// stashFixture is a node with a private project PRJ and its repository
// PRJ/code, into which real commits were pushed with git: main with a
// pipeline file and a directory, and a branch feature/x one commit ahead.
// alice administers the repository, bob may write it, carol read it.
type stashFixture struct {
	*rsNode
	git  *rsGit
	repo store.Repo
	// The commits on main, oldest first, and the tip of feature/x.
	main    []string
	feature string
}

const stashPipeline = "kind: pipeline\nname: default\nsteps:\n- name: test\n  image: golang\n"

func newStashFixture(t *testing.T, opts ...testkit.Option) *stashFixture {
	t.Helper()
	f := &stashFixture{rsNode: newRSNode(t, opts...), git: newGit(t)}
	f.env.Project("PRJ", false)
	f.repo = f.env.Repo("PRJ", "code", false)
	for user, perm := range map[string]string{"alice": "REPO_ADMIN", "bob": "REPO_WRITE", "carol": "REPO_READ"} {
		f.env.User(user, user+"-password")
		f.env.Grant(user, admin.Target{Repo: "PRJ/code"}, perm)
	}
	// Push real commits over HTTP with a token of alice's.
	push := f.token(t, f.user(t, "alice"), "REPO_WRITE")
	work := f.git.workTree("first commit")
	f.main = append(f.main, f.rev(work, "HEAD"))
	f.write(t, work, ".drone.yml", stashPipeline)
	f.write(t, work, "docs/guide.md", "# Guide\r\nline two\n")
	f.git.must(work, "add", ".")
	f.git.must(work, "commit", "-q", "-m", "add the pipeline\n\nand a guide")
	f.main = append(f.main, f.rev(work, "HEAD"))
	f.git.must(work, "push", "-q", f.gitURL(push, "PRJ", "code"), "HEAD:refs/heads/main")
	f.git.must(work, "checkout", "-q", "-b", "feature/x")
	f.write(t, work, "feature.txt", "feature\n")
	f.git.must(work, "add", ".")
	f.git.must(work, "commit", "-q", "-m", "feature work")
	f.feature = f.rev(work, "HEAD")
	f.git.must(work, "push", "-q", f.gitURL(push, "PRJ", "code"), "HEAD:refs/heads/feature/x")
	return f
}

func (f *stashFixture) write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *stashFixture) rev(dir, rev string) string {
	return strings.TrimSpace(f.git.must(dir, "rev-parse", rev))
}

func (f *stashFixture) user(t *testing.T, name string) store.User {
	t.Helper()
	u, err := f.env.Store.GetUserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// codeFlowToken runs the authorization-code flow with PKCE in the
// scripted browser as user, and exchanges the code with x/oauth2.
func (f *stashFixture) codeFlowToken(t *testing.T, user string, scopes ...string) string {
	t.Helper()
	conf := &xoauth2.Config{ClientID: f.clientID, ClientSecret: f.secret, RedirectURL: redirectURI, Scopes: scopes,
		Endpoint: xoauth2.Endpoint{AuthURL: f.env.URL + "/rest/oauth2/latest/authorize",
			TokenURL: f.env.URL + "/rest/oauth2/latest/token", AuthStyle: xoauth2.AuthStyleInHeader}}
	verifier := xoauth2.GenerateVerifier()
	cb, err := f.env.Browser(user, user+"-password").Authorize(conf.AuthCodeURL("stash", xoauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), xoauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok.AccessToken
}

// client is go-scm's stash driver with token, as Drone builds it.
func (f *stashFixture) client(t *testing.T, token string) *scm.Client {
	t.Helper()
	c, err := stash.New(f.env.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Client = &http.Client{Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(&scm.Token{Token: token})}}
	return c
}

// TestStashDriverReadsUsersReposBranchesCommitsAndFiles runs go-scm's
// stash driver, as Drone does, against a node, with a token from the
// authorization-code flow.
func TestStashDriverReadsUsersReposBranchesCommitsAndFiles(t *testing.T) {
	f := newStashFixture(t)
	ctx := context.Background()
	alice := f.client(t, f.codeFlowToken(t, "alice", "REPO_ADMIN"))

	me, _, err := alice.Users.Find(ctx)
	if err != nil {
		t.Fatalf("Users.Find: %v", err)
	}
	if me.Login != "alice" || me.Email != "alice@example.com" {
		t.Errorf("Users.Find = %+v, want alice", me)
	}

	repos, _, err := alice.Repositories.List(ctx, scm.ListOptions{Size: 25})
	if err != nil {
		t.Fatalf("Repositories.List: %v", err)
	}
	if len(repos) != 1 || repos[0].Namespace != "PRJ" || repos[0].Name != "code" || !repos[0].Private {
		t.Fatalf("Repositories.List = %+v, want PRJ/code, private", repos)
	}
	repo, _, err := alice.Repositories.Find(ctx, "PRJ/code")
	if err != nil {
		t.Fatalf("Repositories.Find: %v", err)
	}
	if repo.Branch != "main" || repo.Clone != f.env.URL+"/scm/prj/code.git" {
		t.Errorf("Repositories.Find = %+v, want default branch main and the clone URL", repo)
	}

	branches, _, err := alice.Git.ListBranches(ctx, "PRJ/code", scm.ListOptions{Size: 25})
	if err != nil {
		t.Fatalf("Git.ListBranches: %v", err)
	}
	got := map[string]string{}
	for _, b := range branches {
		got[b.Name] = b.Sha
	}
	if len(got) != 2 || got["main"] != f.main[1] || got["feature/x"] != f.feature {
		t.Errorf("Git.ListBranches = %v, want main at %s and feature/x at %s", got, f.main[1], f.feature)
	}
	b, _, err := alice.Git.FindBranch(ctx, "PRJ/code", "feature/x")
	if err != nil || b.Sha != f.feature || b.Path != "refs/heads/feature/x" {
		t.Errorf("Git.FindBranch(feature/x) = %+v, %v; want %s", b, err, f.feature)
	}
	if _, _, err := alice.Git.FindBranch(ctx, "PRJ/code", "nope"); !errors.Is(err, scm.ErrNotFound) {
		t.Errorf("Git.FindBranch(nope) = %v, want scm.ErrNotFound", err)
	}

	commit, _, err := alice.Git.FindCommit(ctx, "PRJ/code", f.main[1])
	if err != nil {
		t.Fatalf("Git.FindCommit: %v", err)
	}
	if commit.Sha != f.main[1] || commit.Message != "add the pipeline\n\nand a guide" ||
		commit.Author.Email != "test@example.com" || commit.Author.Date.IsZero() {
		t.Errorf("Git.FindCommit = %+v", commit)
	}
	if _, _, err := alice.Git.FindCommit(ctx, "PRJ/code", strings.Repeat("0", 40)); err == nil ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Git.FindCommit of a missing commit = %v, want Bitbucket's does-not-exist error", err)
	}
	// The files of a commit, and of a range (what Woodpecker's Bitbucket
	// forge reads to fill a pipeline's changed files).
	changes, _, err := alice.Git.ListChanges(ctx, "PRJ/code", f.main[1], scm.ListOptions{Size: 25})
	if err != nil {
		t.Fatalf("Git.ListChanges: %v", err)
	}
	changed := map[string]bool{}
	for _, c := range changes {
		changed[c.Path] = c.Added
	}
	if len(changed) != 2 || !changed[".drone.yml"] || !changed["docs/guide.md"] {
		t.Errorf("Git.ListChanges(%s) = %v, want .drone.yml and docs/guide.md added", f.main[1], changed)
	}
	changes, _, err = alice.Git.CompareChanges(ctx, "PRJ/code", f.feature, f.main[0], scm.ListOptions{Size: 25})
	if err != nil || len(changes) < 2 {
		t.Fatalf("Git.CompareChanges(feature/x, first commit) = %+v, %v", changes, err)
	}
	missing := strings.Repeat("a", 40)
	if _, _, err := alice.Git.CompareChanges(ctx, "PRJ/code", missing, f.main[0], scm.ListOptions{}); err == nil ||
		!strings.Contains(err.Error(), "'"+missing+"' does not exist") {
		t.Errorf("Git.CompareChanges from a missing commit = %v, want Bitbucket's error naming it", err)
	}

	commits, _, err := alice.Git.ListCommits(ctx, "PRJ/code", scm.CommitListOptions{Ref: "feature/x"})
	if err != nil {
		t.Fatalf("Git.ListCommits: %v", err)
	}
	if shas := commitSHAs(commits); !slices.Equal(shas, []string{f.feature, f.main[1], f.main[0]}) {
		t.Errorf("Git.ListCommits(feature/x) = %v, want newest first %v", shas, []string{f.feature, f.main[1], f.main[0]})
	}
	commits, _, err = alice.Git.ListCommits(ctx, "PRJ/code", scm.CommitListOptions{Ref: "main", Path: ".drone.yml"})
	if err != nil {
		t.Fatalf("Git.ListCommits with a path: %v", err)
	}
	if shas := commitSHAs(commits); !slices.Equal(shas, []string{f.main[1]}) {
		t.Errorf("Git.ListCommits(main, .drone.yml) = %v, want only %s", shas, f.main[1])
	}

	content, _, err := alice.Contents.Find(ctx, "PRJ/code", ".drone.yml", "main")
	if err != nil {
		t.Fatalf("Contents.Find: %v", err)
	}
	if string(content.Data) != stashPipeline {
		t.Errorf("Contents.Find = %q, want the pipeline file", content.Data)
	}
	content, _, err = alice.Contents.Find(ctx, "PRJ/code", ".drone.yml", "refs/heads/feature/x")
	if err != nil || string(content.Data) != stashPipeline {
		t.Errorf("Contents.Find at a full ref name = %q, %v", content.Data, err)
	}
	if _, _, err := alice.Contents.Find(ctx, "PRJ/code", "missing.yml", "main"); err == nil ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Contents.Find of a missing file = %v, want Bitbucket's does-not-exist error", err)
	}
}

func commitSHAs(commits []*scm.Commit) []string {
	var out []string
	for _, c := range commits {
		out = append(out, c.Sha)
	}
	return out
}

// TestStashDriverFindPerms: go-scm learns what the token may do by trying
// (the hooks list for admin, the REPO_WRITE repository list for push);
// each answer must follow the user's permission and the token's scopes.
func TestStashDriverFindPerms(t *testing.T) {
	f := newStashFixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		user, scopes string
		want         scm.Perm
	}{
		{"alice", "REPO_ADMIN", scm.Perm{Pull: true, Push: true, Admin: true}},
		{"alice", "REPO_WRITE", scm.Perm{Pull: true, Push: true}},
		{"alice", "REPO_READ", scm.Perm{Pull: true}},
		{"bob", "REPO_ADMIN", scm.Perm{Pull: true, Push: true}},
		{"carol", "REPO_ADMIN", scm.Perm{Pull: true}},
		{"alice", "PUBLIC_REPOS", scm.Perm{}},
	} {
		perm, _, err := f.client(t, f.token(t, f.user(t, c.user), c.scopes)).Repositories.FindPerms(ctx, "PRJ/code")
		if err != nil || *perm != c.want {
			t.Errorf("%s with %s: FindPerms = %+v, %v; want %+v", c.user, c.scopes, perm, err, c.want)
		}
	}
}

// TestBitbucketBothPrefixesAndShapes checks the answers that go-scm does
// not read in full: both prefixes, whoami, the browse JSON, the default
// branch and the errors.
func TestBitbucketBothPrefixesAndShapes(t *testing.T) {
	f := newStashFixture(t)
	read := f.token(t, f.user(t, "carol"), "REPO_READ")

	// whoami is the bare user name, as plain text.
	req, _ := http.NewRequest(http.MethodGet, f.env.URL+"/plugins/servlet/applinks/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+read)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(name) != "carol" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("whoami = %d %q (%s), want 200 carol as text", resp.StatusCode, name, resp.Header.Get("Content-Type"))
	}

	// An empty repository: no branches, no default branch, no history.
	f.env.Repo("PRJ", "empty", false)
	f.env.Grant("carol", admin.Target{Repo: "PRJ/empty"}, "REPO_READ")
	empty := "/rest/api/1.0/projects/PRJ/repos/empty"
	if v := f.call(t, "GET", empty+"/branches", read, nil).want(t, "branches of an empty repository", 200).values(t); len(v) != 0 {
		t.Errorf("branches of an empty repository = %v", v)
	}
	if v := f.call(t, "GET", empty+"/commits", read, nil).want(t, "commits of an empty repository", 200).values(t); len(v) != 0 {
		t.Errorf("commits of an empty repository = %v", v)
	}
	f.call(t, "GET", empty+"/branches/default", read, nil).want(t, "default branch of an empty repository", 404).bitbucketError(t)
	f.call(t, "GET", empty+"/raw/README", read, nil).want(t, "a file of an empty repository", 404).bitbucketError(t)

	for _, prefix := range []string{"/rest/api/1.0", "/rest/api/latest"} {
		repo := prefix + "/projects/PRJ/repos/code"
		def := f.call(t, "GET", repo+"/branches/default", read, nil).want(t, "default branch", 200).json(t)
		if def["id"] != "refs/heads/main" || def["displayId"] != "main" || def["latestCommit"] != f.main[1] ||
			def["type"] != "BRANCH" || def["isDefault"] != true {
			t.Errorf("%s default branch = %v", prefix, def)
		}
		detailed := f.call(t, "GET", repo+"/branches?details=true&filterText=feature", read, nil).want(t, "branches with details", 200).values(t)
		if len(detailed) != 1 {
			t.Fatalf("%s branches?filterText=feature = %v", prefix, detailed)
		}
		meta, _ := detailed[0]["metadata"].(map[string]any)
		latest, _ := meta["com.atlassian.bitbucket.server.bitbucket-branch:latest-commit-metadata"].(map[string]any)
		if latest["id"] != f.feature || latest["message"] != "feature work" {
			t.Errorf("%s branch details = %v, want feature/x's latest commit", prefix, detailed[0])
		}
		dir := f.call(t, "GET", repo+"/browse/docs?at=main", read, nil).want(t, "browse a directory", 200).json(t)
		children, _ := dir["children"].(map[string]any)
		values, _ := children["values"].([]any)
		if len(values) != 1 || dir["revision"] != "main" {
			t.Fatalf("%s browse docs = %v", prefix, dir)
		}
		child := values[0].(map[string]any)
		if p := child["path"].(map[string]any); p["toString"] != "guide.md" || p["extension"] != "md" ||
			child["type"] != "FILE" || child["size"] != float64(len("# Guide\r\nline two\n")) {
			t.Errorf("%s browse docs child = %v", prefix, child)
		}
		file := f.call(t, "GET", repo+"/browse/docs/guide.md?at="+f.main[1], read, nil).want(t, "browse a file", 200).json(t)
		lines, _ := file["lines"].([]any)
		if len(lines) != 2 || lines[0].(map[string]any)["text"] != "# Guide" || file["isLastPage"] != true {
			t.Errorf("%s browse docs/guide.md = %v", prefix, file)
		}
		root := f.call(t, "GET", repo+"/browse?at=feature/x", read, nil).want(t, "browse the root", 200).json(t)
		var top []string
		for _, v := range root["children"].(map[string]any)["values"].([]any) {
			top = append(top, v.(map[string]any)["path"].(map[string]any)["toString"].(string))
		}
		if !slices.Equal(top, []string{".drone.yml", "README", "docs", "feature.txt"}) {
			t.Errorf("%s browse the root at feature/x = %v", prefix, top)
		}

		raw := f.call(t, "GET", repo+"/raw/docs/guide.md?at=refs/heads/main", read, nil).want(t, "raw file", 200)
		if string(raw.body) != "# Guide\r\nline two\n" || raw.header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(raw.header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%s raw docs/guide.md = %q with headers %v", prefix, raw.body, raw.header)
		}
		missing := f.call(t, "GET", repo+"/raw/nope.txt?at=main", read, nil).want(t, "raw of a missing file", 404)
		if msg := missing.bitbucketError(t); !strings.Contains(msg, "nope.txt") {
			t.Errorf("raw of a missing file says %q", msg)
		}
		noRef := f.call(t, "GET", repo+"/commits?until=nope", read, nil).want(t, "commits of a missing ref", 404)
		noRef.bitbucketError(t)
		since := f.call(t, "GET", repo+"/commits?until=feature/x&since=main", read, nil).want(t, "commits since main", 200).values(t)
		if got := field(since, "id"); !slices.Equal(got, []string{f.feature}) {
			t.Errorf("%s commits of feature/x since main = %v, want %s", prefix, got, f.feature)
		}
		f.call(t, "GET", repo+"/commits?since=main&path=README", read, nil).want(t, "since with path", 400).bitbucketError(t)
		page := f.call(t, "GET", repo+"/commits?limit=1", read, nil).want(t, "a page of commits", 200).json(t)
		if page["isLastPage"] != false || page["nextPageStart"] != float64(1) || page["size"] != float64(1) {
			t.Errorf("%s commits?limit=1 = %v, want a first page of 1 with more", prefix, page)
		}
	}
}
