package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drone/go-scm/scm"
	scmgitea "github.com/drone/go-scm/scm/driver/gitea"

	"latchkey/internal/store"
	"latchkey/internal/store/backend"
	"latchkey/internal/testkit"
	"latchkey/internal/webhook"
)

// Webhook settings of the nodes these tests start: loopback receivers
// allowed, quick polls and retries.
var hookFlags = []string{"--webhook-allowed-hosts", "127.0.0.1", "--webhook-poll-interval", "50ms",
	"--webhook-retry-backoff", "100ms", "--webhook-max-attempts", "100", "--webhook-timeout", "2s"}

// hookReceiver records the deliveries it gets, by delivery ID.
type hookReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	byID  map[string]int
	last  *http.Request
	body  []byte
	delay time.Duration
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	time.Sleep(h.delay)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.byID[r.Header.Get("X-Gitea-Delivery")]++
	h.last, h.body = r.Clone(context.Background()), body
}

func (h *hookReceiver) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.byID {
		n += c
	}
	return n
}

// startReceiver serves h on addr ("127.0.0.1:0" for any port).
func startReceiver(t *testing.T, h *hookReceiver, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("receiver: %v", err)
	}
	h.srv = httptest.NewUnstartedServer(h)
	h.srv.Listener.Close()
	h.srv.Listener = ln
	h.srv.Start()
	t.Cleanup(h.srv.Close)
}

// hookSetup is setup with the git repositories in dataDir, where the
// nodes look for them: alice may write PRIV/secret-repo.
func hookSetup(t *testing.T, dsn, dataDir string) fixture {
	t.Helper()
	cli(t, dsn, alicePassword+"\n", "user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin")
	cli(t, dsn, "", "project", "create", "--key", "PRIV", "--name", "Private")
	cli(t, dsn, "", "repo", "create", "--project", "PRIV", "--slug", "secret-repo", "--data-dir", dataDir)
	cli(t, dsn, "", "permission", "grant", "--user", "alice", "--repo", "PRIV/secret-repo", "--permission", "REPO_WRITE")
	out := cli(t, dsn, "", "client", "create", "--name", "CI Server", "--redirect-uri", redirectURI,
		"--scopes", "PUBLIC_REPOS REPO_READ REPO_WRITE", "--json")
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ClientID == "" {
		t.Fatalf("client create printed %q: %v", out, err)
	}
	return fixture{clientID: c.ClientID, secret: c.ClientSecret}
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// createHook stores a Gitea push hook of repository PRIV/secret-repo, its
// secret sealed under kek, as the hook routes do.
func createHook(t *testing.T, dsn, kek, target, secret string) (store.Webhook, store.Repo) {
	t.Helper()
	ctx := context.Background()
	st, err := backend.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	repo, err := st.GetRepo(ctx, "PRIV", "secret-repo")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(kek)
	secrets, err := webhook.NewSecrets(raw)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := secrets.Seal(repo.ID, secret)
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.CreateWebhook(ctx, store.Webhook{RepoID: repo.ID, Kind: store.HookGitea, URL: target, Secret: sealed,
		Events: []string{"push"}, Config: "{}", Active: true, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	return h, repo
}

// deliveries reads a hook's deliveries from the database.
func deliveries(t *testing.T, dsn string, hookID int64) []store.Delivery {
	t.Helper()
	ctx := context.Background()
	st, err := backend.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := store.All(ctx, store.Bind(st.ListDeliveries, hookID))
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// gitCommand runs git with no user or system configuration, skipping the
// test when git is missing (failing it in CI).
func gitCommand(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed; the webhook tests push with it")
		}
		t.Skip("git is not installed; skipping the test that pushes with it")
	}
	base := []string{"-c", "credential.helper=", "-c", "user.name=Alice", "-c", "user.email=alice@example.com",
		"-c", "init.defaultBranch=main"}
	cmd := exec.Command("git", append(base, args...)...)
	cmd.Dir = dir
	cmd.Env = append(childEnv(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestWebhookSurvivesKillDuringOutageOfReceiver: a push while the
// receiver is down, the Latchkey process killed with SIGKILL the moment
// the push has answered, the receiver back, Latchkey restarted: the
// delivery arrives, once, signed, and go-scm's parser accepts it. The
// delivery was in the database before the push answered.
func TestWebhookSurvivesKillDuringOutageOfReceiver(t *testing.T) {
	dataDir := t.TempDir()
	dsn := filepath.Join(dataDir, "latchkey.db")
	kek := newKEK()
	f := hookSetup(t, dsn, dataDir)
	recvAddr := freeAddr(t) // the receiver is down: nothing listens there yet
	hook, _ := createHook(t, dsn, kek, "http://"+recvAddr+"/hook", "kill-secret")

	addr := freeAddr(t)
	n := newNode(t, "sqlite", nodeConfig{dsn: dsn, baseURL: "http://" + addr, kek: kek,
		extra: append([]string{"--data-dir", dataDir}, hookFlags...)})
	n.addr = addr
	n.start()
	n.waitReady(30 * time.Second)

	// alice pushes with a token from the authorization-code flow.
	conf := oauthConfig(f, n.URL)
	conf.Scopes = []string{"REPO_WRITE"}
	code, err := authorize(testkit.RemoteBrowser(n.URL, "alice", alicePassword), conf, n.URL)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := conf.Exchange(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	gitCommand(t, work, "init", "-q", ".")
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCommand(t, work, "add", "README")
	gitCommand(t, work, "commit", "-q", "-m", "first")
	head := gitCommand(t, work, "rev-parse", "HEAD")
	push := &url.URL{Scheme: "http", Host: addr, Path: "/scm/priv/secret-repo.git", User: url.UserPassword("x", tok.AccessToken)}
	gitCommand(t, work, "push", "-q", push.String(), "HEAD:refs/heads/main")
	n.kill() // the push has answered: its delivery must be stored already

	ds := deliveries(t, dsn, hook.ID)
	if len(ds) != 1 || ds[0].State != store.DeliveryPending {
		t.Fatalf("after the kill, the database holds %+v; want one pending delivery", ds)
	}
	t.Logf("stored before the kill: delivery %d, %d attempts so far", ds[0].ID, ds[0].Attempts)

	recv := &hookReceiver{byID: map[string]int{}}
	startReceiver(t, recv, recvAddr)
	time.Sleep(200 * time.Millisecond)
	if recv.total() != 0 {
		t.Fatal("a delivery arrived while Latchkey was down")
	}
	n.start()
	// If the kill came during an attempt, the delivery stays leased to
	// the dead process for twice the timeout plus 10s (14s here), then
	// it is sent again.
	deadline := time.Now().Add(40 * time.Second)
	for recv.total() == 0 {
		if time.Now().After(deadline) {
			d := deliveries(t, dsn, hook.ID)[0]
			t.Fatalf("no delivery within 40s of the restart; database: %s after %d attempts, lease until %v, error %q",
				d.State, d.Attempts, d.LeaseUntil, d.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second copy would come now
	recv.mu.Lock()
	req, body, byID := recv.last, recv.body, recv.byID
	recv.mu.Unlock()
	if len(byID) != 1 || byID[ds[0].GUID] != 1 {
		t.Fatalf("received %v, want delivery %s once", byID, ds[0].GUID)
	}
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	client, _ := scmgitea.New(n.URL)
	parsed, err := client.Webhooks.Parse(req, func(scm.Webhook) (string, error) { return "kill-secret", nil })
	if err != nil {
		t.Fatalf("go-scm refused the delivery: %v\n%s", err, body)
	}
	if p := parsed.(*scm.PushHook); p.Ref != "refs/heads/main" || p.Commit.Sha != head || len(p.Commits) != 1 {
		t.Fatalf("push hook %+v, want main at %s", p, head)
	}
	deadline = time.Now().Add(10 * time.Second)
	for d := deliveries(t, dsn, hook.ID)[0]; d.State != store.DeliveryDelivered; d = deliveries(t, dsn, hook.ID)[0] {
		if time.Now().After(deadline) {
			t.Fatalf("delivery not recorded as delivered: %+v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.checkNoPanic()
}

// TestWebhookDeliveriesArriveOnceFromTwoNodes: two nodes on one
// PostgreSQL database both run a delivery worker; every one of many
// deliveries reaches the receiver exactly once, and both nodes send.
func TestWebhookDeliveriesArriveOnceFromTwoNodes(t *testing.T) {
	dsn := freshDatabase(t)
	dataDir := t.TempDir()
	kek := newKEK()
	hookSetup(t, dsn, dataDir)
	recv := &hookReceiver{byID: map[string]int{}, delay: 10 * time.Millisecond}
	startReceiver(t, recv, "127.0.0.1:0")
	hook, repo := createHook(t, dsn, kek, recv.srv.URL+"/hook", "two-nodes")

	bal := newBalancer(t)
	var nodes []*node
	for _, name := range []string{"node1", "node2"} {
		n := newNode(t, name, nodeConfig{dsn: dsn, baseURL: bal.URL, kek: kek,
			extra: append([]string{"--data-dir", dataDir, "--log-level", "info"}, hookFlags...)})
		n.start()
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		n.waitReady(30 * time.Second)
	}

	// Many deliveries at once, stored as Fire stores them; both workers
	// find them by polling and race to claim them.
	const count = 200
	var ds []store.Delivery
	now := time.Now()
	for i := range count {
		guid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ds = append(ds, store.Delivery{HookID: hook.ID, RepoID: repo.ID, Event: "push", GUID: guid,
			Payload: []byte(fmt.Sprintf(`{"ref":"refs/heads/b%d"}`, i)),
			Headers: map[string]string{"Content-Type": "application/json", "X-Gitea-Event": "push", "X-Gitea-Delivery": guid},
			State:   store.DeliveryPending, NextAttemptAt: now, CreatedAt: now})
	}
	st, err := backend.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnqueueDeliveries(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	st.Close()

	deadline := time.Now().Add(60 * time.Second)
	for recv.total() < count {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries arrived within a minute", recv.total(), count)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // duplicates would come now
	recv.mu.Lock()
	for guid, c := range recv.byID {
		if c != 1 {
			t.Errorf("delivery %s arrived %d times", guid, c)
		}
	}
	if len(recv.byID) != count {
		t.Errorf("%d distinct deliveries arrived, want %d", len(recv.byID), count)
	}
	recv.mu.Unlock()
	for _, d := range deliveries(t, dsn, hook.ID) {
		if d.State != store.DeliveryDelivered || d.Attempts != 1 {
			t.Errorf("delivery %d: %s after %d attempts, want delivered at the first", d.ID, d.State, d.Attempts)
		}
	}
	for _, n := range nodes {
		sent := strings.Count(n.stderr(), `"msg":"webhook delivery"`)
		t.Logf("%s sent %d deliveries", n.name, sent)
		if sent == 0 {
			t.Errorf("%s sent none: the test did not make the nodes race", n.name)
		}
		n.checkNoPanic()
	}
}
