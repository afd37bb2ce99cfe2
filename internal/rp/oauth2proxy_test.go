package rp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"latchkey/internal/admin"
	"latchkey/internal/testkit"
)

// docsOAuth2ProxyFlags reads the oauth2-proxy command of docs/gitea.md and
// returns its flags with the placeholders filled in: the issuer, the
// client, and the application's public URL.
func docsOAuth2ProxyFlags(t *testing.T, issuer, clientID, secret, app string) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/gitea.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "### oauth2-proxy")
	_, rest, ok2 := strings.Cut(rest, "```sh\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/gitea.md has no oauth2-proxy command")
	}
	block = strings.ReplaceAll(block, "\\\n", " ")
	fields := shellWords(block)
	if len(fields) == 0 || fields[0] != "oauth2-proxy" {
		t.Fatalf("the oauth2-proxy block does not start with the command: %q", block)
	}
	r := strings.NewReplacer("https://code.example.com", issuer, "CLIENT_ID", clientID, "CLIENT_SECRET", secret,
		"https://app.example.com", app)
	var flags []string
	for _, f := range fields[1:] {
		flags = append(flags, r.Replace(f))
	}
	return flags
}

// TestOAuth2Proxy puts oauth2-proxy (the real one, v7.15.6) in front of an
// application with docs/gitea.md's command as it stands, plus what a
// plain-http loopback test needs (the documented --cookie-secure=false, a
// listen address, an upstream, a cookie secret): a person signs in through
// Latchkey and the application sees the user name in
// X-Forwarded-Preferred-Username, the stable numeric subject in
// X-Forwarded-User and the address in X-Forwarded-Email.
func TestOAuth2Proxy(t *testing.T) {
	bin, err := exec.LookPath("oauth2-proxy")
	if err != nil {
		missing(t, "oauth2-proxy is not installed (go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6)")
	}
	env := testkit.New(t)
	alice := env.User("alice", "alice-password")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "name=%s\nuser=%s\nemail=%s\n", r.Header.Get("X-Forwarded-Preferred-Username"),
			r.Header.Get("X-Forwarded-User"), r.Header.Get("X-Forwarded-Email"))
	}))
	defer app.Close()
	port := freePort(t)
	proxy := fmt.Sprintf("http://127.0.0.1:%d", port)
	id, secret := env.Client(admin.NewClient{Name: "oauth2-proxy",
		RedirectURIs: []string{proxy + "/oauth2/callback"}, Scopes: "openid profile email groups"})

	cookieSecret := make([]byte, 32)
	rand.Read(cookieSecret)
	args := append(docsOAuth2ProxyFlags(t, env.URL, id, secret, proxy),
		"--cookie-secure=false", "--http-address=127.0.0.1:"+fmt.Sprint(port), "--upstream="+app.URL,
		"--cookie-secret="+base64.RawURLEncoding.EncodeToString(cookieSecret))
	for _, want := range []string{"--redirect-url=" + proxy + "/oauth2/callback"} {
		if !strings.Contains(strings.Join(args, " "), want) {
			t.Fatalf("docs/gitea.md's oauth2-proxy command lacks %s", want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("oauth2-proxy said:\n%s", out.String())
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy does not listen:\n%s", out.String())
		}
	}

	// The person's browser at the proxy: cookies kept, redirects followed
	// only while they stay on the proxy.
	jar, _ := cookiejar.New(nil)
	onProxy := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host != fmt.Sprintf("127.0.0.1:%d", port) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := onProxy.Get(proxy + "/oauth2/start?rd=" + url.QueryEscape("/hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authorize := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authorize, env.URL+"/login/oauth/authorize") {
		t.Fatalf("oauth2-proxy's start: %s to %q", resp.Status, authorize)
	}
	callback, err := env.Browser("alice", "alice-password").Authorize(authorize)
	if err != nil {
		t.Fatalf("sign-in at Latchkey: %v", err)
	}
	resp, err = onProxy.Get(callback.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("name=alice\nuser=%d\nemail=%s\n", alice.ID, alice.Email)
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("the application behind oauth2-proxy got %s:\n%s", resp.Status, body)
	}
}

// shellWords splits a command line as the shell would for the simple
// quoting the docs use: words separated by blanks, '…' and "…" quoting.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	in := false
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
