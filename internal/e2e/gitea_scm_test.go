package e2e

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/drone/go-scm/scm"
	scmgitea "github.com/drone/go-scm/scm/driver/gitea"
	"github.com/drone/go-scm/scm/transport"
)

// scmClient is go-scm's Gitea driver (Drone's, Harness') with a token, sent
// as Bearer as Drone sends it.
func (f *giteaFixture) scmClient(t *testing.T, token string) *scm.Client {
	t.Helper()
	c, err := scmgitea.New(f.env.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Client = &http.Client{Transport: &transport.BearerToken{Token: token}}
	return c
}

func TestGoSCMGiteaDriver(t *testing.T) {
	f := newGiteaFixture(t)
	ctx := context.Background()
	c := f.scmClient(t, f.alice)

	me, _, err := c.Users.Find(ctx)
	if err != nil || me.Login != "alice" {
		t.Fatalf("Users.Find %+v: %v", me, err)
	}
	repos, _, err := c.Repositories.List(ctx, scm.ListOptions{Page: 1, Size: 30})
	if err != nil || len(repos) != 1 || repos[0].Namespace != "PRJ" || repos[0].Name != "code" || !repos[0].Private {
		t.Fatalf("Repositories.List %+v: %v", repos, err)
	}
	repo, _, err := c.Repositories.Find(ctx, "PRJ/code")
	if err != nil || repo.Branch != "main" || repo.Clone != f.env.URL+"/scm/prj/code.git" {
		t.Fatalf("Repositories.Find %+v: %v", repo, err)
	}
	if perm, _, err := c.Repositories.FindPerms(ctx, "PRJ/code"); err != nil || !perm.Admin || !perm.Push || !perm.Pull {
		t.Fatalf("Repositories.FindPerms %+v: %v", perm, err)
	}

	branches, _, err := c.Git.ListBranches(ctx, "PRJ/code", scm.ListOptions{Page: 1, Size: 30})
	var names []string
	for _, b := range branches {
		names = append(names, b.Name+"@"+b.Sha)
	}
	if err != nil || !slices.Equal(names, []string{"feature/x@" + f.feat, "main@" + f.main}) {
		t.Fatalf("Git.ListBranches %v: %v", names, err)
	}
	if b, _, err := c.Git.FindBranch(ctx, "PRJ/code", "main"); err != nil || b.Sha != f.main {
		t.Fatalf("Git.FindBranch %+v: %v", b, err)
	}
	commit, _, err := c.Git.FindCommit(ctx, "PRJ/code", "refs/heads/feature/x")
	// The author is Gitea's account of the commit's address: none here.
	if err != nil || commit.Sha != f.feat || commit.Message != "feature\n" || !strings.HasSuffix(commit.Link, "/git/commits/"+f.feat) {
		t.Fatalf("Git.FindCommit %+v: %v", commit, err)
	}
	commits, _, err := c.Git.ListCommits(ctx, "PRJ/code", scm.CommitListOptions{})
	if err != nil || len(commits) != 2 || commits[0].Sha != f.main || commits[1].Sha != f.first {
		t.Fatalf("Git.ListCommits %+v: %v", commits, err)
	}

	// Drone reads the pipeline file at the pushed commit.
	for _, ref := range []string{"refs/heads/main", "main", f.main} {
		content, _, err := c.Contents.Find(ctx, "PRJ/code", ".woodpecker.yml", ref)
		if err != nil || !strings.HasPrefix(string(content.Data), "steps:") {
			t.Fatalf("Contents.Find at %s %q: %v", ref, content.Data, err)
		}
	}
	if content, _, err := c.Contents.Find(ctx, "PRJ/code", "feature.txt", "refs/heads/feature/x"); err != nil || string(content.Data) != "new\n" {
		t.Fatalf("Contents.Find on a branch with a slash %q: %v", content.Data, err)
	}
	if _, _, err := c.Contents.Find(ctx, "PRJ/code", "nothing.yml", "main"); err == nil {
		t.Fatal("Contents.Find of a missing file succeeded")
	}
	if list, _, err := c.Contents.List(ctx, "PRJ/code", "docs", "main", scm.ListOptions{}); err != nil ||
		len(list) != 1 || list[0].Path != "docs/guide.md" || list[0].Kind != scm.ContentKindFile {
		t.Fatalf("Contents.List %+v: %v", list, err)
	}

	status, _, err := c.Repositories.CreateStatus(ctx, "PRJ/code", f.main, &scm.StatusInput{
		State: scm.StateSuccess, Label: "continuous-integration/drone", Desc: "Build is passing", Target: "https://drone.example/1",
	})
	if err != nil || status.State != scm.StateSuccess || status.Label != "continuous-integration/drone" {
		t.Fatalf("Repositories.CreateStatus %+v: %v", status, err)
	}
	statuses, _, err := c.Repositories.ListStatus(ctx, "PRJ/code", f.main, scm.ListOptions{Page: 1, Size: 30})
	if err != nil || len(statuses) != 1 || statuses[0].Target != "https://drone.example/1" {
		t.Fatalf("Repositories.ListStatus %+v: %v", statuses, err)
	}

	hook, _, err := c.Repositories.CreateHook(ctx, "PRJ/code", &scm.HookInput{
		Name: "drone", Target: "https://drone.example/hook", Secret: "topsecret", Events: scm.HookEvents{Push: true, Branch: true},
	})
	if err != nil || hook.ID == "" || !hook.Active || !slices.Contains(hook.Events, "push") {
		t.Fatalf("Repositories.CreateHook %+v: %v", hook, err)
	}
	hooks, _, err := c.Repositories.ListHooks(ctx, "PRJ/code", scm.ListOptions{Page: 1, Size: 30})
	if err != nil || len(hooks) != 1 || hooks[0].ID != hook.ID || !strings.HasPrefix(hooks[0].Target, "https://drone.example/hook") {
		t.Fatalf("Repositories.ListHooks %+v: %v", hooks, err)
	}
	if _, err := c.Repositories.DeleteHook(ctx, "PRJ/code", hook.ID); err != nil {
		t.Fatalf("Repositories.DeleteHook: %v", err)
	}
	if hooks, _, err := c.Repositories.ListHooks(ctx, "PRJ/code", scm.ListOptions{Page: 1, Size: 30}); err != nil || len(hooks) != 0 {
		t.Fatalf("hooks after the delete %+v: %v", hooks, err)
	}
}

// TestGiteaCredentialForms checks that every /api/v1 route takes the
// access token in each form Gitea takes it, and answers other forms and
// no credentials as Gitea's clients understand.
func TestGiteaCredentialForms(t *testing.T) {
	f := newAPIFixture(t)
	token := f.as(t, "alice", "read:repository")
	basicAuth := func(user, password string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	}
	for _, form := range []struct{ name, header string }{
		{"Gitea's token", "token " + token},
		{"Bearer", "Bearer " + token},
		{"Basic with the token as password", basicAuth("alice", token)},
		{"Basic with any user name", basicAuth("x-token", token)},
	} {
		for _, path := range []string{"/api/v1/user", "/api/v1/repos/PRJ/code", "/api/v1/user/repos"} {
			resp := f.send(t, http.MethodGet, path, form.header)
			if resp.status != http.StatusOK || resp.header.Get("X-AUSERNAME") != "alice" {
				t.Errorf("%s on %s: %d %s", form.name, path, resp.status, resp.body)
			}
		}
	}
	// The Bitbucket routes stay Bearer-only.
	// A scheme a route does not take is answered like no credentials:
	// 401 with the route's challenges (RFC 7235 §3.1), and words that
	// name the forms it does take.
	if resp := f.send(t, http.MethodGet, "/rest/api/latest/projects/PRJ/repos/code", "token "+token); resp.status != http.StatusUnauthorized ||
		!strings.Contains(string(resp.body), "not accepted here; send") {
		t.Errorf("token on a Bitbucket route: %d %s", resp.status, resp.body)
	}
	foreign := f.send(t, http.MethodGet, "/api/v1/user", "Digest username=alice")
	if body := foreign.json(t); foreign.status != http.StatusUnauthorized || body["error"] != "invalid_token" ||
		!strings.Contains(body["error_description"].(string), `"token <token>"`) ||
		!strings.HasPrefix(foreign.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("a foreign scheme: %d %s %q", foreign.status, foreign.body, foreign.header.Values("WWW-Authenticate"))
	}
	bad := f.send(t, http.MethodGet, "/api/v1/user", "token lka_not-a-token")
	if bad.status != http.StatusUnauthorized || bad.json(t)["error"] != "invalid_token" {
		t.Errorf("a token that is not one: %d %s", bad.status, bad.body)
	}
	none := f.send(t, http.MethodGet, "/api/v1/user", "")
	if challenges := none.header.Values("WWW-Authenticate"); none.status != http.StatusUnauthorized || len(challenges) != 2 {
		t.Errorf("no credentials: %d %v %s", none.status, challenges, none.body)
	}
	if v := f.send(t, http.MethodGet, "/api/v1/version", ""); v.status != http.StatusOK || v.json(t)["version"] == "" {
		t.Errorf("version without credentials: %d %s", v.status, v.body)
	}
}

// send is call with the Authorization header given as is.
func (n *rsNode) send(t *testing.T, method, path, authorization string) rsResponse {
	t.Helper()
	req, err := http.NewRequest(method, n.env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf strings.Builder
	_, _ = io.Copy(&buf, resp.Body)
	return rsResponse{status: resp.StatusCode, header: resp.Header, body: []byte(buf.String())}
}
