package cluster

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"latchkey/internal/testkit"
)

// chain is what one client holds of one grant: every token response it
// received, in order (the first from the code, the rest from refreshes).
type chain struct {
	replies []tokenReply
	// inflight says that a request for this chain was under way when the
	// node died, so the node may have committed a rotation whose answer
	// never arrived.
	inflight bool
}

// TestNodeKilledMidTrafficKeepsEveryReceivedToken runs clients that keep
// authorizing, exchanging codes and refreshing tokens against one node,
// kills the node with SIGKILL in the middle of that, and restarts it on the
// same database. Every token response a client received before the kill
// must still work, unless the request in flight at the kill rotated it
// (then the family is exactly one generation further and not revoked), and
// the database must pass the consistency check.
func TestNodeKilledMidTrafficKeepsEveryReceivedToken(t *testing.T) {
	dsn := freshDatabase(t)
	binary(t)
	f := setup(t, dsn)
	lb := newBalancer(t)
	n := newNode(t, "A", nodeConfig{dsn: dsn, baseURL: lb.URL, kek: newKEK(),
		extra: []string{"--cleanup-interval", "1s", "--no-bootstrap-admin"}})
	n.start()
	n.waitReady(30 * time.Second)
	lb.route(n)

	// The person logs in and approves once; the clients' later
	// authorizations go through without a page.
	person := testkit.RemoteBrowser(n.URL, "alice", alicePassword)
	if _, err := authorize(person, oauthConfig(f, n.URL), lb.URL); err != nil {
		t.Fatal(err)
	}

	const workers = 4
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var received atomic.Int64
	held := make([][]*chain, workers)
	failures := make(chan string, 100)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			held[w] = clientLoop(ctx, person.At(n.URL), n.URL, lb.URL, f, &received, failures)
		})
	}

	// Kill the node once the clients are well under way.
	deadline := time.Now().Add(20 * time.Second)
	for received.Load() < 80 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	n.kill()
	killedAfter := received.Load()
	stop()
	wg.Wait()
	close(failures)
	for msg := range failures {
		t.Error(msg)
	}
	if killedAfter < 20 {
		t.Fatalf("only %d token responses before the kill", killedAfter)
	}

	n.start()
	n.waitReady(30 * time.Second)
	db := openDB(t, dsn)

	var chains, live, lost, older int
	for _, cs := range held {
		for _, c := range cs {
			if len(c.replies) == 0 {
				continue // the code's exchange was in flight: nothing received
			}
			chains++
			last := c.replies[len(c.replies)-1]
			st := lookupToken(t, db, last.RefreshToken)
			switch {
			case !st.found && !st.rotated:
				t.Errorf("a received refresh token is neither in the database nor of a family there")
			case st.revoked:
				t.Errorf("the family of a received refresh token was revoked")
			case st.generation == st.familyGen:
				live++
				wantAPI(t, "last received access token after the restart", n, last.AccessToken, http.StatusOK)
				status, next, err := refresh(n.URL, f, last.RefreshToken)
				if err != nil || status != http.StatusOK {
					t.Errorf("refresh with the last received refresh token after the restart: %d %q (%v)", status, next.Error, err)
					continue
				}
				wantAPI(t, "access token refreshed after the restart", n, next.AccessToken, http.StatusOK)
			case st.rotated && st.familyGen == int64(len(c.replies))+1 && c.inflight:
				// The refresh in flight at the kill was committed, its
				// answer lost: correctly rotated.
				lost++
				wantAPI(t, "access token rotated by the lost refresh", n, last.AccessToken, http.StatusUnauthorized)
			default:
				t.Errorf("last received refresh token is of generation %d, its family of %d (request in flight: %v)",
					st.generation, st.familyGen, c.inflight)
			}
			for _, r := range c.replies[:len(c.replies)-1] {
				older++
				wantAPI(t, "access token of an earlier response", n, r.AccessToken, http.StatusUnauthorized)
				// Rotated away: its row is gone (bounded storage), its
				// handle still names its family (reuse is detected).
				if st := lookupToken(t, db, r.RefreshToken); st.found || !st.rotated {
					t.Errorf("rotated refresh token: row kept %v, recognized by its family's lineage %v; want its row gone and its lineage its family's",
						st.found, st.rotated)
				}
			}
		}
	}
	t.Logf("%d token responses before the kill; %d grants checked: %d live, %d rotated by a lost answer; %d earlier responses rotated",
		killedAfter, chains, live, lost, older)

	// The restarted node serves a whole new flow.
	code, err := authorize(person.At(n.URL), oauthConfig(f, n.URL), lb.URL)
	if err != nil {
		t.Fatal(err)
	}
	if status, r, err := postToken(n.URL, f, codeForm(code)); err != nil || status != http.StatusOK {
		t.Fatalf("code exchange after the restart: %d %q (%v)", status, r.Error, err)
	}
	n.checkNoPanic()
	checkConsistency(t, db)
}

// codeForm is the body of an authorization_code token request.
func codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
}

// clientLoop plays one client until ctx ends or the node stops answering:
// every fifth step it starts a new grant (authorize, exchange the code),
// the other steps refresh the current grant. It returns the grants it held.
// A refused request while the node is up is reported on failures.
func clientLoop(ctx context.Context, b *testkit.Browser, node, issuer string, f fixture,
	received *atomic.Int64, failures chan<- string) []*chain {
	conf := oauthConfig(f, node)
	var held []*chain
	var cur *chain
	for step := 0; ctx.Err() == nil; step++ {
		if cur == nil || step%5 == 0 {
			code, err := authorize(b, conf, issuer)
			if err != nil {
				return held // the node died under the browser (or the flow failed: reported below)
			}
			cur = &chain{inflight: true}
			held = append(held, cur)
			status, r, err := postToken(node, f, codeForm(code))
			if err != nil {
				return held
			}
			if status != http.StatusOK {
				failures <- fmt.Sprintf("code exchange: %d %s: %s", status, r.Error, r.Description)
				return held
			}
			cur.replies, cur.inflight = append(cur.replies, r), false
			received.Add(1)
			continue
		}
		cur.inflight = true
		status, r, err := refresh(node, f, cur.replies[len(cur.replies)-1].RefreshToken)
		if err != nil {
			return held
		}
		if status != http.StatusOK {
			failures <- fmt.Sprintf("refresh: %d %s: %s", status, r.Error, r.Description)
			return held
		}
		cur.replies, cur.inflight = append(cur.replies, r), false
		received.Add(1)
	}
	return held
}
