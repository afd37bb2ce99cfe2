package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	giteasdk "code.gitea.io/sdk/gitea"
	"github.com/drone/go-scm/scm"
	scmgitea "github.com/drone/go-scm/scm/driver/gitea"
	"github.com/drone/go-scm/scm/driver/stash"

	"latchkey/internal/gitrepo"
	"latchkey/internal/store"
)

const (
	sha1Old = "5c64a07cd6c0f21b753bf261ef059c7e7633c50a"
	sha1Mid = "1111111111111111111111111111111111111111"
	sha1New = "823b2230a56056231c9425d63758fa87078a66b4"
	zero    = "0000000000000000000000000000000000000000"
)

func testSecrets(t *testing.T) *Secrets {
	t.Helper()
	s, err := NewSecrets(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func samplePush(changes ...RefChange) *Push {
	when := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("", 3600))
	return &Push{
		BaseURL:       "https://latchkey.example",
		Pusher:        Actor{ID: 7, Username: "alice", Email: "alice@example.com", DisplayName: "Alice A."},
		Repo:          store.Repo{ID: 3, ProjectID: 2, ProjectKey: "PRJ", Slug: "app", Name: "App", CreatedAt: when},
		Project:       store.Project{ID: 2, Key: "PRJ", Name: "Project", CreatedAt: when},
		DefaultBranch: "main", Changes: changes, At: when,
	}
}

func commit(sha, msg string) gitrepo.Commit {
	sig := gitrepo.Signature{Name: "Alice A.", Email: "alice@example.com", When: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	return gitrepo.Commit{SHA: sha, Message: msg, Author: sig, Committer: sig}
}

// deliver sends what the worker would send for d to a real HTTP server,
// which hands the request's body and headers to parse, and returns what
// parse returned.
func deliver(t *testing.T, kind store.HookKind, d store.Delivery, secret string, parse func(*http.Request) (scm.Webhook, error)) (scm.Webhook, error) {
	t.Helper()
	type result struct {
		hook scm.Webhook
		err  error
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hook, err := parse(r)
		got <- result{hook, err}
	}))
	defer srv.Close()
	h := New(Config{Secrets: testSecrets(t)})
	sealed, err := h.cfg.Secrets.Seal(3, secret)
	if err != nil {
		t.Fatal(err)
	}
	req, err := h.request(context.Background(), store.Webhook{ID: 1, RepoID: 3, Kind: kind, URL: srv.URL, Secret: sealed}, d, secret)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	return r.hook, r.err
}

func buildOne(t *testing.T, p *Push, hook store.Webhook) store.Delivery {
	t.Helper()
	ds, err := New(Config{Now: func() time.Time { return p.At }}).deliveries(p, hook)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1", len(ds))
	}
	return ds[0]
}

func TestGiteaPushIsAcceptedByGoSCMsGiteaParser(t *testing.T) {
	p := samplePush(RefChange{Change: gitrepo.Change{Ref: "refs/heads/main", Old: sha1Old, New: sha1New},
		Commits: []gitrepo.Commit{commit(sha1New, "second\n"), commit(sha1Mid, "first\n")}, Total: 2})
	d := buildOne(t, p, store.Webhook{ID: 1, RepoID: 3, Kind: store.HookGitea, Events: []string{"push"}})
	if d.Event != "push" || d.Headers["X-Gitea-Event"] != "push" || d.Headers["X-Gitea-Delivery"] != d.GUID || len(d.GUID) != 36 {
		t.Fatalf("delivery %+v", d)
	}
	client, err := scmgitea.New("https://latchkey.example")
	if err != nil {
		t.Fatal(err)
	}
	var sawSignature string
	hook, err := deliver(t, store.HookGitea, d, "s3cret", func(r *http.Request) (scm.Webhook, error) {
		sawSignature = r.Header.Get("X-Gitea-Signature")
		return client.Webhooks.Parse(r, func(scm.Webhook) (string, error) { return "s3cret", nil })
	})
	if err != nil {
		t.Fatalf("go-scm's gitea parser: %v", err)
	}
	push, ok := hook.(*scm.PushHook)
	if !ok {
		t.Fatalf("parsed a %T, want *scm.PushHook", hook)
	}
	if push.Ref != "refs/heads/main" || push.Before != sha1Old || push.Commit.Sha != sha1New {
		t.Fatalf("push hook %+v", push)
	}
	if len(push.Commits) != 2 || push.Commits[0].Sha != sha1New || push.Commits[0].Message != "second\n" ||
		push.Commits[1].Author.Email != "alice@example.com" || push.Commits[0].Author.Login != "alice" {
		t.Fatalf("commits %+v", push.Commits)
	}
	if push.Repo.Namespace != "PRJ" || push.Repo.Name != "app" || push.Repo.Clone != "https://latchkey.example/scm/prj/app.git" ||
		push.Sender.Login != "alice" {
		t.Fatalf("repo %+v sender %+v", push.Repo, push.Sender)
	}
	// The Gitea SDK's own check of X-Gitea-Signature agrees.
	if ok, err := giteasdk.VerifyWebhookSignature("s3cret", sawSignature, d.Payload); !ok || err != nil {
		t.Fatalf("the Gitea SDK refuses the signature: %v %v", ok, err)
	}
	// A wrong secret is refused: the signature means something.
	_, err = deliver(t, store.HookGitea, d, "s3cret", func(r *http.Request) (scm.Webhook, error) {
		return client.Webhooks.Parse(r, func(scm.Webhook) (string, error) { return "other", nil })
	})
	if !errors.Is(err, scm.ErrSignatureInvalid) {
		t.Fatalf("wrong secret: %v, want ErrSignatureInvalid", err)
	}
}

// The payload has the fields and types of Gitea's PushPayload
// (modules/structs/hook.go).
func TestGiteaPushHasGiteasFields(t *testing.T) {
	p := samplePush(RefChange{Change: gitrepo.Change{Ref: "refs/heads/main", Old: sha1Old, New: sha1New},
		Commits: []gitrepo.Commit{commit(sha1New, "second\n")}, Total: 1})
	d := buildOne(t, p, store.Webhook{ID: 1, RepoID: 3, Kind: store.HookGitea, Events: []string{"push"}})
	var got struct {
		Ref, Before, After string
		CompareURL         string `json:"compare_url"`
		TotalCommits       int    `json:"total_commits"`
		HeadCommit         struct {
			ID        string
			URL       string
			Timestamp time.Time
			Added     []string
		} `json:"head_commit"`
		Repository struct {
			ID       int64
			FullName string `json:"full_name"`
			Owner    struct{ Login string }
			Created  time.Time                        `json:"created_at"`
			Perms    struct{ Admin, Push, Pull bool } `json:"permissions"`
		}
		Pusher, Sender struct {
			ID    int64
			Login string
		}
	}
	dec := json.NewDecoder(bytes.NewReader(d.Payload))
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.After != sha1New || got.TotalCommits != 1 || got.HeadCommit.ID != sha1New || got.HeadCommit.Added == nil ||
		got.HeadCommit.URL != "https://latchkey.example/PRJ/app/commit/"+sha1New ||
		got.CompareURL != "https://latchkey.example/PRJ/app/compare/"+sha1Old+"..."+sha1New ||
		got.Repository.FullName != "PRJ/app" || got.Repository.Owner.Login != "PRJ" || !got.Repository.Perms.Admin ||
		got.Pusher.Login != "alice" || got.Sender.ID != 7 || got.HeadCommit.Timestamp.IsZero() {
		t.Fatalf("payload %s", d.Payload)
	}
}

func TestGiteaCreateAndDeleteAreAcceptedByGoSCM(t *testing.T) {
	client, _ := scmgitea.New("https://latchkey.example")
	parse := func(r *http.Request) (scm.Webhook, error) {
		return client.Webhooks.Parse(r, func(scm.Webhook) (string, error) { return "k", nil })
	}
	all := store.Webhook{ID: 1, RepoID: 3, Kind: store.HookGitea, Events: []string{"push", "create", "delete"}}
	// A new tag: create, then push, as Gitea sends them.
	ds, err := New(Config{}).deliveries(samplePush(RefChange{Change: gitrepo.Change{Ref: "refs/tags/v1", Old: zero, New: sha1New}}), all)
	if err != nil || len(ds) != 2 || ds[0].Event != "create" || ds[1].Event != "push" {
		t.Fatalf("new tag: %v %+v", err, ds)
	}
	hook, err := deliver(t, store.HookGitea, ds[0], "k", parse)
	if tag, ok := hook.(*scm.TagHook); err != nil || !ok || tag.Ref.Name != "v1" || tag.Ref.Sha != sha1New || tag.Action != scm.ActionCreate {
		t.Fatalf("create: %v %#v", err, hook)
	}
	// A deleted branch: delete only, no push.
	ds, err = New(Config{}).deliveries(samplePush(RefChange{Change: gitrepo.Change{Ref: "refs/heads/topic", Old: sha1Old, New: zero}}), all)
	if err != nil || len(ds) != 1 || ds[0].Event != "delete" {
		t.Fatalf("deleted branch: %v %+v", err, ds)
	}
	hook, err = deliver(t, store.HookGitea, ds[0], "k", parse)
	if br, ok := hook.(*scm.BranchHook); err != nil || !ok || br.Ref.Name != "topic" || br.Action != scm.ActionDelete {
		t.Fatalf("delete: %v %#v", err, hook)
	}
}

func TestOnlySubscribedEventsAndFilteredBranchesFire(t *testing.T) {
	h := New(Config{})
	p := samplePush(
		RefChange{Change: gitrepo.Change{Ref: "refs/heads/main", Old: sha1Old, New: sha1New}},
		RefChange{Change: gitrepo.Change{Ref: "refs/heads/feature/x", Old: sha1Old, New: sha1New}},
		RefChange{Change: gitrepo.Change{Ref: "refs/notes/commits", Old: sha1Old, New: sha1New}},
	)
	for _, tc := range []struct {
		hook store.Webhook
		want []string // refs of the deliveries
	}{
		{store.Webhook{Kind: store.HookGitea, Events: []string{"push"}}, []string{"refs/heads/main", "refs/heads/feature/x"}},
		{store.Webhook{Kind: store.HookGitea, Events: []string{"issues"}}, nil},
		{store.Webhook{Kind: store.HookGitea, Events: []string{"push"}, Config: `{"branch_filter":"main"}`}, []string{"refs/heads/main"}},
		{store.Webhook{Kind: store.HookGitea, Events: []string{"push"}, Config: `{"branch_filter":"{dev,feature/*}"}`}, []string{"refs/heads/feature/x"}},
		{store.Webhook{Kind: store.HookBitbucket, Events: []string{"pr:opened"}}, nil},
		{store.Webhook{Kind: store.HookBitbucket, Events: []string{"repo:refs_changed"}}, []string{"(one)"}},
	} {
		ds, err := h.deliveries(p, tc.hook)
		if err != nil {
			t.Fatal(err)
		}
		var refs []string
		for _, d := range ds {
			if tc.hook.Kind == store.HookBitbucket {
				refs = append(refs, "(one)")
				continue
			}
			var pl struct{ Ref string }
			_ = json.Unmarshal(d.Payload, &pl)
			refs = append(refs, pl.Ref)
		}
		if strings.Join(refs, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%+v: deliveries for %v, want %v", tc.hook, refs, tc.want)
		}
	}
}

func TestBitbucketRefsChangedIsAcceptedByGoSCMsStashParser(t *testing.T) {
	hookDef := store.Webhook{ID: 1, RepoID: 3, Kind: store.HookBitbucket, Events: []string{"repo:refs_changed"}}
	p := samplePush(
		RefChange{Change: gitrepo.Change{Ref: "refs/heads/main", Old: sha1Old, New: sha1New}},
		RefChange{Change: gitrepo.Change{Ref: "refs/tags/v2", Old: zero, New: sha1New}},
	)
	d := buildOne(t, p, hookDef)
	if d.Headers["X-Event-Key"] != "repo:refs_changed" || d.Headers["X-Request-Id"] != d.GUID {
		t.Fatalf("headers %v", d.Headers)
	}
	client := stash.NewDefault()
	parse := func(secret string) func(r *http.Request) (scm.Webhook, error) {
		return func(r *http.Request) (scm.Webhook, error) {
			if got := r.Header.Get("X-Hub-Signature"); !strings.HasPrefix(got, "sha256=") {
				t.Errorf("X-Hub-Signature %q", got)
			}
			return client.Webhooks.Parse(r, func(scm.Webhook) (string, error) { return secret, nil })
		}
	}
	hook, err := deliver(t, store.HookBitbucket, d, "bb-secret", parse("bb-secret"))
	if err != nil {
		t.Fatalf("go-scm's stash parser: %v", err)
	}
	push, ok := hook.(*scm.PushHook)
	if !ok {
		t.Fatalf("parsed a %T, want *scm.PushHook", hook)
	}
	if push.Ref != "refs/heads/main" || push.Before != sha1Old || push.After != sha1New || len(push.Commits) != 2 ||
		push.Repo.Namespace != "PRJ" || push.Repo.Name != "app" || push.Sender.Login != "alice" || push.Commit.Author.Date.IsZero() {
		t.Fatalf("push hook %+v", push)
	}
	if _, err := deliver(t, store.HookBitbucket, d, "bb-secret", parse("wrong")); !errors.Is(err, scm.ErrSignatureInvalid) {
		t.Fatalf("wrong secret: %v", err)
	}
	var raw struct {
		Changes []struct {
			Ref  struct{ ID, DisplayID, Type string }
			Type string
		}
	}
	_ = json.Unmarshal(d.Payload, &raw)
	if len(raw.Changes) != 2 || raw.Changes[1].Type != "ADD" || raw.Changes[1].Ref.Type != "TAG" || raw.Changes[1].Ref.DisplayID != "v2" {
		t.Fatalf("changes %+v", raw.Changes)
	}
	// A new branch alone is a branch hook to go-scm.
	d = buildOne(t, samplePush(RefChange{Change: gitrepo.Change{Ref: "refs/heads/topic", Old: zero, New: sha1New}}), hookDef)
	hook, err = deliver(t, store.HookBitbucket, d, "", func(r *http.Request) (scm.Webhook, error) {
		if r.Header.Get("X-Hub-Signature") != "" {
			t.Error("signed without a secret")
		}
		return client.Webhooks.Parse(r, func(scm.Webhook) (string, error) { return "", nil })
	})
	if br, ok := hook.(*scm.BranchHook); err != nil || !ok || br.Ref.Name != "topic" || br.Action != scm.ActionCreate {
		t.Fatalf("branch create: %v %#v", err, hook)
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	h := New(Config{RetryBackoff: time.Second, MaxBackoff: 5 * time.Second})
	var got []time.Duration
	for a := 1; a <= 5; a++ {
		got = append(got, h.backoff(a))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff = %v, want %v", got, want)
		}
	}
}

func TestBranchFilter(t *testing.T) {
	for _, tc := range []struct {
		filter string
		match  []string
		miss   []string
	}{
		{"", []string{"main", "a/b"}, nil},
		{"*", []string{"main", "a/b"}, nil},
		{"main", []string{"main"}, []string{"mainx", "xmain"}},
		{"release/*", []string{"release/1", "release/1/2"}, []string{"release", "main"}},
		{"{main,dev}", []string{"main", "dev"}, []string{"devx"}},
		{"v?.[0-9]", []string{"v1.2"}, []string{"v1.x", "v12.3"}},
		{"[!a]*", []string{"main", "b"}, []string{"abc"}},
		{`a\*b`, []string{"a*b"}, []string{"axb"}},
		{"{a,{b,c}}-*", []string{"a-1", "c-2"}, []string{"d-1"}},
	} {
		g, err := compileGlob(tc.filter)
		if err != nil {
			t.Fatalf("%q: %v", tc.filter, err)
		}
		for _, m := range tc.match {
			if !g.match(m) {
				t.Errorf("%q does not match %q", tc.filter, m)
			}
		}
		for _, m := range tc.miss {
			if g.match(m) {
				t.Errorf("%q matches %q", tc.filter, m)
			}
		}
	}
	for _, bad := range []string{"{a,b", "a}", "[abc", `a\`, strings.Repeat("{a,b}", 12)} {
		if CheckBranchFilter(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzBranchFilter(f *testing.F) {
	for _, s := range []string{"", "*", "main", "{a,b}", "[!a-z]?", `\{`, "{{{,}}}", "release/**"} {
		f.Add(s, "main")
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		g, err := compileGlob(filter)
		if err != nil {
			return
		}
		if len(g.patterns) > maxAlternatives {
			t.Fatalf("%d patterns", len(g.patterns))
		}
		_ = g.match(name)
	})
}

// The payload builders see only what git and the store hold; a hostile
// commit message, ref or user name still makes valid JSON.
func FuzzPayloads(f *testing.F) {
	f.Add("refs/heads/main", "msg", "alice", "Alice")
	f.Add("refs/tags/\x00", "\xff\xfe", "", "\"")
	f.Fuzz(func(t *testing.T, ref, msg, user, name string) {
		p := samplePush(RefChange{Change: gitrepo.Change{Ref: ref, Old: sha1Old, New: sha1New}, Commits: []gitrepo.Commit{commit(sha1New, msg)}, Total: 1})
		p.Pusher.Username, p.Pusher.DisplayName = user, name
		for _, kind := range []store.HookKind{store.HookGitea, store.HookBitbucket} {
			ds, err := New(Config{}).deliveries(p, store.Webhook{Kind: kind, Events: []string{"push", "create", "delete", "repo:refs_changed"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if !json.Valid(d.Payload) {
					t.Fatalf("invalid JSON %q", d.Payload)
				}
			}
		}
	})
}

var _ = io.Discard
