package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"latchkey/internal/config"
)

// gitProcess is a running process: its command line and its parent.
type gitProcess struct {
	cmd    string
	parent int
}

// gitProcesses lists the running processes that serve git for the
// repositories in dir, by process ID: git http-backend and whatever it
// starts carry GIT_PROJECT_ROOT=dir.
func gitProcesses(t *testing.T, dir string) map[int]gitProcess {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to count git processes: %v", err)
	}
	found := map[int]gitProcess{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		environ, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(environ, []byte("\x00GIT_PROJECT_ROOT="+dir+"\x00")) &&
			!bytes.HasPrefix(environ, []byte("GIT_PROJECT_ROOT="+dir+"\x00")) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		var state string
		var parent int
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			_, _ = fmt.Sscan(string(stat[i+1:]), &state, &parent)
		}
		if state == "Z" {
			continue // a zombie holds nothing but its process ID
		}
		found[pid] = gitProcess{cmd: strings.ReplaceAll(string(cmdline), "\x00", " "), parent: parent}
	}
	return found
}

// backends counts the git requests running among procs: the http-backend
// processes whose parent is not one (`git http-backend` runs
// git-http-backend as a child).
func backends(procs map[int]gitProcess) int {
	n := 0
	for _, p := range procs {
		if strings.Contains(p.cmd, "http-backend") && !strings.Contains(procs[p.parent].cmd, "http-backend") {
			n++
		}
	}
	return n
}

// waitFor polls cond every 50ms for at most d and reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// stallFetch opens a connection that starts an anonymous fetch of
// OPEN/docs announcing a megabyte of request and sends a few bytes of it,
// then nothing: the slow request of finding 5.
func stallFetch(t *testing.T, base string) net.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, "POST /scm/open/docs.git/git-upload-pack HTTP/1.1\r\nHost: "+u.Host+"\r\n"+
		"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000000\r\n\r\n0032want ")
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// holdGitProcesses stalls n fetches and waits until git runs for each.
func holdGitProcesses(t *testing.T, f *gitFixture, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		conns = append(conns, stallFetch(t, f.env.URL))
	}
	if !waitFor(10*time.Second, func() bool { return backends(gitProcesses(t, f.env.Repos().Dir())) == n }) {
		t.Fatalf("%d stalled fetches run %v, want %d git http-backend", n, gitProcesses(t, f.env.Repos().Dir()), n)
	}
	return conns
}

func withGit(adjust func(*config.Git)) func(*config.Config) {
	return func(c *config.Config) { adjust(&c.Git) }
}

// Finding 5: sockets that announce a large request and stall kept their
// git processes for an hour. A request whose client sends nothing for the
// idle timeout is closed, and its git processes end with it.
func TestGitClosesAStalledRequestAfterTheIdleTimeout(t *testing.T) {
	const idle = time.Second
	f := newGitFixture(t, withGit(func(g *config.Git) { g.IdleTimeout = idle }))
	start := time.Now()
	conns := holdGitProcesses(t, f, 5)
	for i, conn := range conns {
		_ = conn.SetReadDeadline(start.Add(idle + 5*time.Second))
		answer, err := io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("stalled request %d still open %v after it stalled (idle timeout %v)", i, time.Since(start), idle)
		}
		if bytes.HasPrefix(answer, []byte("HTTP/1.1 5")) {
			t.Errorf("stalled request %d answered a server error:\n%s", i, answer)
		}
	}
	dir := f.env.Repos().Dir()
	if !waitFor(5*time.Second, func() bool { return len(gitProcesses(t, dir)) == 0 }) {
		t.Fatalf("git processes outlived the stalled requests: %v", gitProcesses(t, dir))
	}
}

// A client that trickles a byte now and then never trips the idle timeout;
// the ceiling (--git-max-duration) still ends its request and its git.
func TestGitEndsATrickleAtTheMaximumDuration(t *testing.T) {
	const ceiling = 2 * time.Second
	f := newGitFixture(t, withGit(func(g *config.Git) { g.IdleTimeout, g.MaxDuration = time.Second, ceiling }))
	start := time.Now()
	conn := holdGitProcesses(t, f, 1)[0]
	go func() {
		for {
			time.Sleep(200 * time.Millisecond)
			if _, err := conn.Write([]byte("0")); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(start.Add(ceiling + 5*time.Second))
	_, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a trickling request still open %v after it started (ceiling %v)", time.Since(start), ceiling)
	}
	if elapsed := time.Since(start); elapsed < ceiling-time.Second/2 {
		t.Fatalf("a request that kept sending was closed after %v, before the ceiling %v", elapsed, ceiling)
	}
	dir := f.env.Repos().Dir()
	if !waitFor(5*time.Second, func() bool { return len(gitProcesses(t, dir)) == 0 }) {
		t.Fatalf("git processes outlived the request: %v", gitProcesses(t, dir))
	}
}

// Finding 5: git processes are bounded per caller (anonymous callers by
// client address) and per node; beyond a bound the answer is 503 with
// Retry-After in plain text, and the bound is given back when git ends.
func TestGitBoundsTheGitProcessesOfOneCallerAndOfTheNode(t *testing.T) {
	refs := "/scm/open/docs.git/info/refs?service=git-upload-pack"
	for _, c := range []struct {
		name          string
		limits        func(*config.Git)
		aliceRefused  bool
		anonymousHeld int
	}{
		{"per caller", func(g *config.Git) { g.MaxProcessesPerCaller = 2 }, false, 2},
		{"per node", func(g *config.Git) { g.MaxProcesses = 2 }, true, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newGitFixture(t, withGit(c.limits))
			alice := "Authorization: Bearer " + f.token(t, f.user(t, "alice"), "REPO_READ")
			conns := holdGitProcesses(t, f, c.anonymousHeld)
			wantBusy(t, rawRequest(t, f.env.URL, http.MethodGet, refs))
			if a := rawRequest(t, f.env.URL, http.MethodGet, refs, alice); c.aliceRefused {
				wantBusy(t, a)
			} else if a.status != http.StatusOK {
				t.Fatalf("another caller within its bound got %d %q, want 200", a.status, a.body)
			} else {
				f.git.must(t.TempDir(), "-c", "http.extraHeader="+alice, "clone", "-q", f.gitURL("", "PRJ", "code"), "clone")
			}
			for _, conn := range conns {
				conn.Close()
			}
			if !waitFor(10*time.Second, func() bool { return rawRequest(t, f.env.URL, http.MethodGet, refs).status == http.StatusOK }) {
				t.Fatal("the bound was not given back when the stalled requests ended")
			}
		})
	}
}

// wantBusy fails unless a is 503 with a Retry-After and a plain-text body.
func wantBusy(t *testing.T, a rawAnswer) {
	t.Helper()
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d %q, want 503 beyond the bound", a.status, a.body)
	}
	if secs, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After %q, want a number of seconds", a.header.Get("Retry-After"))
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || a.body == "" {
		t.Errorf("Content-Type %q body %q, want plain text", ct, a.body)
	}
}

// commitRandom commits a file of size random bytes (which do not
// compress) in the work tree clone.
func (f *gitFixture) commitRandom(t *testing.T, clone, name string, size int, message string) {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	if err := os.WriteFile(filepath.Join(clone, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	f.git.must(clone, "add", name)
	f.git.must(clone, "commit", "-q", "-m", message)
}

// mainOnDisk is the subject of the server repository's main.
func (f *gitFixture) mainOnDisk() string {
	return strings.TrimSpace(f.git.must("", "--git-dir", f.env.Repos().Path(f.repo), "log", "-1", "--format=%s", "main"))
}

// Finding 5: a push is bounded by git's receive.maxInputSize, a setting.
// git sends a pack larger than its http.postBuffer (1 MiB) chunked, so the
// refused push is also a chunked one, which git http-backend must see.
func TestGitRefusesAPushLargerThanTheMaximumPushSize(t *testing.T) {
	f := newGitFixture(t, withGit(func(g *config.Git) { g.MaxPushSize = 256 << 10 }))
	write := f.token(t, f.user(t, "alice"), "REPO_WRITE")
	dir := t.TempDir()
	clone := filepath.Join(dir, "clone")
	f.git.must(dir, "clone", "-q", f.gitURL(write, "PRJ", "code"), clone)
	f.commitRandom(t, clone, "big.bin", 2<<20, "two megabytes")
	out, err := f.git.run(clone, "push", f.gitURL(write, "PRJ", "code"), "HEAD:main")
	wantGitFailure(t, "a push of two megabytes with a 256k bound", out, err, "maximum allowed size")
	if got := f.mainOnDisk(); got != "first commit" {
		t.Fatalf("server's main is %q after a refused push, want the seeded commit", got)
	}

	f.git.must(clone, "reset", "-q", "--hard", "HEAD~1")
	f.commitRandom(t, clone, "small.bin", 1000, "a small change")
	f.git.must(clone, "push", "-q", f.gitURL(write, "PRJ", "code"), "HEAD:main")
	if got := f.mainOnDisk(); got != "a small change" {
		t.Fatalf("server's main is %q, want the small push", got)
	}
}

// A push larger than git's http.postBuffer arrives with a chunked body,
// which net/http/cgi refuses (400) unless it is handed on as a body of
// unknown length; within the bound it succeeds.
func TestGitAcceptsAChunkedPushWithinTheBound(t *testing.T) {
	f := newGitFixture(t)
	write := f.token(t, f.user(t, "alice"), "REPO_WRITE")
	dir := t.TempDir()
	clone := filepath.Join(dir, "clone")
	f.git.must(dir, "clone", "-q", f.gitURL(write, "PRJ", "code"), clone)
	f.commitRandom(t, clone, "big.bin", 3<<20, "three megabytes")
	f.git.must(clone, "push", "-q", f.gitURL(write, "PRJ", "code"), "HEAD:main")
	if got := f.mainOnDisk(); got != "three megabytes" {
		t.Fatalf("server's main is %q, want the chunked push", got)
	}
	f.git.must(dir, "clone", "-q", f.gitURL(write, "PRJ", "code"), "again")
}
