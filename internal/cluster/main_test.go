// Package cluster tests Latchkey as it runs in production: several
// `latchkey serve` processes, built from this tree, on one PostgreSQL
// database. The tests start and kill real processes, put a TCP proxy they
// control between a node and PostgreSQL to simulate an outage, and check the
// database directly afterwards.
//
// They need LATCHKEY_TEST_POSTGRES (e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); each test makes
// its own database on that server and drops it at the end. Without it they
// skip, except in CI (CI=true), where they fail.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"golang.org/x/oauth2"

	"latchkey/internal/secret"
	"latchkey/internal/testkit"
)

// dsnEnv names the environment variable with the test server's DSN.
const dsnEnv = "LATCHKEY_TEST_POSTGRES"

// Paths of the Bitbucket dialect, and the client's redirect URI.
const (
	authorizePath = "/rest/oauth2/latest/authorize"
	tokenPath     = "/rest/oauth2/latest/token"
	reposPath     = "/rest/api/latest/projects/PRIV/repos"
	redirectURI   = "http://127.0.0.1:9999/callback"
)

// freshDatabase creates a database with a random name on the test server,
// drops it when the test ends, and returns its DSN.
func freshDatabase(t *testing.T) string { return testkit.FreshPostgres(t) }

// withHost returns dsn with its host and port replaced by addr.
func withHost(t *testing.T, dsn, addr string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// binary builds cmd/latchkey once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "latchkey-cluster-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "latchkey")
		out, err := exec.Command("go", "build", "-o", builtPath, "latchkey/cmd/latchkey").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtPath != "" {
		os.RemoveAll(filepath.Dir(builtPath))
	}
	os.Exit(code)
}

// childEnv is the environment of the processes the tests start: ours
// without LATCHKEY_* settings, so that every setting is a flag we chose.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// cli runs one latchkey admin command on the database and returns stdout.
func cli(t *testing.T, dsn, stdin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(binary(t), append(args, "--db", dsn)...)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("latchkey %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// fixture is what setup puts in the database: user alice (password
// alicePassword) who may read project PRIV with repository secret-repo,
// and a confidential client.
type fixture struct {
	clientID, secret string
}

const alicePassword = "alice-password"

func setup(t *testing.T, dsn string) fixture {
	t.Helper()
	cli(t, dsn, alicePassword+"\n", "user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin")
	cli(t, dsn, "", "project", "create", "--key", "PRIV", "--name", "Private")
	cli(t, dsn, "", "repo", "create", "--project", "PRIV", "--slug", "secret-repo")
	cli(t, dsn, "", "permission", "grant", "--user", "alice", "--project", "PRIV", "--permission", "PROJECT_READ")
	out := cli(t, dsn, "", "client", "create", "--name", "CI Server", "--redirect-uri", redirectURI,
		"--scopes", "PUBLIC_REPOS REPO_READ REPO_WRITE", "--json")
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		t.Fatalf("client create printed %q: %v", out, err)
	}
	return fixture{clientID: c.ClientID, secret: c.ClientSecret}
}

// newKEK returns a fresh key-encryption key, as an operator generates one.
func newKEK() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// node is one `latchkey serve` process, restartable on the same address.
type node struct {
	t       *testing.T
	name    string
	dir     string
	args    []string // serve flags other than --listen
	addr    string   // host:port, known after the first start
	URL     string
	starts  int
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// nodeConfig is what differs between the nodes of a test.
type nodeConfig struct {
	dsn, baseURL, kek string
	extra             []string
}

// newNode prepares a node; start runs it.
func newNode(t *testing.T, name string, cfg nodeConfig) *node {
	t.Helper()
	n := &node{t: t, name: name, dir: t.TempDir(), addr: "127.0.0.1:0"}
	n.args = append([]string{"serve", "--db", cfg.dsn, "--base-url", cfg.baseURL,
		"--key-encryption-key", cfg.kek, "--shutdown-timeout", "2s"}, cfg.extra...)
	t.Cleanup(n.stop)
	t.Cleanup(func() {
		if t.Failed() {
			n.logErrors()
		}
	})
	return n
}

// logErrors logs the node's error lines and its 500 answers, to explain a
// failure; errors about the database being unavailable are left out, the
// outage test causes hundreds of them.
func (n *node) logErrors() {
	shown := 0
	for _, line := range strings.Split(n.stderr(), "\n") {
		if shown == 50 {
			n.t.Logf("%s: more errors left out", n.name)
			return
		}
		if strings.Contains(line, `"status":500`) ||
			(strings.Contains(line, `"level":"ERROR"`) && !strings.Contains(line, "database unavailable")) {
			n.t.Logf("%s: %s", n.name, line)
			shown++
		}
	}
}

// start runs the process and waits until it listens (not until it is
// ready: see waitReady).
func (n *node) start() {
	n.t.Helper()
	if err := n.launch(); err != nil {
		n.t.Fatal(err)
	}
}

// launch is start for any goroutine: it returns its error.
func (n *node) launch() error {
	n.starts++
	stdout, err := os.Create(n.outPath(n.starts, "stdout"))
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := os.Create(n.outPath(n.starts, "stderr"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd := exec.Command(binary(n.t), append(n.args, "--listen", n.addr)...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", n.name, err)
	}
	exited := make(chan struct{})
	n.cmd, n.exited = cmd, exited
	go func() {
		n.exitErr = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if addr := n.listening(); addr != "" {
			n.addr, n.URL = addr, "http://"+addr
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start-up (%v):\n%s", n.name, n.exitErr, n.stderr())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen within a minute:\n%s", n.name, n.stderr())
		}
	}
}

func (n *node) outPath(i int, stream string) string {
	return filepath.Join(n.dir, fmt.Sprintf("%s-%d.%s", n.name, i, stream))
}

// stdout returns everything the node printed on stdout, over all its starts.
func (n *node) stdout() string {
	var b strings.Builder
	for i := 1; i <= n.starts; i++ {
		raw, _ := os.ReadFile(n.outPath(i, "stdout"))
		b.Write(raw)
	}
	return b.String()
}

// listening returns the address of the latest start's "latchkey listening"
// log line, or "".
func (n *node) listening() string {
	f, err := os.Open(n.outPath(n.starts, "stderr"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "latchkey listening" {
			return line.Addr
		}
	}
	return ""
}

// stderr returns everything the node wrote to stderr, over all its starts.
func (n *node) stderr() string {
	var b strings.Builder
	for i := 1; i <= n.starts; i++ {
		raw, _ := os.ReadFile(n.outPath(i, "stderr"))
		b.Write(raw)
	}
	return b.String()
}

// running reports whether the latest process is still alive.
func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.t.Helper()
	if !n.running() {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// stop ends the process gracefully (SIGTERM), or kills it after a while.
func (n *node) stop() {
	if !n.running() {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.exited
	}
}

// waitReady polls /readyz until the node answers 200.
func (n *node) waitReady(within time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, _, _ := get(n.URL+"/readyz", "")
		if status == http.StatusOK {
			return
		}
		if !n.running() {
			n.t.Fatalf("%s exited (%v):\n%s", n.name, n.exitErr, n.stderr())
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s not ready within %v (last /readyz status %d)", n.name, within, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkNoPanic fails the test if the node ever logged a panic.
func (n *node) checkNoPanic() {
	n.t.Helper()
	for _, line := range strings.Split(n.stderr(), "\n") {
		if strings.Contains(strings.ToLower(line), "panic") {
			n.t.Errorf("%s logged a panic: %s", n.name, line)
		}
	}
}

// httpClient is used for every request of the tests; its timeout only
// guards against a hung test, the assertions measure much shorter times.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// get sends a GET with an optional bearer token and returns status, body
// and the error of the round trip.
func get(u, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(req)
}

func do(req *http.Request) (int, []byte, error) {
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// tokenReply is a token endpoint answer, success or error.
type tokenReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// postToken sends a token request with HTTP Basic client authentication
// and returns the status and the decoded answer.
func postToken(base string, f fixture, form url.Values) (int, tokenReply, error) {
	req, err := http.NewRequest(http.MethodPost, base+tokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, tokenReply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.clientID), url.QueryEscape(f.secret))
	status, body, err := do(req)
	if err != nil {
		return 0, tokenReply{}, err
	}
	var r tokenReply
	if err := json.Unmarshal(body, &r); err != nil {
		return status, r, fmt.Errorf("token endpoint answered %d with non-JSON %q", status, body)
	}
	return status, r, nil
}

// refresh sends a refresh_token grant.
func refresh(base string, f fixture, refreshToken string) (int, tokenReply, error) {
	return postToken(base, f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// oauthConfig is the x/oauth2 client configuration against one node.
func oauthConfig(f fixture, base string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: f.clientID, ClientSecret: f.secret, RedirectURL: redirectURI, Scopes: []string{"REPO_READ"},
		Endpoint: oauth2.Endpoint{AuthURL: base + authorizePath, TokenURL: base + tokenPath, AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// authorize plays the person in browser b (which talks to one node) and
// returns the code the node sent to the client.
func authorize(b *testkit.Browser, conf *oauth2.Config, issuer string) (string, error) {
	state := "st-" + rand.Text()[:10]
	cb, err := b.Authorize(conf.AuthCodeURL(state))
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	q := cb.Query()
	switch {
	case q.Get("error") != "":
		return "", fmt.Errorf("authorize: error %s: %s", q.Get("error"), q.Get("error_description"))
	case q.Get("state") != state:
		return "", fmt.Errorf("authorize: state %q, want %q", q.Get("state"), state)
	case q.Get("iss") != issuer:
		return "", fmt.Errorf("authorize: iss %q, want the shared issuer %q", q.Get("iss"), issuer)
	case q.Get("code") == "":
		return "", errors.New("authorize: no code")
	}
	return q.Get("code"), nil
}

// openDB opens the test's database directly, for checks.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tokenState is where a token stands in the database.
type tokenState struct {
	found                 bool
	generation, familyGen int64
	revoked               bool
	// rotated: the token's row is gone, but the family its handle names
	// exists (a refresh token rotated away; then generation is 0).
	rotated bool
}

func lookupToken(t *testing.T, db *sql.DB, token string) tokenState {
	t.Helper()
	var s tokenState
	var revokedAt int64
	err := db.QueryRowContext(context.Background(), `SELECT t.generation, f.generation, f.revoked_at
		FROM tokens t JOIN token_families f ON f.id = t.family_id WHERE t.hash = $1`, secret.TokenKey(token)).
		Scan(&s.generation, &s.familyGen, &revokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		handle, ok := secret.RefreshHandle(token)
		if !ok {
			return s
		}
		err = db.QueryRowContext(context.Background(), `SELECT generation, revoked_at FROM token_families
			WHERE lineage = $1`, secret.Lineage(handle)).Scan(&s.familyGen, &revokedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return s
		}
		s.rotated = err == nil
	}
	if err != nil {
		t.Fatalf("look token up: %v", err)
	}
	s.found, s.revoked = !s.rotated, revokedAt != 0
	return s
}

// checkConsistency checks the invariants of the token tables that any
// crash or outage must leave intact (each query counts violations):
// every family keeps its tokens; a family that is not revoked has a live
// refresh token (the tests use only grants that issue one) and no access
// token of an earlier generation; no family has two live refresh tokens; a
// code that was redeemed names the family it issued; no token is of a
// generation its family has not reached.
func checkConsistency(t *testing.T, db *sql.DB) {
	t.Helper()
	nowMillis := time.Now().UnixMilli()
	checks := []struct {
		what  string
		query string
		args  []any
	}{
		{"families without any token (orphaned)", `SELECT count(*) FROM token_families f
			WHERE NOT EXISTS (SELECT 1 FROM tokens t WHERE t.family_id = f.id)`, nil},
		{"families with two or more live refresh tokens", `SELECT count(*) FROM (
			SELECT t.family_id FROM tokens t JOIN token_families f ON f.id = t.family_id
			WHERE t.kind = 'refresh' AND t.generation = f.generation AND f.revoked_at = 0 AND t.expires_at > $1
			GROUP BY t.family_id HAVING count(*) > 1) x`, []any{nowMillis}},
		{"live families without a live refresh token", `SELECT count(*) FROM token_families f
			WHERE f.revoked_at = 0 AND NOT EXISTS (SELECT 1 FROM tokens t
				WHERE t.family_id = f.id AND t.kind = 'refresh' AND t.generation = f.generation)`, nil},
		{"access tokens of a past generation", `SELECT count(*) FROM tokens t JOIN token_families f ON f.id = t.family_id
			WHERE t.kind = 'access' AND t.generation < f.generation`, nil},
		{"tokens of a generation beyond their family's", `SELECT count(*) FROM tokens t JOIN token_families f ON f.id = t.family_id
			WHERE t.generation > f.generation`, nil},
		{"refresh tokens of a past generation kept by a family with a lineage", `SELECT count(*) FROM tokens t
			JOIN token_families f ON f.id = t.family_id
			WHERE t.kind = 'refresh' AND t.generation < f.generation AND f.lineage <> ''`, nil},
		{"redeemed codes without their family", `SELECT count(*) FROM auth_codes
			WHERE used_at <> 0 AND family_id IS NULL`, nil},
	}
	for _, c := range checks {
		var n int
		if err := db.QueryRowContext(context.Background(), c.query, c.args...).Scan(&n); err != nil {
			t.Fatalf("consistency check %q: %v", c.what, err)
		}
		if n != 0 {
			t.Errorf("consistency: %d %s", n, c.what)
		}
	}
	var families, tokens int
	_ = db.QueryRow(`SELECT (SELECT count(*) FROM token_families), (SELECT count(*) FROM tokens)`).Scan(&families, &tokens)
	t.Logf("consistency checked over %d families and %d tokens", families, tokens)
}

// balancer is a round-robin reverse proxy in front of the nodes: the
// public address whose URL every node has as its base URL, as a load
// balancer that terminates TLS would be in production.
type balancer struct {
	URL      string
	backends atomic.Pointer[[]*url.URL]
	next     atomic.Uint64
	srv      *http.Server
}

func newBalancer(t *testing.T) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{URL: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		backends := *b.backends.Load()
		r.SetURL(backends[b.next.Add(1)%uint64(len(backends))])
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	b.srv = &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { b.srv.Close() })
	return b
}

// route sends the balancer's traffic to the nodes, in turn.
func (b *balancer) route(nodes ...*node) {
	var us []*url.URL
	for _, n := range nodes {
		u, _ := url.Parse(n.URL)
		us = append(us, u)
	}
	b.backends.Store(&us)
}
