package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"latchkey/internal/testkit"
)

// fastEnough bounds every answer while the database is unreachable. The
// node gives up on a new connection after 2s and on any store call after
// 5s; a refused or reset connection fails at once.
const fastEnough = 5 * time.Second

// proxyMode is what the proxy does with connections.
type proxyMode int

const (
	proxyUp      proxyMode = iota // forward to PostgreSQL
	proxyRefused                  // reset every connection, old and new
	proxyStalled                  // reset old connections, accept new ones and never answer
)

// pgProxy is a TCP proxy between a node and PostgreSQL that the test
// controls, so that an outage never touches the shared server.
type pgProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	open  map[net.Conn]bool // both ends of every forwarded connection
	stuck []net.Conn        // accepted while stalled
}

func newProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target, open: map[net.Conn]bool{}}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.set(proxyRefused)
	})
	return p
}

// Addr is where the node connects.
func (p *pgProxy) Addr() string { return p.ln.Addr().String() }

// set switches the mode; leaving proxyUp resets every forwarded
// connection, leaving proxyStalled closes the connections it held.
func (p *pgProxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	if m != proxyUp {
		for c := range p.open {
			reset(c)
		}
		clear(p.open)
	}
	if m != proxyStalled {
		for _, c := range p.stuck {
			reset(c)
		}
		p.stuck = nil
	}
}

// reset closes c with a TCP reset, as a crashed server or a rejecting
// firewall does.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *pgProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		switch p.mode {
		case proxyRefused:
			reset(c)
		case proxyStalled:
			p.stuck = append(p.stuck, c)
		case proxyUp:
			go p.forward(c)
		}
		p.mu.Unlock()
	}
}

func (p *pgProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		reset(c)
		return
	}
	p.mu.Lock()
	if p.mode != proxyUp {
		p.mu.Unlock()
		reset(c)
		reset(up)
		return
	}
	p.open[c], p.open[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	p.mu.Lock()
	delete(p.open, c)
	delete(p.open, up)
	p.mu.Unlock()
	c.Close()
	up.Close()
}

// outcome is one request a worker made.
type outcome struct {
	what       string
	start, end time.Time
	status     int
	errCode    string // the "error" member of a JSON answer
	err        error  // transport error
}

// TestDatabaseOutageFailsFastAndRecovers puts a TCP proxy between a node
// and PostgreSQL, keeps clients busy on the node, and cuts the proxy: every
// request must fail fast with 503 (server_error JSON on the token endpoint
// and the API, a 503 page for a person), /readyz must say not ready, and
// nothing may panic. A stalled database (connections accepted, never
// answered) must fail fast too. When the proxy is restored the node must
// serve fully again without a restart, the requests that failed must have
// written nothing (the same code and refresh token work afterwards), and
// the database must pass the consistency check.
func TestDatabaseOutageFailsFastAndRecovers(t *testing.T) {
	dsn := freshDatabase(t)
	binary(t)
	f := setup(t, dsn)
	u, _ := url.Parse(dsn)
	proxy := newProxy(t, u.Host)
	lb := newBalancer(t)
	n := newNode(t, "A", nodeConfig{dsn: withHost(t, dsn, proxy.Addr()), baseURL: lb.URL, kek: newKEK(),
		extra: []string{"--cleanup-interval", "1s", "--no-bootstrap-admin", "--code-ttl", "10m"}})
	n.start()
	n.waitReady(30 * time.Second)
	lb.route(n)

	person := testkit.RemoteBrowser(n.URL, "alice", alicePassword)
	conf := oauthConfig(f, n.URL)
	grant := func() tokenReply {
		t.Helper()
		code, err := authorize(person, conf, lb.URL)
		if err != nil {
			t.Fatal(err)
		}
		status, r, err := postToken(n.URL, f, codeForm(code))
		if err != nil || status != http.StatusOK {
			t.Fatalf("code exchange: %d %q (%v)", status, r.Error, err)
		}
		return r
	}
	held := grant()
	pendingCode, err := authorize(person, conf, lb.URL)
	if err != nil {
		t.Fatal(err)
	}

	// Clients: three refresh loops with a grant each, three API loops.
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var mu sync.Mutex
	var outcomes []outcome
	var lostAnswers []string // refresh tokens whose rotation may have committed unseen
	record := func(o outcome) {
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	apiToken := grant().AccessToken
	for range 3 {
		rt := grant().RefreshToken
		wg.Go(func() {
			for ctx.Err() == nil {
				o := outcome{what: "refresh", start: time.Now()}
				status, r, err := refresh(n.URL, f, rt)
				o.end, o.status, o.errCode, o.err = time.Now(), status, r.Error, err
				record(o)
				switch {
				case status == http.StatusOK:
					rt = r.RefreshToken
				case status == http.StatusBadRequest && r.Error == "invalid_grant":
					mu.Lock()
					lostAnswers = append(lostAnswers, rt)
					mu.Unlock()
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
		wg.Go(func() {
			for ctx.Err() == nil {
				o := outcome{what: "api", start: time.Now()}
				status, body, err := get(n.URL+reposPath, apiToken)
				o.end, o.status, o.err = time.Now(), status, err
				o.errCode = apiError(body)
				record(o)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)

	// Cut: every connection is reset, new ones too.
	proxy.set(proxyRefused)
	cutDone := time.Now()
	wantDown(t, n, f, held, pendingCode, person)
	time.Sleep(500 * time.Millisecond)

	// Stall: connections are accepted and never answered.
	proxy.set(proxyStalled)
	start := time.Now()
	status, r, err := refresh(n.URL, f, held.RefreshToken)
	if took := time.Since(start); err != nil || status != http.StatusServiceUnavailable || r.Error != "server_error" || took > fastEnough {
		t.Errorf("refresh while the database stalls: %d %q (%v) after %v; want 503 server_error within %v",
			status, r.Error, err, took, fastEnough)
	}
	start = time.Now()
	if status, _, err := get(n.URL+"/readyz", ""); status != http.StatusServiceUnavailable || time.Since(start) > fastEnough {
		t.Errorf("/readyz while the database stalls: %d (%v) after %v", status, err, time.Since(start))
	}

	// Restore: the node recovers by itself.
	restoreAt := time.Now()
	proxy.set(proxyUp)
	n.waitReady(15 * time.Second)
	recovered := time.Now()
	t.Logf("ready again %v after the database returned", recovered.Sub(restoreAt).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	stop()
	wg.Wait()
	if !n.running() || n.starts != 1 {
		t.Fatalf("the node was restarted or died (starts %d, running %v)", n.starts, n.running())
	}

	var down, up, slowest time.Duration
	counts := map[string]int{}
	for _, o := range outcomes {
		took := o.end.Sub(o.start)
		slowest = max(slowest, took)
		if took > fastEnough {
			t.Errorf("%s took %v (status %d)", o.what, took, o.status)
		}
		switch {
		case o.err != nil:
			t.Errorf("%s: %v", o.what, o.err)
		case o.status == http.StatusServiceUnavailable:
			counts[o.what+" 503"]++
			down = max(down, took)
			if o.errCode != "server_error" {
				t.Errorf("%s answered 503 with error %q, want server_error", o.what, o.errCode)
			}
			if o.start.After(recovered) {
				t.Errorf("%s answered 503 after the node was ready again", o.what)
			}
		case o.status == http.StatusOK:
			counts[o.what+" 200"]++
			up = max(up, took)
			if o.start.After(cutDone) && o.end.Before(restoreAt) {
				t.Errorf("%s answered 200 while the database was unreachable", o.what)
			}
		case o.what == "refresh" && o.status == http.StatusBadRequest && o.errCode == "invalid_grant":
			counts["refresh lost answer"]++
		default:
			t.Errorf("%s answered %d %q", o.what, o.status, o.errCode)
		}
	}
	t.Logf("requests: %v; slowest %v (503s at most %v)", counts, slowest.Round(time.Millisecond), down.Round(time.Millisecond))
	if counts["api 503"] == 0 || counts["refresh 503"] == 0 {
		t.Error("the clients saw no 503 during the outage")
	}
	if counts["api 200"] == 0 || counts["refresh 200"] == 0 {
		t.Error("the clients saw no success")
	}

	// Nothing half-written: the code and the refresh token that failed
	// during the outage work now, exactly once.
	if status, r, err := postToken(n.URL, f, codeForm(pendingCode)); err != nil || status != http.StatusOK {
		t.Errorf("exchange of the code that failed during the outage: %d %q (%v)", status, r.Error, err)
	}
	status, next, err := refresh(n.URL, f, held.RefreshToken)
	if err != nil || status != http.StatusOK {
		t.Fatalf("refresh with the token that failed during the outage: %d %q (%v)", status, next.Error, err)
	}
	wantAPI(t, "access token refreshed after the outage", n, next.AccessToken, http.StatusOK)
	wantAPI(t, "access token rotated after the outage", n, held.AccessToken, http.StatusUnauthorized)
	if _, err := authorize(person, conf, lb.URL); err != nil {
		t.Errorf("authorization after the outage: %v", err)
	}

	// A refresh whose commit reached the database but whose answer did
	// not (the connection was cut in between) left the client with the
	// previous token; presenting it was a reuse and revoked the family.
	// The background cleaner (every second here) keeps a revoked family
	// while the code that issued it is stored (ten minutes here).
	db := openDB(t, dsn)
	for _, rt := range lostAnswers {
		st := lookupToken(t, db, rt)
		// Its row went with the rotation that committed; its handle still
		// names its family, which reuse revoked.
		if !st.rotated || !st.revoked {
			t.Errorf("refresh token refused after the outage: rotated away %v (found %v, generation %d of %d), revoked %v; want a rotated token of a family revoked on reuse",
				st.rotated, st.found, st.generation, st.familyGen, st.revoked)
		}
	}
	n.checkNoPanic()
	checkConsistency(t, db)
}

// wantDown checks, while the database is cut off, that each kind of
// request fails fast with the right answer.
func wantDown(t *testing.T, n *node, f fixture, held tokenReply, code string, person *testkit.Browser) {
	t.Helper()
	timed := func(what string, fn func() error) {
		t.Helper()
		start := time.Now()
		err := fn()
		if took := time.Since(start); took > fastEnough {
			t.Errorf("%s took %v, want at most %v", what, took, fastEnough)
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	wantServerError := func(status int, r tokenReply, err error) error {
		switch {
		case err != nil:
			return err
		case status != http.StatusServiceUnavailable || r.Error != "server_error":
			return errors.New("answered " + http.StatusText(status) + " " + r.Error + ", want 503 server_error")
		}
		return nil
	}
	timed("refresh", func() error {
		status, r, err := refresh(n.URL, f, held.RefreshToken)
		return wantServerError(status, r, err)
	})
	timed("code exchange", func() error {
		status, r, err := postToken(n.URL, f, codeForm(code))
		return wantServerError(status, r, err)
	})
	timed("API call", func() error {
		status, body, err := get(n.URL+reposPath, held.AccessToken)
		return wantServerError(status, tokenReply{Error: apiError(body)}, err)
	})
	timed("/readyz", func() error {
		if status, _, err := get(n.URL+"/readyz", ""); err != nil || status != http.StatusServiceUnavailable {
			return errors.New("not 503: " + http.StatusText(status))
		}
		return nil
	})
	timed("/healthz", func() error {
		if status, _, err := get(n.URL+"/healthz", ""); err != nil || status != http.StatusOK {
			return errors.New("not 200: " + http.StatusText(status))
		}
		return nil
	})
	timed("authorization page", func() error {
		status, body, err := person.Get(oauthConfig(f, n.URL).AuthCodeURL("st"))
		switch {
		case err != nil:
			return err
		case status != http.StatusServiceUnavailable:
			return errors.New("answered " + http.StatusText(status) + ", want 503")
		case strings.Contains(body, "sql") || strings.Contains(body, ".go:"):
			return errors.New("the page shows internal detail")
		}
		return nil
	})
}

// apiError returns the error of an API answer: the RFC 6750 "error" member
// when the bearer check failed, or "server_error" for a Bitbucket-style
// error list ({"errors":[{"message":...}]}) from a resource handler.
func apiError(body []byte) string {
	var e struct {
		Error  string            `json:"error"`
		Errors []json.RawMessage `json:"errors"`
	}
	_ = json.Unmarshal(body, &e)
	if e.Error == "" && len(e.Errors) > 0 {
		return "server_error"
	}
	return e.Error
}
