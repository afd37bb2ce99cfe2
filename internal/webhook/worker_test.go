package webhook_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"latchkey/internal/gitrepo"
	"latchkey/internal/oauth"
	"latchkey/internal/outbound"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
	"latchkey/internal/webhook"
)

// worker is a delivery worker of its own on a real node's database (the
// node's own worker is not started).
func worker(t *testing.T, env *testkit.Env, poll time.Duration) (*webhook.Hooks, *webhook.Secrets) {
	t.Helper()
	secrets, err := webhook.NewSecrets(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	allow, err := outbound.ParseAllowList("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	h := webhook.New(webhook.Config{Store: env.Store, Secrets: secrets, BaseURL: env.URL, Logger: testkit.Logger(),
		Client: outbound.New(outbound.Config{Allow: allow, Timeout: 5 * time.Second}), Timeout: 5 * time.Second,
		PollInterval: poll, RetryBackoff: 50 * time.Millisecond, MaxAttempts: 3})
	return h, secrets
}

func addHook(t *testing.T, env *testkit.Env, repo store.Repo, url string) store.Webhook {
	t.Helper()
	h, err := env.Store.CreateWebhook(context.Background(), store.Webhook{RepoID: repo.ID, Kind: store.HookGitea, URL: url,
		Events: []string{"push"}, Active: true, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func fire(t *testing.T, h *webhook.Hooks, repo store.Repo) {
	t.Helper()
	sha := "823b2230a56056231c9425d63758fa87078a66b4"
	err := h.Fire(context.Background(), &oauth.Caller{User: store.User{ID: 1, Username: "alice"}}, repo,
		[]gitrepo.Change{{Ref: "refs/heads/main", Old: sha, New: sha}})
	if err != nil {
		t.Fatal(err)
	}
}

func onlyDelivery(t *testing.T, env *testkit.Env, hookID int64) store.Delivery {
	t.Helper()
	ds, _, err := env.Store.ListDeliveries(context.Background(), hookID, store.Page{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v, %v; want one", len(ds), err)
	}
	return ds[0]
}

// Stopping the worker waits for the attempt under way and records it: no
// delivery is left leased to a worker that is gone.
func TestStopWaitsForTheAttemptUnderWayAndRecordsIt(t *testing.T) {
	env := testkit.New(t)
	env.Project("PRJ", false)
	repo := env.Repo("PRJ", "code", false)
	started := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		time.Sleep(300 * time.Millisecond)
	}))
	defer srv.Close()
	hook := addHook(t, env, repo, srv.URL)
	h, _ := worker(t, env, time.Hour) // no polling: only Fire's wake-up sends
	stop := h.Start(context.Background())
	fire(t, h, repo)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker was not woken by Fire")
	}
	stop()
	d := onlyDelivery(t, env, hook.ID)
	if d.State != store.DeliveryDelivered || d.ResponseStatus != 200 || d.Duration < 300*time.Millisecond || !d.LeaseUntil.IsZero() {
		t.Fatalf("after stop: %s, status %d, %v, lease until %v; want delivered and recorded", d.State, d.ResponseStatus, d.Duration, d.LeaseUntil)
	}
}

// A failing receiver gets MaxAttempts attempts, further and further
// apart, then the delivery is failed with the last answer kept.
func TestRetriesThenFails(t *testing.T) {
	env := testkit.New(t)
	env.Project("PRJ", false)
	repo := env.Repo("PRJ", "code", false)
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	hook := addHook(t, env, repo, srv.URL)
	h, _ := worker(t, env, 10*time.Millisecond)
	stop := h.Start(context.Background())
	defer stop()
	fire(t, h, repo)
	deadline := time.Now().Add(5 * time.Second)
	for onlyDelivery(t, env, hook.ID).State != store.DeliveryFailed {
		if time.Now().After(deadline) {
			t.Fatalf("not failed within 5s: %+v", onlyDelivery(t, env, hook.ID).Attempts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	d := onlyDelivery(t, env, hook.ID)
	mu.Lock()
	defer mu.Unlock()
	if d.Attempts != 3 || len(times) != 3 || d.ResponseStatus != 503 || d.ResponseBody != "busy\n" {
		t.Fatalf("%d attempts (%d received), status %d body %q", d.Attempts, len(times), d.ResponseStatus, d.ResponseBody)
	}
	if gap1, gap2 := times[1].Sub(times[0]), times[2].Sub(times[1]); gap1 < 50*time.Millisecond || gap2 < 100*time.Millisecond {
		t.Fatalf("gaps %v and %v, want at least 50ms and 100ms (backoff doubling)", gap1, gap2)
	}
}
