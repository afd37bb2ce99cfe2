package outbound

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen starts a real HTTP server on addr ("127.0.0.1:0", "[::1]:0",
// "0.0.0.0:0") that counts its requests, or skips when the machine has no
// such address.
func listen(t *testing.T, addr string, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s here: %v", addr, err)
	}
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &hits
}

func get(t *testing.T, c *Client, url string) (*Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func mustAllow(t *testing.T, s string) *AllowList {
	t.Helper()
	a, err := ParseAllowList(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func port(t *testing.T, srv *httptest.Server) string {
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantRefused checks that err is a refusal for reason and the server saw
// no request at all: the connection was never made.
func wantRefused(t *testing.T, err error, reason string, hits *atomic.Int32) {
	t.Helper()
	var r *RefusedError
	if !errors.As(err, &r) {
		t.Fatalf("error = %v, want a refusal (%s)", err, reason)
	}
	if r.Reason != reason {
		t.Fatalf("refused as %q, want %q (%v)", r.Reason, reason, err)
	}
	if hits != nil && hits.Load() != 0 {
		t.Fatalf("the server got %d requests, want none", hits.Load())
	}
}

func TestRefusesLoopbackUnlessAllowed(t *testing.T) {
	srv, hits := listen(t, "127.0.0.1:0", nil)
	p := port(t, srv)
	_, err := get(t, New(Config{}), "http://127.0.0.1:"+p+"/")
	wantRefused(t, err, "loopback", hits)
	// By name: the name is resolved, and its address refused.
	_, err = get(t, New(Config{}), "http://localhost:"+p+"/")
	wantRefused(t, err, "loopback", hits)
	// The IPv4-mapped IPv6 form reaches the IPv4 listener, and is refused too.
	_, err = get(t, New(Config{}), "http://[::ffff:127.0.0.1]:"+p+"/")
	if err == nil || !IsRefused(err) {
		t.Fatalf("IPv4-mapped loopback: error = %v, want a refusal", err)
	}
	if hits.Load() != 0 {
		t.Fatal("a refused request reached the server")
	}

	for _, allow := range []string{"127.0.0.1", "127.0.0.0/8", " localhost ,example.com", "::ffff:127.0.0.1"} {
		url := "http://127.0.0.1:" + p + "/"
		if strings.Contains(allow, "localhost") {
			url = "http://localhost:" + p + "/"
		}
		resp, err := get(t, New(Config{Allow: mustAllow(t, allow)}), url)
		if err != nil {
			t.Fatalf("allowed %q: %v", allow, err)
		}
		if resp.Status != 200 || string(resp.Body) != "ok" {
			t.Fatalf("allowed %q: %d %q", allow, resp.Status, resp.Body)
		}
	}
	// An allowed name does not allow other names that resolve to loopback,
	// and an allowed address does not allow another.
	_, err = get(t, New(Config{Allow: mustAllow(t, "example.com,127.0.0.2")}), "http://127.0.0.1:"+p+"/")
	wantRefused(t, err, "loopback", nil)
}

func TestRefusesIPv6Loopback(t *testing.T) {
	srv, hits := listen(t, "[::1]:0", nil)
	_, err := get(t, New(Config{}), "http://[::1]:"+port(t, srv)+"/")
	wantRefused(t, err, "loopback", hits)
	if _, err := get(t, New(Config{Allow: mustAllow(t, "::1")}), "http://[::1]:"+port(t, srv)+"/"); err != nil {
		t.Fatalf("allowed ::1: %v", err)
	}
}

func TestRefusesUnspecified(t *testing.T) {
	// A server on every interface: 0.0.0.0 connects to this machine.
	srv, hits := listen(t, "0.0.0.0:0", nil)
	_, err := get(t, New(Config{}), "http://0.0.0.0:"+port(t, srv)+"/")
	wantRefused(t, err, "unspecified", hits)
}

// Addresses without a listener here: the refusal comes before the
// connection is attempted, so it is immediate, never a timeout.
func TestRefusesInternalRangesBeforeConnecting(t *testing.T) {
	c := New(Config{Timeout: 5 * time.Second})
	for url, reason := range map[string]string{
		"http://10.255.255.1/":             "private",
		"http://172.16.0.1/":               "private",
		"http://192.168.1.1/":              "private",
		"http://[fd00::1]/":                "private",
		"http://169.254.169.254/metadata":  "link-local",
		"http://[fe80::1]/":                "link-local",
		"http://100.64.0.1/":               "carrier-grade NAT",
		"http://[::ffff:10.0.0.1]/":        "private",
		"http://[::ffff:169.254.169.254]/": "link-local",
		"http://[64:ff9b::a9fe:a9fe]/":     "link-local",
		"http://0.1.2.3/":                  "\"this network\"",
		"http://[::]/":                     "unspecified",
	} {
		start := time.Now()
		_, err := get(t, c, url)
		var r *RefusedError
		if !errors.As(err, &r) {
			// An address family this machine cannot dial at all fails
			// before Control runs; that is a refusal of another kind.
			if strings.Contains(url, "[") && err != nil && !strings.Contains(err.Error(), "refused") {
				t.Logf("%s: %v (no IPv6 route here)", url, err)
				continue
			}
			t.Fatalf("%s: error = %v, want a refusal", url, err)
		}
		if r.Reason != reason {
			t.Errorf("%s: refused as %q, want %q", url, r.Reason, reason)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v: the refusal must come before connecting", url, d)
		}
	}
}

func TestInternal(t *testing.T) {
	for addr, want := range map[string]string{
		"8.8.8.8": "", "2606:4700::1111": "", "100.128.0.1": "", "172.32.0.1": "", "11.0.0.1": "",
		"127.0.0.1": "loopback", "127.255.0.9": "loopback", "::1": "loopback",
		"10.0.0.1": "private", "172.31.255.255": "private", "192.168.0.1": "private", "fc00::1": "private",
		"169.254.0.1": "link-local", "fe80::1": "link-local", "ff02::1": "link-local",
		"224.0.0.251": "link-local", "239.1.1.1": "multicast", "ff05::1": "multicast",
		"0.0.0.0": "unspecified", "::": "unspecified", "100.64.0.1": "carrier-grade NAT",
		"100.127.255.255": "carrier-grade NAT", "255.255.255.255": "reserved", "240.0.0.1": "reserved",
		"::ffff:127.0.0.1": "loopback", "::ffff:192.168.1.1": "private", "64:ff9b::7f00:1": "loopback",
	} {
		if got := Internal(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Internal(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestDoesNotFollowRedirects(t *testing.T) {
	target, targetHits := listen(t, "127.0.0.1:0", nil)
	src, _ := listen(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
	})
	c := New(Config{Allow: mustAllow(t, "127.0.0.1")})
	resp, err := get(t, c, src.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusFound || resp.Header.Get("Location") != target.URL+"/elsewhere" {
		t.Fatalf("got %d Location %q, want the 302 itself", resp.Status, resp.Header.Get("Location"))
	}
	if targetHits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestBoundsTheAnswer(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 4<<20)
	srv, _ := listen(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(big) })
	c := New(Config{Allow: mustAllow(t, "127.0.0.1"), MaxBody: 1000})
	resp, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Body) != 1000 || !resp.Truncated {
		t.Fatalf("read %d bytes (truncated %v), want 1000 and truncated", len(resp.Body), resp.Truncated)
	}
}

func TestTimeoutCoversASlowAnswer(t *testing.T) {
	release := make(chan struct{})
	srv, _ := listen(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		// Headers at once, then a body that trickles for ever.
		w.WriteHeader(200)
		for {
			_, _ = w.Write([]byte("."))
			w.(http.Flusher).Flush()
			select {
			case <-release:
				return
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	defer close(release)
	c := New(Config{Allow: mustAllow(t, "127.0.0.1"), Timeout: 500 * time.Millisecond})
	start := time.Now()
	_, err := get(t, c, srv.URL)
	if err == nil {
		t.Fatal("a never-ending answer was read to its end")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v with a 500ms timeout", d)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want a timeout", err)
		}
	}
}

func TestIgnoresProxyEnvironment(t *testing.T) {
	proxy, proxyHits := listen(t, "127.0.0.1:0", nil)
	srv, hits := listen(t, "127.0.0.1:0", nil)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	c := New(Config{Allow: mustAllow(t, "127.0.0.1")})
	if _, err := get(t, c, srv.URL); err != nil {
		t.Fatal(err)
	}
	if proxyHits.Load() != 0 || hits.Load() != 1 {
		t.Fatalf("proxy got %d, server %d requests; want 0 and 1", proxyHits.Load(), hits.Load())
	}
}

func TestParseAllowList(t *testing.T) {
	a, err := ParseAllowList(" ci.internal., 10.0.0.0/8 ,192.168.1.5,[fd00::1],")
	if err != nil {
		t.Fatal(err)
	}
	if !a.hostAllowed("CI.internal") || a.hostAllowed("other.internal") {
		t.Error("host names")
	}
	for ip, want := range map[string]bool{"10.9.9.9": true, "192.168.1.5": true, "192.168.1.6": false, "fd00::1": true, "::ffff:10.1.1.1": true} {
		if got := a.addrAllowed(netip.MustParseAddr(ip)); got != want {
			t.Errorf("addrAllowed(%s) = %v", ip, got)
		}
	}
	for _, bad := range []string{"http://x", "a b", "x/y", "-bad.com", "10.0.0.0/33"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) accepted", bad)
		}
	}
	if e, _ := ParseAllowList(""); !e.Empty() {
		t.Error("empty list not empty")
	}
}

func FuzzParseAllowList(f *testing.F) {
	for _, s := range []string{"", "localhost", "10.0.0.0/8,::1", "[::1]", "a..b", "x,,y", "1.2.3.4/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllowList(s)
		if err != nil {
			return
		}
		_ = a.hostAllowed("example.com")
		_ = a.addrAllowed(netip.MustParseAddr("127.0.0.1"))
	})
}
