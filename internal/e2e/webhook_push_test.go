package e2e

import (
	"bytes"
	giteasdk "code.gitea.io/sdk/gitea"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drone/go-scm/scm"
	scmgitea "github.com/drone/go-scm/scm/driver/gitea"
	"github.com/drone/go-scm/scm/driver/stash"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
	"latchkey/internal/webhook"
)

// withWebhooks lets webhooks reach loopback (the tests' receivers) and
// makes the worker quick: it polls and retries within a fraction of a
// second.
func withWebhooks(c *config.Config) {
	c.Webhook = config.Webhook{AllowedHosts: "127.0.0.1", PollInterval: 50 * time.Millisecond,
		RetryBackoff: 100 * time.Millisecond, MaxAttempts: 5, Timeout: 2 * time.Second}
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP server that records what it receives and
// answers with status and body.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	notify chan struct{}
	status int
	answer string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{notify: make(chan struct{}, 100), status: http.StatusOK, answer: "thanks"}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
		status, answer := rc.status, rc.answer
		rc.mu.Unlock()
		rc.notify <- struct{}{}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// wait returns the first n requests, failing the test if they do not
// come within 10 seconds.
func (rc *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		rc.mu.Lock()
		if len(rc.got) >= n {
			got := append([]received(nil), rc.got[:n]...)
			rc.mu.Unlock()
			return got
		}
		rc.mu.Unlock()
		select {
		case <-rc.notify:
		case <-deadline:
			t.Fatalf("the receiver got %d requests in 10s, want %d", rc.count(), n)
		}
	}
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// request rebuilds a received request, for go-scm's parsers.
func (r received) request() *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(r.body))
	req.Header = r.header.Clone()
	return req
}

// hookFixture is a git fixture with a running delivery worker.
type hookFixture struct {
	*gitFixture
	secrets *webhook.Secrets
}

func newHookFixture(t *testing.T, opts ...testkit.Option) *hookFixture {
	t.Helper()
	f := newGitFixture(t, append([]testkit.Option{withWebhooks}, opts...)...)
	stop := f.env.Server.StartWebhooks(context.Background())
	t.Cleanup(stop) // runs before the store closes (cleanups run last first)
	kek, err := f.env.Config.LoadKeyEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := webhook.NewSecrets(kek)
	if err != nil {
		t.Fatal(err)
	}
	return &hookFixture{gitFixture: f, secrets: secrets}
}

// hook stores a webhook of the fixture's repository as the dialects' hook
// routes do: its secret sealed.
func (f *hookFixture) hook(t *testing.T, kind store.HookKind, url, secret string, events ...string) store.Webhook {
	t.Helper()
	sealed, err := f.secrets.Seal(f.repo.ID, secret)
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.env.Store.CreateWebhook(context.Background(), store.Webhook{RepoID: f.repo.ID, Kind: kind, URL: url,
		Secret: sealed, Events: events, Config: "{}", Active: true, CreatedAt: f.env.Clock.Now(), UpdatedAt: f.env.Clock.Now()})
	if err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	return h
}

// pushCommits clones the repository, adds n commits and pushes them to
// branch with a REPO_WRITE token; it returns the commits, newest first,
// and the branch's commit before the push.
func (f *hookFixture) pushCommits(t *testing.T, branch string, n int) (before string, commits []string) {
	t.Helper()
	token := f.token(t, f.user(t, "alice"), "REPO_WRITE")
	dir := filepath.Join(t.TempDir(), "clone")
	f.git.must("", "clone", "-q", f.gitURL(token, "PRJ", "code"), dir)
	before = strings.TrimSpace(f.git.must(dir, "rev-parse", "HEAD"))
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, "file"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		f.git.must(dir, "add", "file")
		f.git.must(dir, "commit", "-q", "-m", fmt.Sprintf("change %d", i))
		commits = append([]string{strings.TrimSpace(f.git.must(dir, "rev-parse", "HEAD"))}, commits...)
	}
	f.git.must(dir, "push", "-q", f.gitURL(token, "PRJ", "code"), "HEAD:refs/heads/"+branch)
	return before, commits
}

// TestGitPushFiresGiteaAndBitbucketHooksThatGoSCMAccepts is the loop a CI
// server runs on: a push over git, the webhook on a local HTTP server,
// and go-scm's own parser of each dialect accepting the payload and its
// signature.
func TestGitPushFiresGiteaAndBitbucketHooksThatGoSCMAccepts(t *testing.T) {
	f := newHookFixture(t)
	giteaRecv, bbRecv := newReceiver(t), newReceiver(t)
	giteaHook := f.hook(t, store.HookGitea, giteaRecv.URL+"/gitea", "gitea-secret", "push")
	bbHook := f.hook(t, store.HookBitbucket, bbRecv.URL+"/bb", "bb-secret", "repo:refs_changed")
	f.hook(t, store.HookGitea, giteaRecv.URL+"/issues-only", "x", "issues") // subscribes to nothing a push fires

	before, commits := f.pushCommits(t, "main", 3)

	g := giteaRecv.wait(t, 1)[0]
	if g.header.Get("X-Gitea-Event") != "push" || g.header.Get("X-Gitea-Event-Type") != "push" ||
		len(g.header.Get("X-Gitea-Delivery")) != 36 || g.header.Get("X-Gitea-Signature") == "" {
		t.Fatalf("Gitea headers %v", g.header)
	}
	client, _ := scmgitea.New(f.env.URL)
	parsed, err := client.Webhooks.Parse(g.request(), func(scm.Webhook) (string, error) { return "gitea-secret", nil })
	if err != nil {
		t.Fatalf("go-scm's gitea parser refused the delivery: %v\n%s", err, g.body)
	}
	push := parsed.(*scm.PushHook)
	if push.Ref != "refs/heads/main" || push.Before != before || push.Commit.Sha != commits[0] || len(push.Commits) != 3 {
		t.Fatalf("Gitea push hook: ref %q before %q after %q, %d commits; want main %s..%s, 3", push.Ref, push.Before,
			push.Commit.Sha, len(push.Commits), before, commits[0])
	}
	for i, c := range push.Commits {
		if c.Sha != commits[i] || c.Message != fmt.Sprintf("change %d\n", 2-i) {
			t.Errorf("commit %d: %s %q, want %s", i, c.Sha, c.Message, commits[i])
		}
	}
	if push.Repo.Namespace != "PRJ" || push.Repo.Name != "code" || push.Sender.Login != "alice" {
		t.Fatalf("repo %+v sender %+v", push.Repo, push.Sender)
	}
	// Each commit lists its files as Gitea's do (what path filters of CI
	// servers read), decoded with the Gitea SDK's own commit type.
	var sdkPush struct{ Commits []giteasdk.PayloadCommit }
	if err := json.Unmarshal(g.body, &sdkPush); err != nil || len(sdkPush.Commits) != 3 {
		t.Fatalf("the Gitea SDK's PayloadCommit: %v\n%s", err, g.body)
	}
	if c := sdkPush.Commits[0]; !slices.Equal(c.Modified, []string{"file"}) || len(c.Added) != 0 || len(c.Removed) != 0 {
		t.Errorf("the newest commit's files: added %q removed %q modified %q, want file modified", c.Added, c.Removed, c.Modified)
	}

	b := bbRecv.wait(t, 1)[0]
	if b.header.Get("X-Event-Key") != "repo:refs_changed" || len(b.header.Get("X-Request-Id")) != 36 ||
		!strings.HasPrefix(b.header.Get("X-Hub-Signature"), "sha256=") {
		t.Fatalf("Bitbucket headers %v", b.header)
	}
	parsed, err = stash.NewDefault().Webhooks.Parse(b.request(), func(scm.Webhook) (string, error) { return "bb-secret", nil })
	if err != nil {
		t.Fatalf("go-scm's stash parser refused the delivery: %v\n%s", err, b.body)
	}
	bpush := parsed.(*scm.PushHook)
	if bpush.Ref != "refs/heads/main" || bpush.Before != before || bpush.After != commits[0] || bpush.Repo.Namespace != "PRJ" ||
		bpush.Sender.Login != "alice" {
		t.Fatalf("Bitbucket push hook %+v", bpush)
	}

	// Nothing else came: one delivery each, none to the issues-only hook.
	time.Sleep(300 * time.Millisecond)
	if giteaRecv.count() != 1 || bbRecv.count() != 1 {
		t.Fatalf("deliveries: gitea %d, bitbucket %d; want one each", giteaRecv.count(), bbRecv.count())
	}

	// The repository's administrator sees the delivery and its answer.
	f.env.Grant("alice", admin.Target{Repo: "PRJ/code"}, "REPO_ADMIN")
	adminToken := f.token(t, f.user(t, "alice"), "REPO_ADMIN")
	waitDelivered(t, f.env.Store, giteaHook.ID)
	resp := f.call(t, "GET", fmt.Sprintf("/api/v1/repos/PRJ/code/hooks/%d/deliveries", giteaHook.ID), adminToken, nil)
	var list []map[string]any
	if err := json.Unmarshal(resp.body, &list); resp.status != 200 || err != nil || len(list) != 1 {
		t.Fatalf("deliveries: %d %s", resp.status, resp.body)
	}
	d := list[0]
	if d["uuid"] != g.header.Get("X-Gitea-Delivery") || d["state"] != "delivered" || d["is_succeed"] != true ||
		d["response"].(map[string]any)["status"] != float64(200) || d["response"].(map[string]any)["body"] != "thanks" {
		t.Fatalf("delivery %v", d)
	}
	// A REPO_WRITE token, or a user who may only write, sees nothing.
	if r := f.call(t, "GET", fmt.Sprintf("/api/v1/repos/PRJ/code/hooks/%d/deliveries", giteaHook.ID), f.token(t, f.user(t, "alice"), "REPO_WRITE"), nil); r.status != http.StatusForbidden {
		t.Fatalf("with a REPO_WRITE token: %d %s", r.status, r.body)
	}
	// Bitbucket's latest invocation, and the Bitbucket-shaped list.
	waitDelivered(t, f.env.Store, bbHook.ID)
	latest := fmt.Sprintf("/rest/api/latest/projects/PRJ/repos/code/webhooks/%d/latest", bbHook.ID)
	resp = f.call(t, "GET", latest+"?event=repo:refs_changed", adminToken, nil)
	inv := resp.json(t)
	if resp.status != 200 || inv["event"] != "repo:refs_changed" || inv["result"].(map[string]any)["outcome"] != "SUCCESS" ||
		inv["request"].(map[string]any)["url"] != bbRecv.URL+"/bb" || inv["start"].(float64) <= 0 {
		t.Fatalf("latest invocation: %d %s", resp.status, resp.body)
	}
	if r := f.call(t, "GET", latest+"?outcome=FAILURE", adminToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("latest failure: %d %s", r.status, r.body)
	}
	if r := f.call(t, "GET", latest+"?outcome=MAYBE", adminToken, nil); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), `"errors"`) {
		t.Fatalf("bad outcome: %d %s", r.status, r.body)
	}
	resp = f.call(t, "GET", fmt.Sprintf("/rest/api/latest/projects/PRJ/repos/code/webhooks/%d/deliveries", bbHook.ID), adminToken, nil)
	pg := resp.json(t)
	values, _ := pg["values"].([]any)
	if resp.status != 200 || pg["isLastPage"] != true || len(values) != 1 ||
		values[0].(map[string]any)["requestId"] != b.header.Get("X-Request-Id") || values[0].(map[string]any)["state"] != "DELIVERED" {
		t.Fatalf("Bitbucket deliveries: %d %s", resp.status, resp.body)
	}
	// The hook is a Gitea hook: Bitbucket's routes do not know it.
	if r := f.call(t, "GET", fmt.Sprintf("/rest/api/latest/projects/PRJ/repos/code/webhooks/%d/latest", giteaHook.ID), adminToken, nil); r.status != http.StatusNotFound {
		t.Fatalf("Bitbucket's latest of a Gitea hook: %d %s", r.status, r.body)
	}
}

// waitDelivered waits until every delivery of a hook is delivered.
func waitDelivered(t *testing.T, st store.Store, hookID int64) []store.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, _, err := st.ListDeliveries(context.Background(), hookID, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		done := len(ds) > 0
		for _, d := range ds {
			done = done && d.State == store.DeliveryDelivered
		}
		if done {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries of hook %d not delivered within 10s: %s", hookID, summary(ds))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState waits until the newest delivery of a hook is in state with at
// least attempts attempts, and returns it.
func waitState(t *testing.T, st store.Store, hookID int64, state store.DeliveryState, attempts int) store.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, _, err := st.ListDeliveries(context.Background(), hookID, store.Page{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].State == state && ds[0].Attempts >= attempts && !ds[0].AttemptedAt.IsZero() {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook %d: newest delivery not %s after %d attempts within 10s: %s", hookID, state, attempts, summary(ds))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// summary describes deliveries without their payloads.
func summary(ds []store.Delivery) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "[%d %s %s: %d attempts, status %d, error %q] ", d.ID, d.Event, d.State, d.Attempts, d.ResponseStatus, d.Error)
	}
	return b.String()
}

// fire reports a push of main straight to the node's hooks, as gitserve
// does after a push (without running git).
func (f *hookFixture) fire(t *testing.T) {
	t.Helper()
	head := strings.TrimSpace(f.git.must("", "--git-dir", f.env.Repos().Path(f.repo), "rev-parse", "main"))
	u := f.user(t, "alice")
	err := f.env.Server.FireHooks(context.Background(), &oauth.Caller{User: u}, f.repo,
		[]gitrepo.Change{{Ref: "refs/heads/main", Old: head, New: head}})
	if err != nil {
		t.Fatalf("fire: %v", err)
	}
}

// A hook aimed at loopback is refused at delivery unless an administrator
// allowed it, and the refusal is recorded: no retry, the address named.
func TestHookAtLoopbackIsRefusedUnlessAllowed(t *testing.T) {
	f := newHookFixture(t, func(c *config.Config) { c.Webhook.AllowedHosts = "" })
	rc := newReceiver(t)
	h := f.hook(t, store.HookGitea, rc.URL, "", "push")
	f.fire(t)
	d := waitState(t, f.env.Store, h.ID, store.DeliveryFailed, 1)
	if d.Attempts != 1 || !strings.Contains(d.Error, "127.0.0.1 is a loopback address") || d.ResponseStatus != 0 {
		t.Fatalf("delivery %s, want failed at once, refused as loopback", summary([]store.Delivery{d}))
	}
	if rc.count() != 0 {
		t.Fatal("the refused receiver got a request")
	}
	// The name localhost resolves to loopback: refused the same way.
	h = f.hook(t, store.HookBitbucket, strings.Replace(rc.URL, "127.0.0.1", "localhost", 1), "", "repo:refs_changed")
	f.fire(t)
	d = waitState(t, f.env.Store, h.ID, store.DeliveryFailed, 1)
	if !strings.Contains(d.Error, "loopback") || rc.count() != 0 {
		t.Fatalf("localhost: %s, receiver got %d", summary([]store.Delivery{d}), rc.count())
	}
}

// A receiver that redirects is not followed: the 3xx is its answer, and
// the delivery is retried, never sent to where the redirect points.
func TestHookRedirectIsNotFollowed(t *testing.T) {
	f := newHookFixture(t)
	target := newReceiver(t)
	redirecting := newReceiver(t)
	redirecting.status, redirecting.answer = http.StatusFound, ""
	redirecting.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirecting.mu.Lock()
		redirecting.got = append(redirecting.got, received{header: r.Header.Clone()})
		redirecting.mu.Unlock()
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	})
	h := f.hook(t, store.HookGitea, redirecting.URL, "", "push")
	f.fire(t)
	d := waitState(t, f.env.Store, h.ID, store.DeliveryFailed, 5)
	if d.ResponseStatus != http.StatusFound || d.Attempts != 5 {
		t.Fatalf("delivery %s, want 5 attempts answered 302", summary([]store.Delivery{d}))
	}
	if target.count() != 0 {
		t.Fatalf("the redirect's target got %d requests", target.count())
	}
}

// A receiver that answers slowly, or too much, is cut off: the attempt
// ends within the timeout and keeps the start of the answer.
func TestHookSlowOrHugeAnswerIsBounded(t *testing.T) {
	f := newHookFixture(t, func(c *config.Config) { c.Webhook.Timeout = 500 * time.Millisecond; c.Webhook.MaxAttempts = 1 })
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("y"), 8<<20))
	}))
	defer huge.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	hh := f.hook(t, store.HookGitea, huge.URL, "", "push")
	hs := f.hook(t, store.HookGitea, slow.URL, "", "push")
	start := time.Now()
	f.fire(t)
	d := waitState(t, f.env.Store, hh.ID, store.DeliveryDelivered, 1)
	if len(d.ResponseBody) != webhook.MaxResponseBody || d.ResponseStatus != 200 {
		t.Fatalf("huge answer: kept %d bytes, status %d", len(d.ResponseBody), d.ResponseStatus)
	}
	d = waitState(t, f.env.Store, hs.ID, store.DeliveryFailed, 1)
	if d.Duration > 2*time.Second || time.Since(start) > 5*time.Second || !strings.Contains(d.Error, "Timeout") {
		t.Fatalf("slow answer: %s in %v, after %v", summary([]store.Delivery{d}), d.Duration, time.Since(start))
	}
}

// A push while the receiver is down is delivered once it comes back.
func TestHookDeliveredAfterTheReceiverComesBack(t *testing.T) {
	f := newHookFixture(t, func(c *config.Config) { c.Webhook.MaxAttempts = 50 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	h := f.hook(t, store.HookBitbucket, "http://"+addr+"/hook", "s", "repo:refs_changed")
	_, commits := f.pushCommits(t, "main", 1)
	d := waitState(t, f.env.Store, h.ID, store.DeliveryPending, 2)
	if !strings.Contains(d.Error, "connection refused") {
		t.Fatalf("while down: %s", summary([]store.Delivery{d}))
	}
	// The receiver comes back on the same address.
	rc := &receiver{notify: make(chan struct{}, 10), status: 200}
	rc.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
		rc.mu.Unlock()
		rc.notify <- struct{}{}
	}))
	if rc.Listener, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	rc.Start()
	defer rc.Close()
	got := rc.wait(t, 1)[0]
	parsed, err := stash.NewDefault().Webhooks.Parse(got.request(), func(scm.Webhook) (string, error) { return "s", nil })
	if err != nil || parsed.(*scm.PushHook).After != commits[0] {
		t.Fatalf("after the receiver came back: %v %+v", err, parsed)
	}
	waitDelivered(t, f.env.Store, h.ID)
}
