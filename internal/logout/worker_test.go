package logout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/outbound"
	"latchkey/internal/store"
)

// deliveryOf waits until the client's only delivery is finished and returns it.
func deliveryOf(t *testing.T, st store.Store, clientID string) store.LogoutDelivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, _, err := st.ListLogouts(context.Background(), clientID, store.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].State != store.DeliveryPending {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries of %s: %+v", clientID, ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWorkerRetriesAndGivesUp: a 503 is retried with backoff until a 200;
// a 400 fails at once; an internal address not on the allow list is
// refused at once; a receiver that always fails is given up after
// MaxAttempts.
func TestWorkerRetriesAndGivesUp(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flaky":
			if calls.Add(1) < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		case "/refuse":
			w.WriteHeader(http.StatusBadRequest)
			return
		case "/down":
			w.WriteHeader(http.StatusBadGateway)
			return
		}
	}))
	defer recv.Close()
	ctx := context.Background()
	for id, uri := range map[string]string{"flaky": recv.URL + "/flaky", "refuse": recv.URL + "/refuse",
		"down": recv.URL + "/down", "internal": "http://10.255.255.1/bcl"} {
		if _, err := f.st.CreateClient(ctx, store.Client{ID: id, SecretHash: "x", RedirectURIs: []string{"https://x.example/cb"},
			CreatedAt: time.Now(), BackchannelLogoutURI: uri}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.CreateFamily(ctx, store.Issue{Family: store.TokenFamily{ClientID: id, UserID: 7, CreatedAt: time.Now(),
			SignIn: store.SignIn{SID: "s1"}}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	allow, _ := outbound.ParseAllowList("127.0.0.1")
	svc := New(Config{Store: f.st, Keys: f.keys, Issuer: issuer, Client: outbound.New(outbound.Config{Allow: allow}),
		PollInterval: 10 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, MaxAttempts: 3})
	stop := svc.Start(ctx)
	defer stop()
	if err := svc.SessionEnded(ctx, store.Session{UserID: 7, SID: "s1"}); err != nil {
		t.Fatal(err)
	}
	if d := deliveryOf(t, f.st, "flaky"); d.State != store.DeliveryDelivered || d.Attempts != 3 {
		t.Errorf("flaky: %+v, want delivered at the third attempt", d)
	}
	if d := deliveryOf(t, f.st, "refuse"); d.State != store.DeliveryFailed || d.Attempts != 1 || d.ResponseStatus != 400 {
		t.Errorf("refuse: %+v, want failed at the first attempt", d)
	}
	if d := deliveryOf(t, f.st, "internal"); d.State != store.DeliveryFailed || d.Attempts != 1 {
		t.Errorf("internal: %+v, want refused at the first attempt", d)
	}
	if d := deliveryOf(t, f.st, "down"); d.State != store.DeliveryFailed || d.Attempts != 3 || d.ResponseStatus != 502 {
		t.Errorf("down: %+v, want failed after 3 attempts", d)
	}
}
