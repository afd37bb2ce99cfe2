package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// TestBackchannelLogoutSentOnceFromTwoNodes: two nodes on one PostgreSQL
// database, both running their logout worker; a user-wide sign-out on the
// first queues one logout token per session; every token reaches the
// client's back-channel endpoint exactly once (go-oidc verifies each with
// the published keys), and both nodes sent some.
func TestBackchannelLogoutSentOnceFromTwoNodes(t *testing.T) {
	pg := testkit.OnFreshPostgres(t)
	fast := func(c *config.Config) {
		c.BackchannelLogout.AllowedHosts = "127.0.0.1"
		c.BackchannelLogout.PollInterval = 20 * time.Millisecond
	}
	var log1, log2 testkit.SyncBuffer
	env1 := testkit.NewWithLog(t, &log1, pg, fast)
	// The second node shares the database and the issuer (the base URL
	// both would have behind one balancer).
	env2 := testkit.NewWithLog(t, &log2, func(c *config.Config) {
		c.DB, c.KeyEncryptionKey, c.BaseURL = env1.Config.DB, testkit.TestKeyEncryptionKey, env1.URL
	}, fast)

	var mu sync.Mutex
	seen := map[string]int{}
	var bad []string
	provider, err := gooidc.NewProvider(context.Background(), env1.URL)
	if err != nil {
		t.Fatal(err)
	}
	var verifier *gooidc.IDTokenVerifier
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // a receiver that takes its time: the nodes race
		_ = r.ParseForm()
		tok, err := verifier.Verify(r.Context(), r.PostForm.Get("logout_token"))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad = append(bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var c logoutClaims
		_ = tok.Claims(&c)
		seen[c.JTI]++
	}))
	t.Cleanup(recv.Close)
	alice := env1.User("alice", "alice-password")
	id, _ := env1.Client(admin.NewClient{Name: "Wiki", RedirectURIs: []string{redirectURI}, Scopes: "openid",
		BackchannelLogoutURI: recv.URL + "/bcl"})
	verifier = provider.Verifier(&gooidc.Config{ClientID: id})

	const sessions = 120
	for i := range sessions {
		_, err := env1.Store.CreateFamily(context.Background(), store.Issue{Family: store.TokenFamily{ClientID: id, UserID: alice.ID,
			CreatedAt: time.Now(), SignIn: store.SignIn{SID: fmt.Sprintf("sid-%03d", i)}}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	stop1 := env1.Server.StartLogouts(context.Background())
	stop2 := env2.Server.StartLogouts(context.Background())
	t.Cleanup(stop2)
	t.Cleanup(stop1)
	if err := env1.Server.Logouts().UserSignedOut(context.Background(), alice.ID, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == sessions {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d logout tokens arrived (refused: %v)", n, sessions, bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // duplicates would arrive now
	mu.Lock()
	defer mu.Unlock()
	for jti, c := range seen {
		if c != 1 {
			t.Errorf("logout token %s arrived %d times", jti, c)
		}
	}
	if len(bad) > 0 {
		t.Errorf("the receiver refused tokens: %v", bad)
	}
	for name, log := range map[string]*testkit.SyncBuffer{"node1": &log1, "node2": &log2} {
		sent := strings.Count(log.String(), `"msg":"back-channel logout"`)
		t.Logf("%s sent %d logout tokens", name, sent)
		if sent == 0 {
			t.Errorf("%s sent none: the nodes did not race", name)
		}
	}
}
