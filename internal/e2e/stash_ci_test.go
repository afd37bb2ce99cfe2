package e2e

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/drone/go-scm/scm"

	"latchkey/internal/admin"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
	"latchkey/internal/webhook"
)

// TestStashDriverBuildStatuses: go-scm posts a build status to the legacy
// API (which names no repository); it lands on every repository the
// caller may read that holds the commit, and reads back through both
// APIs, the newest per key. On SQLite and on PostgreSQL.
func TestStashDriverBuildStatuses(t *testing.T) {
	onBothBackends(t, testStashBuildStatuses)
}

func testStashBuildStatuses(t *testing.T, opts ...testkit.Option) {
	f := newStashFixture(t, opts...)
	ctx := context.Background()
	// PRJ/mirror holds the same commits and carol may read it; PRJ/secret
	// holds them too, but carol may not read it.
	mirror := f.env.Repo("PRJ", "mirror", false)
	f.env.Grant("carol", admin.Target{Repo: "PRJ/mirror"}, "REPO_READ")
	secret := f.env.Repo("PRJ", "secret", false)
	for _, r := range []store.Repo{mirror, secret} {
		f.git.must("", "--git-dir", f.env.Repos().Path(f.repo), "push", "-q", f.env.Repos().Path(r), "main")
	}
	carol := f.client(t, f.codeFlowToken(t, "carol", "REPO_READ"))
	sha := f.main[1]

	for _, state := range []scm.State{scm.StatePending, scm.StateSuccess} {
		desc := map[scm.State]string{scm.StatePending: "Build pending", scm.StateSuccess: "Build success"}[state]
		_, _, err := carol.Repositories.CreateStatus(ctx, "PRJ/code", sha, &scm.StatusInput{
			State: state, Label: "drone/push", Desc: desc, Target: "https://ci.example.com/1"})
		if err != nil {
			t.Fatalf("CreateStatus %s: %v", desc, err)
		}
	}
	if _, _, err := carol.Repositories.ListStatus(ctx, "PRJ/code", sha, scm.ListOptions{}); !errors.Is(err, scm.ErrNotSupported) {
		t.Fatalf("go-scm's stash ListStatus = %v; it is documented as not supported by the driver", err)
	}

	tok := f.token(t, f.user(t, "carol"), "REPO_READ")
	legacy := f.call(t, "GET", "/rest/build-status/1.0/commits/"+sha, tok, nil).want(t, "legacy list", 200).values(t)
	if len(legacy) != 1 || legacy[0]["state"] != "SUCCESSFUL" || legacy[0]["key"] != "drone/push" ||
		legacy[0]["url"] != "https://ci.example.com/1" || legacy[0]["description"] != "Build success" {
		t.Fatalf("legacy list = %v, want the newest status of drone/push, SUCCESSFUL", legacy)
	}
	for _, slug := range []string{"code", "mirror"} {
		got := f.call(t, "GET", "/rest/api/1.0/projects/PRJ/repos/"+slug+"/commits/"+sha+"/builds?key=drone/push", tok, nil).
			want(t, "build of "+slug, 200).json(t)
		if got["state"] != "SUCCESSFUL" || got["key"] != "drone/push" {
			t.Errorf("PRJ/%s build = %v, want the legacy post stored there", slug, got)
		}
	}
	root := f.token(t, f.env.User("root", "root-password"), "REPO_READ")
	f.env.Grant("root", admin.Target{Global: true}, "ADMIN")
	f.call(t, "GET", "/rest/api/1.0/projects/PRJ/repos/secret/commits/"+sha+"/builds?key=drone/push", root, nil).
		want(t, "build on a repository the poster may not read", 404)

	// The newer, repository-scoped API: REPO_READ may post (as Bitbucket
	// documents); every Bitbucket state reads back as posted.
	for _, state := range []string{"FAILED", "INPROGRESS", "CANCELLED", "UNKNOWN", "SUCCESSFUL"} {
		f.call(t, "POST", "/rest/api/latest/projects/PRJ/repos/code/commits/"+sha+"/builds", tok, map[string]any{
			"key": "jenkins-" + state, "state": state, "url": "https://jenkins.example.com/job/1", "name": "Jenkins",
			"buildNumber": "1", "duration": 12, "ref": "refs/heads/main"}).want(t, "post a "+state+" build", 204)
		got := f.call(t, "GET", "/rest/api/latest/projects/PRJ/repos/code/commits/"+sha+"/builds?key=jenkins-"+state, tok, nil).
			want(t, "read a "+state+" build", 200).json(t)
		if got["state"] != state || got["name"] != "Jenkins" {
			t.Errorf("%s build reads back as %v", state, got)
		}
	}
	all := f.call(t, "GET", "/rest/api/latest/projects/PRJ/repos/code/commits/"+sha+"/builds", tok, nil).want(t, "all builds", 200).values(t)
	if len(all) != 6 {
		t.Errorf("builds of the commit = %d, want 6 keys: %v", len(all), all)
	}

	// Refusals, in Bitbucket's error JSON.
	for _, c := range []struct {
		name, path string
		body       map[string]any
		status     int
	}{
		{"an unknown state", "/rest/api/1.0/projects/PRJ/repos/code/commits/" + sha + "/builds",
			map[string]any{"key": "k", "state": "GREEN", "url": "https://ci.example.com"}, 400},
		{"no key", "/rest/api/1.0/projects/PRJ/repos/code/commits/" + sha + "/builds",
			map[string]any{"state": "FAILED", "url": "https://ci.example.com"}, 400},
		{"a javascript URL", "/rest/build-status/1.0/commits/" + sha,
			map[string]any{"key": "k", "state": "FAILED", "url": "javascript:alert(1)"}, 400},
		{"an abbreviated commit", "/rest/build-status/1.0/commits/" + sha[:12],
			map[string]any{"key": "k", "state": "FAILED", "url": "https://ci.example.com"}, 400},
		{"a commit the repository lacks", "/rest/api/1.0/projects/PRJ/repos/code/commits/" + strings.Repeat("ab", 20) + "/builds",
			map[string]any{"key": "k", "state": "FAILED", "url": "https://ci.example.com"}, 404},
		{"a commit no readable repository holds", "/rest/build-status/1.0/commits/" + strings.Repeat("ab", 20),
			map[string]any{"key": "k", "state": "FAILED", "url": "https://ci.example.com"}, 404},
	} {
		r := f.call(t, "POST", c.path, tok, c.body).want(t, c.name, c.status)
		r.bitbucketError(t)
	}
	// A stranger's token stores nothing anywhere: the commit is in no
	// repository they may read.
	dave := f.token(t, f.env.User("dave", "dave-password"), "REPO_WRITE")
	f.call(t, "POST", "/rest/build-status/1.0/commits/"+sha, dave,
		map[string]any{"key": "evil", "state": "SUCCESSFUL", "url": "https://evil.example.com"}).want(t, "a stranger's post", 404)
	// A token for public data only may not post, even where its user may read.
	f.call(t, "POST", "/rest/build-status/1.0/commits/"+sha, f.token(t, f.user(t, "carol"), "PUBLIC_REPOS"),
		map[string]any{"key": "k", "state": "SUCCESSFUL", "url": "https://ci.example.com"}).insufficientScope(t, "PUBLIC_REPOS legacy post")
	legacy = f.call(t, "GET", "/rest/build-status/1.0/commits/"+sha, root, nil).want(t, "legacy list for an admin", 200).values(t)
	if keys := field(legacy, "key"); slices.Contains(keys, "evil") || slices.Contains(keys, "k") {
		t.Errorf("statuses after the refusals = %v", keys)
	}
}

// TestStashDriverWebhooks: go-scm creates, lists and deletes a hook; the
// secret is sealed in the database and never shown; only repository
// administrators manage hooks. On SQLite and on PostgreSQL.
func TestStashDriverWebhooks(t *testing.T) {
	onBothBackends(t, testStashWebhooks)
}

func testStashWebhooks(t *testing.T, opts ...testkit.Option) {
	f := newStashFixture(t, opts...)
	ctx := context.Background()
	alice := f.client(t, f.codeFlowToken(t, "alice", "REPO_ADMIN"))

	hook, _, err := alice.Repositories.CreateHook(ctx, "PRJ/code", &scm.HookInput{
		Name: "drone", Target: "http://ci.example.com/hook", Secret: "s3cret-value",
		Events: scm.HookEvents{Push: true, PullRequest: true}})
	if err != nil {
		t.Fatalf("CreateHook: %v", err)
	}
	if hook.ID == "" || hook.Name != "drone" || hook.Target != "http://ci.example.com/hook" || !hook.Active ||
		!slices.Contains(hook.Events, "repo:refs_changed") {
		t.Fatalf("CreateHook = %+v", hook)
	}
	hooks, _, err := alice.Repositories.ListHooks(ctx, "PRJ/code", scm.ListOptions{})
	if err != nil || len(hooks) != 1 || hooks[0].ID != hook.ID {
		t.Fatalf("ListHooks = %+v, %v; want the new hook", hooks, err)
	}
	found, _, err := alice.Repositories.FindHook(ctx, "PRJ/code", hook.ID)
	if err != nil || found.Target != hook.Target {
		t.Fatalf("FindHook = %+v, %v", found, err)
	}

	tok := f.token(t, f.user(t, "alice"), "REPO_ADMIN")
	for _, path := range []string{"/rest/api/1.0/projects/PRJ/repos/code/webhooks", "/rest/api/latest/projects/PRJ/repos/code/webhooks/" + hook.ID} {
		if r := f.call(t, "GET", path, tok, nil).want(t, "read hooks", 200); bytes.Contains(r.body, []byte("s3cret")) {
			t.Errorf("GET %s shows the secret: %s", path, r.body)
		}
	}
	stored, err := f.env.Store.ActiveWebhooks(ctx, f.repo.ID)
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored hooks = %v, %v", stored, err)
	}
	kek, err := f.env.Config.LoadKeyEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := webhook.NewSecrets(kek)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := secrets.Open(f.repo.ID, stored[0].Secret); err != nil || plain != "s3cret-value" {
		t.Errorf("the stored secret opens to %q, %v; want the one given", plain, err)
	}
	if h := stored[0]; h.Kind != store.HookBitbucket || len(h.Secret) == 0 || bytes.Contains(h.Secret, []byte("s3cret")) ||
		!slices.Equal(h.Events, []string{"repo:refs_changed", "pr:declined", "pr:modified", "pr:deleted", "pr:opened", "pr:merged", "pr:from_ref_updated"}) {
		t.Errorf("stored hook = kind %s, secret %q, events %v; want Bitbucket's, sealed", h.Kind, h.Secret, h.Events)
	}

	// An update without a secret keeps it; other fields change.
	upd := f.call(t, "PUT", "/rest/api/1.0/projects/PRJ/repos/code/webhooks/"+hook.ID, tok, map[string]any{
		"name": "renamed", "active": false, "events": []string{"repo:refs_changed"}}).want(t, "update", 200).json(t)
	if upd["name"] != "renamed" || upd["active"] != false || upd["url"] != "http://ci.example.com/hook" {
		t.Errorf("updated hook = %v", upd)
	}
	for event, n := range map[string]int{"repo:refs_changed": 1, "pr:merged": 0} {
		if got := f.call(t, "GET", "/rest/api/1.0/projects/PRJ/repos/code/webhooks?event="+event, tok, nil).want(t, "hooks of "+event, 200).values(t); len(got) != n {
			t.Errorf("hooks of %s = %v, want %d", event, got, n)
		}
	}
	after, err := f.env.Store.GetWebhook(ctx, f.repo.ID, stored[0].ID)
	if err != nil || !bytes.Equal(after.Secret, stored[0].Secret) {
		t.Errorf("the secret changed on an update without one: %v", err)
	}

	// go-scm's UpdateHook (a PUT with a new secret) changes the secret.
	moved, _, err := alice.Repositories.UpdateHook(ctx, "PRJ/code", hook.ID, &scm.HookInput{
		Name: "drone", Target: "https://ci2.example.com/hook", Secret: "other-secret", Events: scm.HookEvents{Push: true}})
	if err != nil || moved.Target != "https://ci2.example.com/hook" || !moved.Active || !slices.Equal(moved.Events, []string{"repo:refs_changed"}) {
		t.Fatalf("UpdateHook = %+v, %v", moved, err)
	}
	again, err := f.env.Store.GetWebhook(ctx, f.repo.ID, stored[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := secrets.Open(f.repo.ID, again.Secret); err != nil || plain != "other-secret" {
		t.Errorf("after UpdateHook the secret opens to %q, %v; want the new one", plain, err)
	}

	for _, c := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"an unknown event", map[string]any{"name": "x", "url": "http://ci.example.com", "events": []string{"repo:pushed"}}, "repo:pushed is unknown"},
		{"no events", map[string]any{"name": "x", "url": "http://ci.example.com", "events": []string{}}, "at least one event"},
		{"an ftp URL", map[string]any{"name": "x", "url": "ftp://ci.example.com", "events": []string{"repo:refs_changed"}}, "http"},
		{"a URL with a password", map[string]any{"name": "x", "url": "http://u:p@ci.example.com", "events": []string{"repo:refs_changed"}}, "password"},
		{"no name", map[string]any{"url": "http://ci.example.com", "events": []string{"repo:refs_changed"}}, "name"},
		{"credentials", map[string]any{"name": "x", "url": "http://ci.example.com", "events": []string{"repo:refs_changed"},
			"credentials": map[string]any{"username": "u", "password": "p"}}, "credentials"},
	} {
		r := f.call(t, "POST", "/rest/api/1.0/projects/PRJ/repos/code/webhooks", tok, c.body).want(t, c.name, 400)
		if msg := r.bitbucketError(t); !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q does not say %q", c.name, msg, c.want)
		}
	}

	// Not an administrator: bob may write, carol read; neither manages hooks.
	for _, user := range []string{"bob", "carol"} {
		c := f.client(t, f.token(t, f.user(t, user), "REPO_ADMIN"))
		if _, _, err := c.Repositories.ListHooks(ctx, "PRJ/code", scm.ListOptions{}); err == nil {
			t.Errorf("%s listed the hooks", user)
		}
		if _, err := c.Repositories.DeleteHook(ctx, "PRJ/code", hook.ID); err == nil {
			t.Errorf("%s deleted the hook", user)
		}
	}
	// A REPO_WRITE token of the administrator lacks scope.
	f.call(t, "GET", "/rest/api/1.0/projects/PRJ/repos/code/webhooks", f.token(t, f.user(t, "alice"), "REPO_WRITE"), nil).
		insufficientScope(t, "REPO_WRITE token listing hooks")

	if _, err := alice.Repositories.DeleteHook(ctx, "PRJ/code", hook.ID); err != nil {
		t.Fatalf("DeleteHook: %v", err)
	}
	hooks, _, err = alice.Repositories.ListHooks(ctx, "PRJ/code", scm.ListOptions{})
	if err != nil || len(hooks) != 0 {
		t.Fatalf("ListHooks after the delete = %+v, %v; want none", hooks, err)
	}
	f.call(t, "GET", "/rest/api/1.0/projects/PRJ/repos/code/webhooks/"+hook.ID, tok, nil).want(t, "a deleted hook", 404)
	f.call(t, "GET", "/rest/api/1.0/projects/PRJ/repos/code/webhooks/nope", tok, nil).want(t, "a hook ID that is no number", 404)
}
