package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"latchkey/internal/admin"
	"latchkey/internal/oauth"
	"latchkey/internal/store"
	"latchkey/internal/testkit"
)

// The benchmarks run every operation over real HTTP against a node on
// SQLite, each in a serial and a parallel variant. Each reports, next to
// ns/op, "x-baseline": its ns/op divided by the ns/op of a trivial handler
// served the same way (same httptest server kind, same HTTP client, same
// mode), measured once per process. The ratio is what to compare between
// machines; see docs/performance.md.

// benchParallelism is RunParallel's goroutines per GOMAXPROCS: a few
// clients per core, so that requests queue at the server as they would
// under load.
const benchParallelism = 4

type benchMode struct {
	name     string
	parallel bool
}

var benchModes = []benchMode{{"serial", false}, {"parallel", true}}

// benchBaseline caches the baseline's ns/op per mode, measured once per process.
var benchBaseline struct {
	mu sync.Mutex
	ns map[bool]float64
}

// baselineTime is how long the baseline is timed (after a short warm-up).
const baselineTime = time.Second

// baselineNsPerOp returns the ns/op of the trivial handler in the given
// mode, measuring it on first use. It cannot call testing.Benchmark: a
// running benchmark holds the testing package's benchmark lock, which
// testing.Benchmark waits for. It times the same requests itself instead,
// from as many goroutines as benchLoop uses.
func baselineNsPerOp(b *testing.B, parallel bool) float64 {
	benchBaseline.mu.Lock()
	defer benchBaseline.mu.Unlock()
	if ns, ok := benchBaseline.ns[parallel]; ok {
		return ns
	}
	srv := newBaselineServer()
	defer srv.Close()
	hc := newHTTPClient(b)
	op := func() error { return baselineRequest(hc, srv.URL) }
	if _, err := timeLoop(parallelGoroutines(parallel), baselineTime/4, op); err != nil {
		b.Fatal(err)
	}
	ns, err := timeLoop(parallelGoroutines(parallel), baselineTime, op)
	if err != nil {
		b.Fatal(err)
	}
	if benchBaseline.ns == nil {
		benchBaseline.ns = map[bool]float64{}
	}
	benchBaseline.ns[parallel] = ns
	return ns
}

// timeLoop runs op from the given number of goroutines for d and returns
// the wall-clock nanoseconds per operation.
func timeLoop(goroutines int, d time.Duration, op func() error) (float64, error) {
	var ops atomic.Int64
	errs := make(chan error, goroutines)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := op(); err != nil {
					errs <- err
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(elapsed.Nanoseconds()) / float64(max(ops.Load(), 1)), nil
}

// reportRatio stops the timer and reports ns/op as a multiple of the
// baseline's.
func reportRatio(b *testing.B, base float64) {
	b.StopTimer()
	if b.N > 0 && base > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/base, "x-baseline")
	}
}

// benchLoop runs op b.N times, serially or from benchParallelism×GOMAXPROCS
// goroutines. op receives the goroutine's number and fails the benchmark
// by returning an error.
func benchLoop(b *testing.B, parallel bool, op func(g int) error) {
	if !parallel {
		for range b.N {
			if err := op(0); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	var goroutines atomic.Int64
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		g := int(goroutines.Add(1) - 1)
		for pb.Next() {
			if err := op(g); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// parallelGoroutines is how many goroutines benchLoop starts in parallel mode.
func parallelGoroutines(parallel bool) int {
	if !parallel {
		return 1
	}
	return benchParallelism * runtime.GOMAXPROCS(0)
}

// newBaselineServer serves the trivial handler: read the request, answer
// a small JSON body.
func newBaselineServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
	}))
}

// baselineRequest is one baseline operation: a GET with a bearer header,
// read to the end like every other benchmark's request.
func baselineRequest(hc *http.Client, base string) error {
	req, err := http.NewRequest(http.MethodGet, base+"/", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer lka_baseline")
	status, _, err := sendChecked(hc, req)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("baseline: status %d", status)
	}
	return err
}

// BenchmarkBaseline is the yardstick: a trivial handler over the same kind
// of HTTP server and client. Its x-baseline compares the run with the
// process's cached measurement, which shows how noisy the machine is.
func BenchmarkBaseline(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			base := baselineNsPerOp(b, m.parallel)
			srv := newBaselineServer()
			b.Cleanup(srv.Close)
			hc := newHTTPClient(b)
			b.ReportAllocs()
			b.ResetTimer()
			benchLoop(b, m.parallel, func(int) error { return baselineRequest(hc, srv.URL) })
			reportRatio(b, base)
		})
	}
}

// benchNode is a node on SQLite with a user who reads a private project,
// a public project, and one confidential client with PKCE.
type benchNode struct {
	env      *testkit.Env
	hc       *http.Client
	client   tokenClient
	userID   int64
	authReq  *oauth.AuthRequest
	verifier string
}

func newBenchNode(b *testing.B) *benchNode {
	env := testkit.New(b)
	user := env.User("alice", "alice-password")
	for i := range 5 {
		key := fmt.Sprintf("PRIV%d", i)
		env.Project(key, false)
		env.Repo(key, "repo", false)
		env.Grant("alice", admin.Target{Project: key}, "PROJECT_READ")
		pub := fmt.Sprintf("PUB%d", i)
		env.Project(pub, true)
		env.Repo(pub, "repo", false)
	}
	env.Project("HIDDEN", false)
	id, sec := env.Client(admin.NewClient{Name: "CI Server", RedirectURIs: []string{redirectURI}, Scopes: "REPO_READ"})
	n := &benchNode{env: env, hc: newHTTPClient(b), client: tokenClient{id, sec}, userID: user.ID,
		verifier: oauth2.GenerateVerifier()}
	req, err := env.Server.Provider.ValidateAuthorize(context.Background(), oauth.Params{
		"response_type": "code", "client_id": id, "redirect_uri": redirectURI, "scope": "REPO_READ",
		"state": "bench", "code_challenge": oauth2.S256ChallengeFromVerifier(n.verifier), "code_challenge_method": "S256",
	})
	if err != nil {
		b.Fatalf("validate authorization request: %v", err)
	}
	n.authReq = req
	return n
}

// issueCode creates an authorization code the way the consent page does,
// without the browser.
func (n *benchNode) issueCode(b *testing.B) string {
	target, err := n.env.Server.Provider.IssueCode(context.Background(), n.authReq, n.userID, n.env.Clock.Now(), store.SignIn{})
	if err != nil {
		b.Fatalf("issue code: %v", err)
	}
	u, err := url.Parse(target)
	if err != nil || u.Query().Get("code") == "" {
		b.Fatalf("issue code: redirect %q", target)
	}
	return u.Query().Get("code")
}

// exchange redeems a code at the token endpoint of dialect d.
func (n *benchNode) exchange(d dialect, code string) (tokenReply, error) {
	status, reply, err := postToken(n.hc, n.env.URL+d.token, n.client, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {n.verifier}})
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("exchange on %s: status %d: %s: %s", d.name, status, reply.Error, reply.ErrorDescription)
	}
	return reply, err
}

// grant obtains a fresh access and refresh token.
func (n *benchNode) grant(b *testing.B) tokenReply {
	reply, err := n.exchange(dialects[0], n.issueCode(b))
	if err != nil {
		b.Fatal(err)
	}
	return reply
}

// BenchmarkCodeExchange redeems authorization codes at the token endpoint
// (client authentication, PKCE, one write transaction), alternating the
// Bitbucket and Gitea paths. The codes are issued before the timer starts.
func BenchmarkCodeExchange(b *testing.B) {
	n := newBenchNode(b)
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			base := baselineNsPerOp(b, m.parallel)
			codes := make([]string, b.N)
			for i := range codes {
				codes[i] = n.issueCode(b)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			benchLoop(b, m.parallel, func(int) error {
				i := next.Add(1) - 1
				_, err := n.exchange(dialects[i%2], codes[i])
				return err
			})
			reportRatio(b, base)
		})
	}
}

// BenchmarkRefreshGrant rotates refresh tokens (one write transaction that
// advances the family), alternating the Bitbucket and Gitea paths. Each
// goroutine rotates its own chain.
func BenchmarkRefreshGrant(b *testing.B) {
	n := newBenchNode(b)
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			base := baselineNsPerOp(b, m.parallel)
			chains := make([]string, parallelGoroutines(m.parallel))
			for i := range chains {
				chains[i] = n.grant(b).RefreshToken
			}
			var ops atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			benchLoop(b, m.parallel, func(g int) error {
				d := dialects[ops.Add(1)%2]
				status, reply, err := postToken(n.hc, n.env.URL+d.token, n.client,
					url.Values{"grant_type": {"refresh_token"}, "refresh_token": {chains[g]}})
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("refresh on %s: status %d: %s: %s", d.name, status, reply.Error, reply.ErrorDescription)
				}
				chains[g] = reply.RefreshToken
				return err
			})
			reportRatio(b, base)
		})
	}
}

// BenchmarkBearerGET lists projects with a bearer token: the token check
// (token, client, user and permissions read at request time) plus a small
// permission-filtered listing.
func BenchmarkBearerGET(b *testing.B) {
	n := newBenchNode(b)
	token := n.grant(b).AccessToken
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			base := baselineNsPerOp(b, m.parallel)
			b.ReportAllocs()
			b.ResetTimer()
			benchLoop(b, m.parallel, func(int) error {
				status, body, err := getWithToken(n.hc, n.env.URL, "/rest/api/latest/projects", token)
				if err == nil && (status != http.StatusOK || body["size"] != float64(10)) {
					err = fmt.Errorf("projects: status %d, size %v", status, body["size"])
				}
				return err
			})
			reportRatio(b, base)
		})
	}
}
