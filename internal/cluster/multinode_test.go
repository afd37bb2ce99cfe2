package cluster

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/testkit"
)

// TestTwoNodesShareSessionsTokensAndConsents runs two nodes on one fresh
// database behind a round-robin balancer (their common base URL). The
// person logs in and approves on node A, the client exchanges the code on
// node B, calls the API on A and refreshes on B; the old tokens then fail
// on both nodes at once. A consent given on one node is honoured on the
// other, and reuse of a rotated refresh token on one node kills the family
// on both.
func TestTwoNodesShareSessionsTokensAndConsents(t *testing.T) {
	dsn := freshDatabase(t)
	binary(t)
	lb := newBalancer(t)
	cfg := nodeConfig{dsn: dsn, baseURL: lb.URL, kek: newKEK(), extra: []string{"--cleanup-interval", "1s"}}
	a, b := newNode(t, "A", cfg), newNode(t, "B", cfg)

	// Both nodes start at once on the empty database: the migrations and
	// the first administrator are made exactly once, and both nodes publish
	// the same signing keys.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = a.launch() })
	wg.Go(func() { errs[1] = b.launch() })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	a.waitReady(30 * time.Second)
	b.waitReady(30 * time.Second)
	lb.route(a, b)
	db := openDB(t, dsn)
	var users int
	if err := db.QueryRow(`SELECT count(*) FROM users`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 1 {
		t.Errorf("after two nodes started together: %d users, want 1 (admin)", users)
	}
	if printed := strings.Count(a.stdout()+b.stdout(), "password:"); printed != 1 {
		t.Errorf("the first administrator's password was printed %d times, want once", printed)
	}
	_, jwksA, errA := get(a.URL+"/login/oauth/keys", "")
	_, jwksB, errB := get(b.URL+"/login/oauth/keys", "")
	if errA != nil || errB != nil || string(jwksA) != string(jwksB) || !strings.Contains(string(jwksA), `"kid"`) {
		t.Errorf("JWKS differ between the nodes (%v, %v):\nA: %s\nB: %s", errA, errB, jwksA, jwksB)
	}

	f := setup(t, dsn)
	ctx := t.Context()

	// Log in and approve on A; exchange the code on B.
	onA := testkit.RemoteBrowser(a.URL, "alice", alicePassword)
	code, err := authorize(onA, oauthConfig(f, a.URL), lb.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(onA.Pages) != 2 {
		t.Errorf("node A showed %d pages, want 2 (login, consent)", len(onA.Pages))
	}
	first, err := oauthConfig(f, b.URL).Exchange(ctx, code)
	if err != nil {
		t.Fatalf("exchange on B: %v", err)
	}
	wantAPI(t, "first access token on A", a, first.AccessToken, http.StatusOK)

	// Refresh on B, then at once: the old access token fails on both
	// nodes, the new one works on both.
	second, err := oauthConfig(f, b.URL).TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh on B: %v", err)
	}
	if second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken {
		t.Fatal("refresh did not rotate both tokens")
	}
	for _, n := range []*node{a, b} {
		wantAPI(t, "rotated access token on "+n.name, n, first.AccessToken, http.StatusUnauthorized)
		wantAPI(t, "new access token on "+n.name, n, second.AccessToken, http.StatusOK)
	}

	// The consent given on A is honoured on B: the same person's browser,
	// sent to B, sees no page at all (its session is B's too), and a new
	// browser on B sees the login page only.
	onB := onA.At(b.URL)
	code, err = authorize(onB, oauthConfig(f, b.URL), lb.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(onB.Pages) != 0 {
		t.Errorf("node B showed %d pages to a person logged in on A who approved there, want none", len(onB.Pages))
	}
	other, err := oauthConfig(f, a.URL).Exchange(ctx, code)
	if err != nil {
		t.Fatalf("exchange on A of a code from B: %v", err)
	}
	wantAPI(t, "token of the second grant on B", b, other.AccessToken, http.StatusOK)
	fresh := testkit.RemoteBrowser(b.URL, "alice", alicePassword)
	if _, err := authorize(fresh, oauthConfig(f, b.URL), lb.URL); err != nil {
		t.Fatal(err)
	}
	if len(fresh.Pages) != 1 || strings.Contains(fresh.Pages[0], `name="decision"`) {
		t.Errorf("a new browser on B saw %d pages, want only the login page", len(fresh.Pages))
	}

	// The rotated refresh token fails on both nodes; presenting it is a
	// reuse, which revokes the family on both nodes at once.
	for _, n := range []*node{a, b} {
		status, reply, err := refresh(n.URL, f, first.RefreshToken)
		if err != nil || status != http.StatusBadRequest || reply.Error != "invalid_grant" {
			t.Errorf("rotated refresh token on %s: %d %q (%v), want 400 invalid_grant", n.name, status, reply.Error, err)
		}
	}
	for _, n := range []*node{a, b} {
		wantAPI(t, "access token of the revoked family on "+n.name, n, second.AccessToken, http.StatusUnauthorized)
		status, reply, err := refresh(n.URL, f, second.RefreshToken)
		if err != nil || status != http.StatusBadRequest || reply.Error != "invalid_grant" {
			t.Errorf("refresh token of the revoked family on %s: %d %q (%v), want 400 invalid_grant", n.name, status, reply.Error, err)
		}
	}
	wantAPI(t, "token of the other grant on A", a, other.AccessToken, http.StatusOK)

	// Through the balancer, each node describes the same issuer.
	for range 2 {
		status, body, err := get(lb.URL+"/.well-known/openid-configuration", "")
		var doc struct {
			Issuer        string `json:"issuer"`
			TokenEndpoint string `json:"token_endpoint"`
		}
		if err != nil || status != http.StatusOK || json.Unmarshal(body, &doc) != nil {
			t.Fatalf("discovery through the balancer: %d %v", status, err)
		}
		if doc.Issuer != lb.URL || !strings.HasPrefix(doc.TokenEndpoint, lb.URL+"/") {
			t.Errorf("discovery: issuer %q, token endpoint %q; want both on %s", doc.Issuer, doc.TokenEndpoint, lb.URL)
		}
	}

	a.checkNoPanic()
	b.checkNoPanic()
	checkConsistency(t, db)
}

// wantAPI calls the repository list on node n with token and checks the status.
func wantAPI(t *testing.T, what string, n *node, token string, want int) {
	t.Helper()
	status, body, err := get(n.URL+reposPath, token)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if status != want {
		t.Errorf("%s: status %d, want %d (%s)", what, status, want, body)
	}
	if want == http.StatusOK && !strings.Contains(string(body), "secret-repo") {
		t.Errorf("%s: body %s does not list secret-repo", what, body)
	}
}
