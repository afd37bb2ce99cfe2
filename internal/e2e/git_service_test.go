package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawAnswer is a response read off the wire, with its body.
type rawAnswer struct {
	status int
	header http.Header
	body   string
}

// rawRequest sends method and target exactly as written, which no HTTP
// client library would (they normalize paths and queries), with the given
// extra header lines, and reads the answer.
func rawRequest(t *testing.T, base, method, target string, headers ...string) rawAnswer {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	head := method + " " + target + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: close\r\n"
	for _, h := range headers {
		head += h + "\r\n"
	}
	if method == http.MethodPost {
		head += "Content-Length: 0\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// receivePackAdvertised reports whether an answer is git receive-pack's
// advertisement (what a push reads first), in either protocol version.
func (a rawAnswer) receivePackAdvertised() bool {
	return strings.Contains(a.header.Get("Content-Type"), "receive-pack") ||
		strings.Contains(a.body, "report-status") || strings.Contains(a.body, "service=git-receive-pack")
}

// The attacks of finding 6: a request whose query names two services was
// authorized as the first (upload-pack: read) while git http-backend ran
// the last (receive-pack's advertisement), with a token, anonymously on a
// public repository and with a percent-encoded project key. Every request
// git would read differently from the server is refused, in plain text,
// before any git runs.
func TestGitRunsExactlyTheServiceItAuthorized(t *testing.T) {
	f := newGitFixture(t)
	read := "Authorization: Bearer " + f.token(t, f.user(t, "alice"), "REPO_READ")
	both := "?service=git-upload-pack&service=git-receive-pack"
	for _, c := range []struct {
		name, method, target, auth string
		status                     int
	}{
		{"a read token naming both services", "GET", "/scm/prj/code.git/info/refs" + both, read, 400},
		{"both services the other way round", "GET", "/scm/prj/code.git/info/refs?service=git-receive-pack&service=git-upload-pack", read, 400},
		{"anonymous on a public repository naming both services", "GET", "/scm/open/docs.git/info/refs" + both, "", 400},
		{"anonymous with a percent-encoded project key", "GET", "/scm/%4fPEN/docs.git/info/refs" + both, "", 400},
		{"a read token with a percent-encoded project key", "GET", "/scm/%50RJ/code.git/info/refs" + both, read, 400},
		{"the second service's name percent-encoded", "GET", "/scm/open/docs.git/info/refs?service=git-upload-pack&%73ervice=git-receive-pack", "", 400},
		{"the same service twice", "GET", "/scm/open/docs.git/info/refs?service=git-upload-pack&service=git-upload-pack", "", 400},
		{"a second service after a semicolon", "GET", "/scm/open/docs.git/info/refs?service=git-upload-pack;service=git-receive-pack", "", 400},
		{"a second service git decodes and Go does not", "GET", "/scm/open/docs.git/info/refs?service=git-upload-pack&service=%zz", "", 400},
		{"an unknown service", "GET", "/scm/open/docs.git/info/refs?service=git-upload-archive", "", 404},
		{"a fetch naming another service in its query", "POST", "/scm/open/docs.git/git-upload-pack?service=git-receive-pack", "", 400},
		{"a path that climbs out of the repository", "GET", "/scm/open/docs.git%2f..%2f..%2fprj%2fcode.git/info/refs?service=git-upload-pack", "", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := rawRequest(t, f.env.URL, c.method, c.target, c.auth)
			if a.status != c.status {
				t.Errorf("status %d, want %d: %q", a.status, c.status, a.body)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want plain text", ct)
			}
			if a.receivePackAdvertised() {
				t.Errorf("answered with receive-pack's advertisement: %q", a.body)
			}
		})
	}
}

// What git sends is still served, whatever the letter case or encoding of
// the project key, and git http-backend sees the repository that was
// authorized.
func TestGitServesTheAuthorizedServiceWithAnEncodedKey(t *testing.T) {
	f := newGitFixture(t)
	read := "Authorization: Bearer " + f.token(t, f.user(t, "alice"), "REPO_READ")
	for _, c := range []struct {
		name, target, auth string
		status             int
		contentType        string
	}{
		{"upload-pack with an encoded key", "/scm/%50RJ/code.git/info/refs?service=git-upload-pack", read, 200, "application/x-git-upload-pack-advertisement"},
		{"upload-pack anonymously on a public repository", "/scm/%4fPEN/docs.git/info/refs?service=git-upload-pack", "", 200, "application/x-git-upload-pack-advertisement"},
		{"receive-pack needs a write scope", "/scm/%50RJ/code.git/info/refs?service=git-receive-pack", read, 403, "text/plain"},
		{"a private repository anonymously", "/scm/%50RJ/code.git/info/refs?service=git-upload-pack", "", 401, "text/plain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := rawRequest(t, f.env.URL, http.MethodGet, c.target, c.auth)
			if a.status != c.status || !strings.HasPrefix(a.header.Get("Content-Type"), c.contentType) {
				t.Fatalf("%d %q, want %d %s: %q", a.status, a.header.Get("Content-Type"), c.status, c.contentType, a.body)
			}
		})
	}
	a := rawRequest(t, f.env.URL, http.MethodGet, "/scm/%50RJ/code.git/info/refs?service=git-upload-pack", read)
	if want := f.git.must("", "--git-dir", f.env.Repos().Path(f.repo), "rev-parse", "main"); !strings.Contains(a.body, strings.TrimSpace(want)) {
		t.Fatalf("the advertisement does not name PRJ/code's main %s:\n%s", want, a.body)
	}
}
