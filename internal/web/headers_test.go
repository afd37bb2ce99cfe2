package web_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"latchkey/internal/admin"
	"latchkey/internal/config"
	"latchkey/internal/testkit"
)

// TestPagesSendStrictHeaders: every page, signed in or not, forbids
// framing and every script but the server's own files (no inline script,
// no eval) and is not cached.
func TestPagesSendStrictHeaders(t *testing.T) {
	env := testkit.New(t)
	env.User("root", "root-password")
	env.Grant("root", admin.Target{Global: true}, "SYS_ADMIN")
	b := signedIn(t, env, "root", "root-password")
	for _, path := range []string{"/login", "/", "/user/settings/applications", "/user/settings/account",
		"/admin/applications", "/admin/users", "/admin/audit", "/login/device", "/user/settings/applications/nope"} {
		resp, err := b.Client.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
			!strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Frame-Options %q, Cache-Control %q, X-Content-Type-Options %q", path,
				h.Get("X-Frame-Options"), h.Get("Cache-Control"), h.Get("X-Content-Type-Options"))
		}
	}
}

// TestCookiesAreHostPrefixedAndSecureOnHTTPS signs in by hand on a node
// whose base URL is https (served over TLS) and on a plain-http node: on
// https the session and CSRF cookies are __Host- cookies (Secure, Path=/,
// no Domain), so a sibling sub-domain cannot plant them; on http they keep
// their bare names. Both are HttpOnly and SameSite=Lax. (This test used to
// expect the bare names on https too.)
func TestCookiesAreHostPrefixedAndSecureOnHTTPS(t *testing.T) {
	for _, https := range []bool{false, true} {
		var opts []testkit.Option
		prefix := ""
		if https {
			opts = append(opts, func(c *config.Config) { c.BaseURL = strings.Replace(c.BaseURL, "http://", "https://", 1) })
			prefix = "__Host-"
		}
		env := testkit.New(t, opts...)
		env.User("alice", "alice-password")
		client := env.HTTPClient()
		if https != strings.HasPrefix(env.URL, "https://") {
			t.Fatalf("https=%v: the node serves %s", https, env.URL)
		}

		resp, err := client.Get(env.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		csrf := checkCookie(t, resp, prefix+"latchkey_csrf", https)
		token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)[1]

		form := url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"alice-password"}, "next": {"/"}}
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(csrf)
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("https=%v: sign in: %d", https, resp.StatusCode)
		}
		checkCookie(t, resp, prefix+"latchkey_session", https)
		if https {
			checkNoBareCookies(t, resp)
		}
	}
}

// TestUpperCaseHTTPSBaseURLStillSendsHSTSAndSecureCookies: a base URL
// spelled HTTPS://… is https: the issuer is spelled in lower case, and a
// served page carries HSTS and Secure, __Host- cookies.
func TestUpperCaseHTTPSBaseURLStillSendsHSTSAndSecureCookies(t *testing.T) {
	env := testkit.New(t, func(c *config.Config) {
		c.BaseURL = strings.Replace(c.BaseURL, "http://127.0.0.1", "HTTPS://LocalHost", 1)
	})
	resp, err := env.HTTPClient().Get(env.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if got := resp.Header.Get("Strict-Transport-Security"); got == "" {
		t.Error("no Strict-Transport-Security header on an HTTPS:// base URL")
	}
	checkCookie(t, resp, "__Host-latchkey_csrf", true)
	discovery, err := env.HTTPClient().Get(env.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, discovery); !strings.Contains(body, `"issuer":"https://localhost:`) {
		t.Errorf("discovery does not name the lower-case issuer: %s", body)
	}
}

// checkCookie finds the named cookie the response sets and checks its
// attributes.
func checkCookie(t *testing.T, resp *http.Response, name string, secure bool) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name != name {
			continue
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %v, Secure %v (want %v), Path %q, Domain %q",
				name, c.HttpOnly, c.SameSite, c.Secure, secure, c.Path, c.Domain)
		}
		return c
	}
	t.Fatalf("no %s cookie set (set: %v)", name, resp.Header.Values("Set-Cookie"))
	return nil
}

// checkNoBareCookies fails if an https response sets a cookie without the
// __Host- prefix.
func checkNoBareCookies(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if !strings.HasPrefix(c.Name, "__Host-") {
			t.Errorf("cookie %s set on https without the __Host- prefix", c.Name)
		}
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
