package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"code.gitea.io/sdk/gitea"
	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// giteaFixture is a node with a private project PRJ holding PRJ/code, into
// which a real git push (with alice's token) put two branches: main with
// README, .woodpecker.yml, docs/guide.md and a symbolic link, and
// feature/x one commit ahead. alice administers PRJ/code, bob reads it,
// carol holds nothing.
type giteaFixture struct {
	*rsNode
	git        *rsGit
	repo       store.Repo
	alice      string // a code-flow token of alice with scope all
	main, feat string // the SHAs of the branches
	first      string // the first commit of main
}

func newGiteaFixture(t *testing.T, opts ...testkit.Option) *giteaFixture {
	t.Helper()
	f := &giteaFixture{rsNode: newRSNode(t, opts...), git: newGit(t)}
	f.env.Project("PRJ", false)
	f.repo = f.env.Repo("PRJ", "code", false)
	f.env.User("alice", "alice-password")
	f.env.User("bob", "bob-password")
	f.env.User("carol", "carol-password")
	f.env.Grant("alice", admin.Target{Repo: "PRJ/code"}, "REPO_ADMIN")
	f.env.Grant("bob", admin.Target{Repo: "PRJ/code"}, "REPO_READ")
	f.alice = browserToken(t, f.rsNode, "alice", "all")

	work := f.git.workTree("first commit")
	f.first = strings.TrimSpace(f.git.must(work, "rev-parse", "HEAD"))
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".woodpecker.yml", "steps:\n  build:\n    image: golang\n")
	write(".woodpecker/lint.yml", "steps:\n  lint:\n    image: golang\n")
	write("docs/guide.md", "# Guide\n")
	if err := os.Symlink("docs/guide.md", filepath.Join(work, "GUIDE")); err != nil {
		t.Fatal(err)
	}
	f.git.must(work, "add", "-A")
	f.git.must(work, "commit", "-q", "-m", "pipeline and docs")
	f.main = strings.TrimSpace(f.git.must(work, "rev-parse", "HEAD"))
	f.git.must(work, "checkout", "-q", "-b", "feature/x")
	write("feature.txt", "new\n")
	f.git.must(work, "add", "-A")
	f.git.must(work, "commit", "-q", "-m", "feature")
	f.feat = strings.TrimSpace(f.git.must(work, "rev-parse", "HEAD"))
	f.git.must(work, "push", "-q", f.gitURL(f.alice, "PRJ", "code"), "main", "feature/x")
	return f
}

// woodpeckerTree is what Woodpecker's forge does to find a directory of
// pipeline files: list the commit's tree recursively and keep the files
// (blobs) under the directory.
func woodpeckerTree(t *testing.T, c *gitea.Client, commit, dir string) []string {
	t.Helper()
	tree, _, err := c.GetTrees("PRJ", "code", gitea.ListTreeOptions{Ref: commit, Recursive: true})
	if err != nil {
		t.Fatalf("GetTrees: %v", err)
	}
	var files []string
	for _, e := range tree.Entries {
		if m, _ := filepath.Match(dir+"/*", e.Path); m && e.Type == "blob" {
			files = append(files, e.Path)
		}
	}
	return files
}

// browserToken runs the authorization-code flow with PKCE in the scripted
// browser as user (password user+"-password") and exchanges the code.
func browserToken(t *testing.T, n *rsNode, user string, scopes ...string) string {
	t.Helper()
	conf := &oauth2.Config{ClientID: n.clientID, ClientSecret: n.secret, RedirectURL: redirectURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: n.env.URL + "/login/oauth/authorize",
			TokenURL: n.env.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	cb, err := n.env.Browser(user, user+"-password").Authorize(conf.AuthCodeURL("gitea-state", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatalf("authorize %s: %v", user, err)
	}
	tok, err := conf.Exchange(context.Background(), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange for %s: %v", user, err)
	}
	return tok.AccessToken
}

// sdk is Gitea's SDK client with a token, created with its default
// version check.
func (f *giteaFixture) sdk(t *testing.T, token string) *gitea.Client {
	t.Helper()
	c, err := gitea.NewClient(f.env.URL, gitea.SetToken(token))
	if err != nil {
		t.Fatalf("gitea.NewClient: %v", err)
	}
	return c
}

func TestGiteaSDKReadsUsersRepositoriesAndOrganizations(t *testing.T) {
	f := newGiteaFixture(t)
	c := f.sdk(t, f.alice)
	if v, _, err := c.ServerVersion(); err != nil || v == "" {
		t.Fatalf("ServerVersion %q: %v", v, err)
	}
	me, _, err := c.GetMyUserInfo()
	if err != nil || me.UserName != "alice" || me.ID == 0 {
		t.Fatalf("GetMyUserInfo %+v: %v", me, err)
	}
	mine, resp, err := c.ListMyRepos(gitea.ListReposOptions{})
	if err != nil || len(mine) != 1 || mine[0].FullName != "PRJ/code" || resp.Header.Get("X-Total-Count") != "1" {
		t.Fatalf("ListMyRepos %v: %v", mine, err)
	}
	repo, _, err := c.GetRepo("PRJ", "code")
	if err != nil || !repo.Permissions.Admin || !repo.Permissions.Push || !repo.Private || repo.DefaultBranch != "main" {
		t.Fatalf("GetRepo %+v: %v", repo, err)
	}
	if _, _, err := c.GetRepo("PRJ", "nothing"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("GetRepo of a missing repository: %v", err)
	}
	orgs, _, err := c.ListMyOrgs(gitea.ListOrgsOptions{})
	if err != nil || len(orgs) != 1 || orgs[0].UserName != "PRJ" || orgs[0].Visibility != "private" {
		t.Fatalf("ListMyOrgs %+v: %v", orgs, err)
	}
	if org, _, err := c.GetOrg("PRJ"); err != nil || org.UserName != "PRJ" {
		t.Fatalf("GetOrg %+v: %v", org, err)
	}
	for user, want := range map[string]bool{"alice": true, "bob": true, "carol": false, "nobody": false} {
		if member, _, err := c.CheckOrgMembership("PRJ", user); err != nil || member != want {
			t.Errorf("CheckOrgMembership(PRJ, %s) = %v, %v; want %v", user, member, err, want)
		}
	}
	carol := f.sdk(t, browserToken(t, f.rsNode, "carol", "read:repository", "read:organization"))
	if _, _, err := carol.GetOrg("PRJ"); err == nil {
		t.Fatal("carol sees the private project")
	}
	if orgs, _, err := carol.ListMyOrgs(gitea.ListOrgsOptions{}); err != nil || len(orgs) != 0 {
		t.Fatalf("carol's organizations %v: %v", orgs, err)
	}
}

func TestGiteaSDKReadsBranchesCommitsAndFilesFromTheRepository(t *testing.T) {
	f := newGiteaFixture(t)
	c := f.sdk(t, browserToken(t, f.rsNode, "bob", "read:repository"))
	branches, resp, err := c.ListRepoBranches("PRJ", "code", gitea.ListRepoBranchesOptions{})
	if err != nil || len(branches) != 2 || resp.Header.Get("X-Total-Count") != "2" {
		t.Fatalf("ListRepoBranches %+v %+v: %v", branches[0], resp.Header, err)
	}
	if branches[0].Name != "feature/x" || branches[0].Commit.ID != f.feat || branches[1].Name != "main" ||
		branches[1].Commit.ID != f.main || branches[1].Commit.Author.Email != "test@example.com" || branches[1].UserCanPush {
		t.Fatalf("branches %+v %+v", branches[0], branches[1])
	}
	b, _, err := c.GetRepoBranch("PRJ", "code", "feature/x")
	if err != nil || b.Commit.ID != f.feat || b.Commit.Message != "feature\n" {
		t.Fatalf("GetRepoBranch %+v: %v", b, err)
	}
	if _, _, err := c.GetRepoBranch("PRJ", "code", "nope"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("GetRepoBranch of a missing branch: %v", err)
	}

	readme, _, err := c.GetContents("PRJ", "code", "main", "README")
	if err != nil || readme.Type != "file" || readme.Encoding == nil || *readme.Encoding != "base64" || readme.Content == nil {
		t.Fatalf("GetContents README %+v: %v", readme, err)
	}
	if raw, _ := base64.StdEncoding.DecodeString(*readme.Content); string(raw) != "first commit\n" ||
		readme.LastCommitSha == nil || *readme.LastCommitSha != f.first {
		t.Fatalf("README content %q, last commit %v", raw, readme.LastCommitSha)
	}
	entries, _, err := c.ListContents("PRJ", "code", "", "")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name+":"+e.Type)
	}
	if err != nil || !slices.Equal(names, []string{".woodpecker:dir", ".woodpecker.yml:file", "GUIDE:symlink", "README:file", "docs:dir"}) {
		t.Fatalf("ListContents root %v: %v", names, err)
	}
	link, _, err := c.GetContents("PRJ", "code", "main", "GUIDE")
	if err != nil || link.Type != "symlink" || link.Target == nil || *link.Target != "docs/guide.md" {
		t.Fatalf("symlink %+v: %v", link, err)
	}
	pipeline, _, err := c.GetFile("PRJ", "code", "main", ".woodpecker.yml")
	if err != nil || !strings.HasPrefix(string(pipeline), "steps:") {
		t.Fatalf("GetFile %q: %v", pipeline, err)
	}
	if data, _, err := c.GetFile("PRJ", "code", f.feat, "feature.txt"); err != nil || string(data) != "new\n" {
		t.Fatalf("GetFile at a commit %q: %v", data, err)
	}
	if _, _, err := c.GetFile("PRJ", "code", "main", "feature.txt"); err == nil {
		t.Fatal("GetFile found feature.txt on main")
	}
	if _, _, err := c.GetContents("PRJ", "code", "no-such-ref", "README"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("GetContents at a missing ref: %v", err)
	}

	commit, _, err := c.GetSingleCommit("PRJ", "code", f.main)
	if err != nil || commit.SHA != f.main || len(commit.Parents) != 1 || commit.Parents[0].SHA != f.first ||
		commit.RepoCommit.Message != "pipeline and docs\n" || commit.RepoCommit.Author.Name != "Latchkey Test" {
		t.Fatalf("GetSingleCommit %+v: %v", commit, err)
	}
	history, resp, err := c.ListRepoCommits("PRJ", "code", gitea.ListCommitOptions{SHA: "feature/x", ListOptions: gitea.ListOptions{PageSize: 2}})
	if err != nil || len(history) != 2 || history[0].SHA != f.feat || history[1].SHA != f.main || resp.Header.Get("X-HasMore") != "true" {
		t.Fatalf("ListRepoCommits %v: %v", history, err)
	}
}

func TestGiteaSDKReportsAndReadsCommitStatuses(t *testing.T) {
	onBothBackends(t, testGiteaSDKStatuses)
}

func testGiteaSDKStatuses(t *testing.T, opts ...testkit.Option) {
	f := newGiteaFixture(t, opts...)
	c := f.sdk(t, f.alice)
	for _, in := range []gitea.CreateStatusOption{
		{State: gitea.StatusPending, Context: "ci/build", TargetURL: "https://ci.example/1", Description: "building"},
		{State: gitea.StatusSuccess, Context: "ci/build", TargetURL: "https://ci.example/1", Description: "built"},
		{State: gitea.StatusFailure, Context: "ci/lint", Description: "lint failed"},
	} {
		s, resp, err := c.CreateStatus("PRJ", "code", f.main, in)
		if err != nil || resp.StatusCode != 201 || s.State != in.State || s.Context != in.Context || s.Creator == nil || s.Creator.UserName != "alice" {
			t.Fatalf("CreateStatus %+v: %+v, %v", in, s, err)
		}
	}
	all, resp, err := c.ListStatuses("PRJ", "code", "main", gitea.ListStatusesOption{})
	if err != nil || len(all) != 3 || all[0].Context != "ci/lint" || resp.Header.Get("X-Total-Count") != "3" {
		t.Fatalf("ListStatuses %v: %v", all, err)
	}
	combined, _, err := c.GetCombinedStatus("PRJ", "code", "main")
	if err != nil || combined.State != gitea.StatusFailure || combined.TotalCount != 2 || combined.SHA != f.main {
		t.Fatalf("GetCombinedStatus %+v: %v", combined, err)
	}
	if empty, _, err := c.GetCombinedStatus("PRJ", "code", "feature/x"); err != nil || empty.TotalCount != 0 {
		t.Fatalf("combined status of a commit without reports %+v: %v", empty, err)
	}
	if _, _, err := c.CreateStatus("PRJ", "code", f.main, gitea.CreateStatusOption{State: "exploded"}); err == nil {
		t.Fatal("a status with an unknown state was taken")
	}
	if _, _, err := c.CreateStatus("PRJ", "code", strings.Repeat("ab", 20), gitea.CreateStatusOption{State: gitea.StatusSuccess}); err == nil {
		t.Fatal("a status about a commit the repository does not hold was taken")
	}
	reader := f.sdk(t, browserToken(t, f.rsNode, "bob", "write:repository"))
	if _, resp, err := reader.CreateStatus("PRJ", "code", f.main, gitea.CreateStatusOption{State: gitea.StatusSuccess}); err == nil || resp.StatusCode != 403 {
		t.Fatalf("bob (REPO_READ) reported a status: %v", err)
	}
	if list, _, err := reader.ListStatuses("PRJ", "code", f.main, gitea.ListStatusesOption{}); err != nil || len(list) != 3 {
		t.Fatalf("bob lists statuses %v: %v", list, err)
	}
}

func TestGiteaSDKManagesWebhooks(t *testing.T) {
	onBothBackends(t, testGiteaSDKWebhooks)
}

func testGiteaSDKWebhooks(t *testing.T, opts ...testkit.Option) {
	f := newGiteaFixture(t, opts...)
	c := f.sdk(t, f.alice)
	h, resp, err := c.CreateRepoHook("PRJ", "code", gitea.CreateHookOption{
		Type: gitea.HookTypeGitea, Active: true, Events: []string{"push"}, BranchFilter: "main",
		Config: map[string]string{"url": "https://ci.example/hook", "content_type": "json", "secret": "s3cret"},
	})
	if err != nil || resp.StatusCode != 201 || h.ID == 0 || !h.Active || !slices.Equal(h.Events, []string{"push"}) ||
		h.Config["url"] != "https://ci.example/hook" || h.BranchFilter != "main" {
		t.Fatalf("CreateRepoHook %+v: %v", h, err)
	}
	if _, ok := h.Config["secret"]; ok {
		t.Fatalf("the secret came back: %v", h.Config)
	}
	stored, err := f.env.Store.GetWebhook(t.Context(), f.repo.ID, h.ID)
	if err != nil || stored.Kind != store.HookGitea || len(stored.Secret) == 0 || strings.Contains(string(stored.Secret), "s3cret") {
		t.Fatalf("stored hook %+v: %v", stored, err)
	}
	hooks, _, err := c.ListRepoHooks("PRJ", "code", gitea.ListHooksOptions{})
	if err != nil || len(hooks) != 1 || hooks[0].ID != h.ID {
		t.Fatalf("ListRepoHooks %v: %v", hooks, err)
	}
	if _, err := c.EditRepoHook("PRJ", "code", h.ID, gitea.EditHookOption{Events: []string{"push", "create"}}); err != nil {
		t.Fatalf("EditRepoHook: %v", err)
	}
	if got, _, err := c.GetRepoHook("PRJ", "code", h.ID); err != nil || !slices.Equal(got.Events, []string{"create", "push"}) || !got.Active {
		t.Fatalf("GetRepoHook after the edit %+v: %v", got, err)
	}
	for name, in := range map[string]gitea.CreateHookOption{
		"a loopback-free URL is still a URL": {Type: "gitea", Config: map[string]string{"url": "not a url", "content_type": "json"}},
		"Slack hooks are not delivered":      {Type: "slack", Config: map[string]string{"url": "https://ci.example/", "content_type": "json"}},
		"the URL is required":                {Type: "gitea", Config: map[string]string{"content_type": "json"}},
		"credentials in the URL":             {Type: "gitea", Config: map[string]string{"url": "https://u:p@ci.example/", "content_type": "json"}},
	} {
		if _, resp, err := c.CreateRepoHook("PRJ", "code", in); err == nil || resp.StatusCode != 422 {
			t.Errorf("%s: %v", name, err)
		}
	}
	reader := f.sdk(t, browserToken(t, f.rsNode, "bob", "all"))
	if _, resp, err := reader.ListRepoHooks("PRJ", "code", gitea.ListHooksOptions{}); err == nil || resp.StatusCode != 403 {
		t.Fatalf("bob (REPO_READ) lists hooks: %v", err)
	}
	if _, err := c.DeleteRepoHook("PRJ", "code", h.ID); err != nil {
		t.Fatalf("DeleteRepoHook: %v", err)
	}
	if resp, err := c.DeleteRepoHook("PRJ", "code", h.ID); err == nil || resp.StatusCode != 404 {
		t.Fatalf("deleting again: %v", err)
	}
	if hooks, _, err := c.ListRepoHooks("PRJ", "code", gitea.ListHooksOptions{}); err != nil || len(hooks) != 0 {
		t.Fatalf("hooks after the delete %v: %v", hooks, err)
	}
	// Where a repository's events go is recorded: each change to a hook
	// is in the audit trail, with its target's host and not the rest of
	// its URL.
	events, err := store.All(t.Context(), f.env.Store.ListAudit)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range events {
		if strings.HasPrefix(string(e.Event), "webhook.") {
			trail = append(trail, string(e.Event)+" "+e.Detail)
		}
	}
	slices.Reverse(trail)
	if len(trail) < 3 || !strings.HasPrefix(trail[0], "webhook.created webhook ") ||
		!strings.HasPrefix(trail[len(trail)-1], "webhook.deleted webhook ") || !strings.Contains(trail[0], "of repository PRJ/code, sending to ") {
		t.Fatalf("audit trail of the hook changes: %q", trail)
	}
	for _, line := range trail {
		if strings.Contains(line, "/hook") || strings.Contains(line, "?") {
			t.Errorf("the audit trail holds more of the URL than its host: %q", line)
		}
	}
}

// TestGiteaSDKCallsOfWoodpeckersForge makes the SDK calls that
// Woodpecker's Gitea forge makes (the reads first, then Activate, Status
// and Deactivate), with a token of the
// authorization-code flow at Gitea's OAuth paths (Woodpecker's own log-in).
func TestGiteaSDKCallsOfWoodpeckersForge(t *testing.T) {
	f := newGiteaFixture(t)
	c := f.sdk(t, f.alice) // Login and Auth: NewClient, GetMyUserInfo
	if me, _, err := c.GetMyUserInfo(); err != nil || me.UserName != "alice" {
		t.Fatalf("GetMyUserInfo %+v: %v", me, err)
	}
	if orgs, _, err := c.ListMyOrgs(gitea.ListOrgsOptions{ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}}); err != nil || len(orgs) != 1 {
		t.Fatalf("Teams: ListMyOrgs %v: %v", orgs, err)
	}
	repos, _, err := c.ListMyRepos(gitea.ListReposOptions{ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}})
	if err != nil || len(repos) != 1 {
		t.Fatalf("Repos: ListMyRepos %v: %v", repos, err)
	}
	if byID, _, err := c.GetRepoByID(repos[0].ID); err != nil || byID.FullName != "PRJ/code" || !byID.Permissions.Admin {
		t.Fatalf("Repo: GetRepoByID %+v: %v", byID, err)
	}
	if member, _, err := c.CheckOrgMembership("PRJ", "alice"); err != nil || !member {
		t.Fatalf("OrgMembership: CheckOrgMembership %v: %v", member, err)
	}
	if perm, _, err := c.GetOrgPermissions("PRJ", "alice"); err != nil || *perm != (gitea.OrgPermissions{CanRead: true}) {
		t.Fatalf("OrgMembership: GetOrgPermissions %+v: %v", perm, err)
	}
	if head, _, err := c.GetRepoBranch("PRJ", "code", "main"); err != nil || head.Commit.ID != f.main {
		t.Fatalf("BranchHead: GetRepoBranch %+v: %v", head, err)
	}
	if branches, _, err := c.ListRepoBranches("PRJ", "code", gitea.ListRepoBranchesOptions{ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}}); err != nil || len(branches) != 2 {
		t.Fatalf("Branches: ListRepoBranches %v: %v", branches, err)
	}
	if pulls, _, err := c.ListRepoPullRequests("PRJ", "code", gitea.ListPullRequestsOptions{State: gitea.StateOpen}); err != nil || len(pulls) != 0 {
		t.Fatalf("PullRequests: ListRepoPullRequests %v: %v", pulls, err)
	}
	if cfg, _, err := c.GetFile("PRJ", "code", f.main, ".woodpecker.yml"); err != nil || !strings.HasPrefix(string(cfg), "steps:") {
		t.Fatalf("File: GetFile %q: %v", cfg, err)
	}
	if files := woodpeckerTree(t, c, f.main, ".woodpecker"); !slices.Equal(files, []string{".woodpecker/lint.yml"}) {
		t.Fatalf("Dir: files under .woodpecker %v", files)
	}
	hook, _, err := c.CreateRepoHook("PRJ", "code", gitea.CreateHookOption{Type: gitea.HookTypeGitea, Active: true,
		Events: []string{"push", "create", "pull_request"},
		Config: map[string]string{"url": "https://ci.example/api/hook?access_token=x", "secret": "hash", "content_type": "json"}})
	if err != nil || !slices.Contains(hook.Events, "pull_request_sync") {
		t.Fatalf("Activate: CreateRepoHook %+v: %v", hook, err)
	}
	if _, _, err := c.CreateStatus("PRJ", "code", f.main, gitea.CreateStatusOption{State: gitea.StatusPending,
		TargetURL: "https://ci.example/repos/1/pipeline/1", Description: "Pipeline is pending", Context: "ci/woodpecker/push/build"}); err != nil {
		t.Fatalf("Status: CreateStatus: %v", err)
	}
	hooks, _, err := c.ListRepoHooks("PRJ", "code", gitea.ListHooksOptions{})
	if err != nil || len(hooks) != 1 {
		t.Fatalf("Deactivate: ListRepoHooks %v: %v", hooks, err)
	}
	if _, err := c.DeleteRepoHook("PRJ", "code", hooks[0].ID); err != nil {
		t.Fatalf("Deactivate: DeleteRepoHook: %v", err)
	}
}
